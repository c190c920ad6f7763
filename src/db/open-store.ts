import type { Store } from './contract.js';
import { openSqliteStore } from './sqlite/store.js';
import { openPostgresStore } from './postgres/store.js';

/** Where the service keeps its data: DATABASE_URL's Postgres when set, else DATABASE_PATH's SQLite file. */
export interface StoreSettings {
  databaseUrl?: string | undefined;
  databasePasswordFile?: string | undefined;
  databasePath: string;
}

/** Opens the configured store and applies its pending migrations. */
export async function openStore(settings: StoreSettings): Promise<Store> {
  if (settings.databaseUrl !== undefined)
    return openPostgresStore(settings.databaseUrl, { passwordFile: settings.databasePasswordFile });
  return openSqliteStore(settings.databasePath);
}
