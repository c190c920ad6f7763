import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package's migrations/ folder (SQLite's; Postgres's in migrations/postgres), found by
 * walking up from this module: it is reached from src/db/shared under tsx, dist/db/shared
 * after tsc and dist/bundle in the bundle (scripts/bundle.mjs), at different depths.
 */
export const MIGRATIONS = findUp('migrations', dirname(fileURLToPath(import.meta.url)));

function findUp(name: string, from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, name, 'meta', '_journal.json'))) return join(dir, name);
    if (dirname(dir) === dir) throw new Error(`no ${name}/ folder above ${from}`);
  }
}
