import type { AgentProfile } from '../../config/profiles.js';
import type { Agent, ModelAccess } from './agent.js';
import { commandAgent } from './command-agent.js';
import { geminiAgent } from './gemini-agent.js';

/**
 * The Agent for a profile. `model` is the run's way to its model (through the gateway),
 * undefined when the service has none to give; `keyConfigured` says whether the gateway
 * holds a real key (for the hint on an authentication failure).
 */
export function agentFor(profile: AgentProfile, model: ModelAccess | undefined, keyConfigured: boolean): Agent {
  switch (profile.kind) {
    case 'command':
      return commandAgent(profile);
    case 'gemini':
      return geminiAgent(profile, model, keyConfigured);
  }
}
