import { join } from 'node:path';
import pg from 'pg';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import * as schema from './schema.js';
import { MIGRATIONS as SQLITE_MIGRATIONS } from '../open.js';

export type PgDb = NodePgDatabase<typeof schema> & { $client: pg.Pool };
/** A transaction: what the stores' helpers take, as they take the database itself. */
export type PgTx = Parameters<Parameters<PgDb['transaction']>[0]>[0];

// Beside SQLite's (src/db/open.ts finds them from the source, the build and the bundle alike).
const MIGRATIONS = join(SQLITE_MIGRATIONS, 'postgres');

/** Any number: replicas starting together take turns at the migrations (pg_advisory_lock). */
const MIGRATION_LOCK = 0x657068656d; // "ephem"

export interface PostgresOptions {
  /** Connections in the pool (default 10). */
  maxConnections?: number;
}

/**
 * Connects to DATABASE_URL's Postgres and applies pending migrations (migrations/postgres).
 * Several replicas may start at once: each takes an advisory lock for the migrations, so one
 * applies them and the others find them applied.
 */
export async function openPostgres(url: string, opts: PostgresOptions = {}): Promise<PgDb> {
  const pool = new pg.Pool({ connectionString: url, max: opts.maxConnections ?? 10, application_name: 'ephemera' });
  // An idle client's error (the server restarted) must not end the process: the next query reconnects.
  pool.on('error', () => {});
  const db = drizzle(pool, { schema });
  try {
    const lock = await pool.connect();
    try {
      await lock.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
      await migrate(db, { migrationsFolder: MIGRATIONS });
    } finally {
      await lock.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
      lock.release();
    }
  } catch (err) {
    await pool.end().catch(() => {});
    throw err;
  }
  return db;
}

/** Postgres said 23505 (unique_violation), for this index when one is named. */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  for (let e = err as { code?: string; constraint?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e.code === '23505') return constraint === undefined || e.constraint === constraint;
  }
  return false;
}

export async function isPostgresHealthy(db: PgDb): Promise<boolean> {
  try {
    await db.$client.query('select 1');
    return true;
  } catch {
    return false;
  }
}
