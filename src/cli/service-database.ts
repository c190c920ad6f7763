import { ConfigError, databaseLabel, type ServiceConfig } from '../config/env.js';
import { loadServiceConfig } from '../settings.js';
import { UnsafeDatabaseError } from '../db/sqlite/open.js';
import { openStore } from '../db/open-store.js';
import type { Store } from '../db/contract.js';

/**
 * The service's settings and store (its SQLite file, or DATABASE_URL's Postgres), for a CLI;
 * or why it cannot have them, as a message. `refuse` looks at the settings first: what it
 * objects to opens (and creates) nothing.
 */
export async function openServiceDatabase(
  refuse?: (config: ServiceConfig) => string | undefined,
): Promise<{ config: ServiceConfig; store: Store } | { problem: string }> {
  let config: ServiceConfig;
  try {
    config = loadServiceConfig();
    const problem = refuse?.(config);
    if (problem !== undefined) return { problem };
    return { config, store: await openStore(config) };
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UnsafeDatabaseError) return { problem: err.message };
    // Postgres unreachable, or refusing the user: said without the URL's password.
    if (config! !== undefined && config.databaseUrl !== undefined) {
      return { problem: `cannot open the database at ${databaseLabel(config.databaseUrl)}: ${(err as Error).message}` };
    }
    throw err;
  }
}
