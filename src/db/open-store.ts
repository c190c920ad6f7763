import type { Store } from './contract.js';
import { openSqliteStore } from './sqlite/store.js';

/** Where the service keeps its data: DATABASE_URL's Postgres when set, else DATABASE_PATH's SQLite file. */
export interface StoreSettings {
  databaseUrl?: string | undefined;
  databasePasswordFile?: string | undefined;
  databasePath: string;
}

/**
 * Opens the configured store and applies its pending migrations. The Postgres store (and its
 * driver) is loaded only when configured: a SQLite deployment never carries it.
 */
export async function openStore(settings: StoreSettings): Promise<Store> {
  if (settings.databaseUrl !== undefined) {
    const { openPostgresStore } = await import('./postgres/store.js');
    return openPostgresStore(settings.databaseUrl, { passwordFile: settings.databasePasswordFile });
  }
  return openSqliteStore(settings.databasePath);
}
