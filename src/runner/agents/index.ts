import type { AgentProfile } from '../../config/profiles.js';
import type { Agent, ModelAccess } from './agent.js';
import { definitionOf } from './registry.js';

/**
 * The Agent for a profile, from its kind's definition. `model` is the run's way to its model
 * (through the gateway), undefined when the service has none to give; `keyConfigured` says
 * whether the gateway holds a real key (for the hint on an authentication failure).
 */
export function agentFor(profile: AgentProfile, model: ModelAccess | undefined, keyConfigured: boolean): Agent {
  return definitionOf(profile.kind).create(profile, profile.options, model, keyConfigured);
}
