import type { ServiceConfig } from '../../config/env.js';
import type { ProfileSet } from '../../config/profiles.js';
import { MODEL_AGENTS, modelKeyOf } from '../agents/registry.js';

/**
 * The profiles whose model the service holds no key for, each with the setting that would
 * give it one. Their runs could only fail at their first model call, seconds into a
 * container (the gateway refuses a call it has no key to add): the service refuses them
 * up front instead (503 AGENT_UNAVAILABLE), and says so in GET /v1/models and its log.
 */
export function missingModelKeys(profiles: ProfileSet, config: Pick<ServiceConfig, 'secrets'>): Map<string, string> {
  const missing = new Map<string, string>();
  for (const profile of profiles.profiles.values()) {
    const model = MODEL_AGENTS.find((m) => m.kind === profile.kind)?.model;
    if (!model || modelKeyOf(config, profile.kind) !== undefined) continue;
    const name = model.keyEnv;
    missing.set(
      profile.name,
      `the service has no ${name} configured for its model gateway (set ${name} or ${name}_FILE, or write it to MODEL_KEYS_DIR/${name.toLowerCase()}, then restart the service)`,
    );
  }
  return missing;
}
