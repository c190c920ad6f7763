import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package's migrations/ folder (SQLite's; Postgres's in migrations/postgres), beside its
 * package.json, found by walking up from this module: it is reached from src/db/shared under
 * tsx, dist/db/shared after tsc and dist/bundle/chunks in the bundle (scripts/bundle.mjs), at
 * different depths. The walk stops at the package's root: never a migrations/ folder above it.
 * Looked for when a store opens, so that a missing folder is that store's error, said as such.
 */
export const migrationsFolder = (): string => packageFolder('migrations', dirname(fileURLToPath(import.meta.url)));

function packageFolder(name: string, from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) {
      if (existsSync(join(dir, name, 'meta', '_journal.json'))) return join(dir, name);
      throw new Error(`the package at ${dir} has no ${name}/ folder`);
    }
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}
