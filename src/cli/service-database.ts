import { ConfigError, loadServiceConfig, type ServiceConfig } from '../config/env.js';
import { openDatabase, UnsafeDatabaseError, type Db } from '../db/open.js';

/**
 * The service's settings and database, for a CLI; or why it cannot have them, as a message.
 * `refuse` looks at the settings first: what it objects to opens (and creates) nothing.
 */
export function openServiceDatabase(refuse?: (config: ServiceConfig) => string | undefined): { config: ServiceConfig; db: Db } | { problem: string } {
  try {
    const config = loadServiceConfig();
    const problem = refuse?.(config);
    if (problem !== undefined) return { problem };
    return { config, db: openDatabase(config.databasePath) };
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UnsafeDatabaseError) return { problem: err.message };
    throw err;
  }
}
