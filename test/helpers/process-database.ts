import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createTestDatabase, queryRows, type TestDatabase } from './postgres.js';

/**
 * Databases for the service processes and CLIs a test starts, on its project's store
 * (vitest.config.ts): a SQLite file in a folder of its own, or a Postgres database of its own.
 * The same name gives the same database, so a CLI and a service can share one. `close` removes them.
 */
export function processDatabases() {
  const dir = mkdtempSync(join(tmpdir(), 'ephemera-processes-'));
  const dialect = process.env.EPHEMERA_TEST_STORE === 'postgres' ? ('postgres' as const) : ('sqlite' as const);
  const made = new Map<string, Promise<TestDatabase | string>>();
  const get = (name: string) => {
    if (!made.has(name))
      made.set(name, dialect === 'postgres' ? createTestDatabase() : Promise.resolve(join(dir, `${name}.db`)));
    return made.get(name)!;
  };
  return {
    dialect,
    /** DATABASE_PATH or DATABASE_URL, for the process's environment. */
    async env(name: string): Promise<Record<string, string>> {
      const db = await get(name);
      return typeof db === 'string' ? { DATABASE_PATH: db } : { DATABASE_URL: db.url };
    },
    /** Rows of a statement (`?` placeholders) from that database, read by the test itself. */
    async rows<T = Record<string, unknown>>(name: string, text: string, ...args: unknown[]): Promise<T[]> {
      const db = await get(name);
      if (typeof db !== 'string') return (await queryRows(db.url, text, args)) as T[];
      const file = new Database(db, { readonly: true });
      try {
        return file.prepare(text).all(...args) as T[];
      } finally {
        file.close();
      }
    },
    async close() {
      // Every database made goes, even when another could not be made.
      const all = await Promise.allSettled(made.values());
      await Promise.allSettled(
        all.map((r) => (r.status === 'fulfilled' && typeof r.value !== 'string' ? r.value.drop() : undefined)),
      );
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
