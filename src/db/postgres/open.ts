import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import * as schema from './schema.js';
import { migrationsFolder } from '../shared/migrations.js';

export type PgDb = NodePgDatabase<typeof schema> & { $client: pg.Pool };
/** A transaction: what the stores' helpers take, as they take the database itself. */
export type PgTx = Parameters<Parameters<PgDb['transaction']>[0]>[0];

/** Any number: replicas starting together take turns at the migrations (pg_advisory_lock). */
const MIGRATION_LOCK = 0x657068656d; // "ephem"

export interface PostgresOptions {
  /** Connections in the pool (default 10). */
  maxConnections?: number;
  /** A file holding the password (DATABASE_PASSWORD_FILE), read once, when the store opens. */
  passwordFile?: string | undefined;
}

/**
 * A secret file's content, without the line ends an editor or `echo` leave at its end (as a shell's $(cat) reads it).
 */
async function passwordIn(file: string): Promise<string> {
  const password = (await readFile(file, 'utf8')).replace(/[\r\n]+$/, '');
  // Empty, pg would look for a password elsewhere (PGPASSWORD, ~/.pgpass): not what was asked.
  if (password === '') throw new Error(`DATABASE_PASSWORD_FILE ${file} is empty`);
  return password;
}

function withPassword(url: string, password: string): string {
  const u = new URL(url);
  u.password = encodeURIComponent(password);
  return u.toString();
}

/**
 * Connects to DATABASE_URL's Postgres and applies pending migrations (migrations/postgres).
 * Several replicas may start at once: each takes an advisory lock for the migrations, so one
 * applies them and the others find them applied.
 */
export async function openPostgres(url: string, opts: PostgresOptions = {}): Promise<PgDb> {
  const pool = new pg.Pool({
    // pg lets a connection string's empty password win over a `password` option: it goes in the string.
    connectionString: opts.passwordFile === undefined ? url : withPassword(url, await passwordIn(opts.passwordFile)),
    // Two at least: the migrations run on one connection while another holds their lock.
    max: Math.max(2, opts.maxConnections ?? 10),
    application_name: 'ephemera',
    // A database out of reach fails a request in seconds rather than holding its run slot.
    connectionTimeoutMillis: 10_000,
    statement_timeout: 60_000,
    idle_in_transaction_session_timeout: 60_000,
  });
  // An idle client's error (the server restarted) must not end the process: the next query reconnects.
  pool.on('error', () => {});
  const db = drizzle(pool, { schema });
  try {
    const lock = await pool.connect();
    try {
      await lock.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
      // Beside SQLite's: migrations/postgres.
      await migrate(db, { migrationsFolder: join(migrationsFolder(), 'postgres') });
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

/**
 * Runs a write again when Postgres ended it for a deadlock (40P01) or a serialization failure
 * (40001): the transaction was rolled back whole, so running it again is safe. Deletes cascade
 * over many runs and lock their roll-up rows in an order a run's end may cross.
 */
export async function retryingConflicts<T>(write: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      if (attempt >= attempts || !(hasCode(err, '40P01') || hasCode(err, '40001'))) throw err;
      await new Promise((resolve) => setTimeout(resolve, 10 * attempt + Math.random() * 20));
    }
  }
}

function hasCode(err: unknown, code: string): boolean {
  for (let e = err as { code?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e)
    if (e.code === code) return true;
  return false;
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
