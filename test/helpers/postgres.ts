import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openPostgresStore } from '../../src/db/postgres/store.js';
import type { SessionQueries, Store } from '../../src/db/contract.js';
import { PgSessionQueries } from '../../src/db/postgres/session-queries.js';

/**
 * The suite's Postgres server (scripts/ensure-postgres.sh starts it; EPHEMERA_TEST_POSTGRES
 * names another). Each user of it gets a database of its own, dropped after, so test files
 * running side by side never meet. An unreachable server fails the tests that need it: it is
 * never a reason to skip them.
 */
export const TEST_POSTGRES =
  process.env.EPHEMERA_TEST_POSTGRES ?? 'postgres://ephemera_test:ephemera_test@127.0.0.1:5432/postgres';

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `ephemera_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_POSTGRES });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(TEST_POSTGRES);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: TEST_POSTGRES });
      await c.connect();
      try {
        await dropForced(c, name);
      } finally {
        await c.end();
      }
    },
  };
}

/**
 * `with (force)` ends the database's sessions, an autovacuum worker's too when the role may
 * (scripts/ensure-postgres.sh grants pg_signal_backend). On a server that does not grant it, a
 * worker busy in the database refuses the drop (42501) for a moment: try again until it is gone.
 */
async function dropForced(c: pg.Client, name: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await c.query(`drop database if exists ${name} with (force)`);
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== '42501' || attempt === 20) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/**
 * A Postgres store on a database of its own, usable at once: its calls wait for the database
 * to be made and migrated. createHarness is synchronous (dozens of test files call it so), and
 * the `postgres` test project (vitest.config.ts) gives it this store instead of a SQLite file.
 * Closing it closes the pool and drops the database.
 */
export interface DeferredTestStore extends Store {
  rows(text: string, args: unknown[]): Promise<Record<string, unknown>[]>;
  /** The store's session queries with other options (a smaller search bound, say), on the same pool. */
  sessionQueries(opts: { maxSearchScan?: number }): Promise<SessionQueries>;
  /** The database's URL, for a process of the test's own (a CLI, say). */
  url(): Promise<string>;
}

export function deferredTestStore(): DeferredTestStore {
  const opened = (async () => {
    const db = await createTestDatabase();
    return { db, store: await openPostgresStore(db.url) };
  })();
  opened.catch(() => {}); // the first call reports it
  const store = opened.then((o) => o.store);
  const parts = ['transcripts', 'workspaces', 'keys', 'sessions', 'instances', 'events', 'webhooks'] as const;
  const methods = <T extends object>(target: Promise<T>): T =>
    new Proxy({} as T, {
      // A property set on it (a test's stand-in for a method) wins over the store's own.
      get: (own, key) =>
        key in own
          ? Reflect.get(own, key)
          : key === 'then'
            ? undefined
            : async (...args: unknown[]) =>
                ((await target) as Record<PropertyKey, (...a: unknown[]) => unknown>)[key]!(...args),
    });
  return {
    dialect: 'postgres',
    ...(Object.fromEntries(parts.map((p) => [p, methods(store.then((s) => s[p]))])) as Pick<
      Store,
      (typeof parts)[number]
    >),
    prune: async (...args) => (await store).prune(...args),
    now: async () => (await store).now(),
    healthy: async () => (await store).healthy(),
    /** A test's own look at what was stored: `?` placeholders, bigints as numbers. */
    async rows(text, args) {
      return queryRows((await opened).db.url, text, args);
    },
    url: async () => (await opened).db.url,
    async sessionQueries(opts) {
      return new PgSessionQueries((await store).db, opts);
    },
    async close() {
      const { db, store: s } = await opened;
      await s.close();
      await db.drop();
    },
  };
}

/** A test's own look at a database: `?` placeholders, bigints as numbers, on a connection of its own. */
export async function queryRows(url: string, text: string, args: unknown[]): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    let n = 0;
    const bigintAsNumber = {
      getTypeParser: (oid: number, format?: string) =>
        oid === 20 ? Number : pg.types.getTypeParser(oid, format as 'text'),
    };
    return (
      await client.query({ text: text.replace(/\?/g, () => `$${++n}`), values: args, types: bigintAsNumber as never })
    ).rows;
  } finally {
    await client.end();
  }
}
