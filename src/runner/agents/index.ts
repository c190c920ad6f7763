import type { AgentProfile } from '../../config/profiles.js';
import type { Agent } from './agent.js';
import { commandAgent } from './command-agent.js';
import { geminiAgent } from './gemini-agent.js';

export function agentFor(profile: AgentProfile, secrets: { geminiApiKey: string | undefined }): Agent {
  switch (profile.kind) {
    case 'command':
      return commandAgent(profile);
    case 'gemini':
      return geminiAgent(profile, secrets.geminiApiKey);
  }
}
