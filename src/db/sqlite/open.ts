import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import * as schema from './schema.js';
import { migrationsFolder } from '../shared/migrations.js';

export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

export interface OpenOptions {
  /** Told when the database's directory is open to other users, or a file cannot be made private. */
  warn?: (message: string) => void;
}

/**
 * Opens (creating if needed) the SQLite file in WAL mode and applies pending migrations.
 *
 * The transcripts are private: a directory this creates is 0700, and the database file
 * and its -wal and -shm are 0600 whatever the umask (older, 0644 ones are tightened). A
 * directory that already exists is left as it is (it may be the working directory, or
 * /tmp), with a warning when other users can get into it.
 */
export function openDatabase(path: string, opts: OpenOptions = {}): Db {
  const warn = opts.warn ?? ((m: string) => process.stderr.write(`ephemera: warning: ${m}\n`));
  const onDisk = path !== ':memory:' && path !== '';
  if (onDisk) createPrivately(resolve(path), warn);
  const sqlite = new Database(path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = drizzle(sqlite, { schema });
  migrate(db, { migrationsFolder: migrationsFolder() });
  // New ones took the file's mode; left-over ones (a crash, an older version) may not have.
  if (onDisk) for (const suffix of ['-wal', '-shm']) makePrivate(resolve(path) + suffix, warn);
  return db;
}

function createPrivately(file: string, warn: (message: string) => void) {
  const dir = dirname(file);
  // mkdirSync returns the first directory it created; undefined when the directory was there.
  if (mkdirSync(dir, { recursive: true, mode: 0o700 }) === undefined) {
    const mode = statSync(dir).mode & 0o7777;
    if (mode & 0o077) {
      warn(
        `the database directory ${dir} is open to other users (mode ${octal(mode)}); the database files are made 0600, ` +
          `but make the directory private too (chmod 700) or give DATABASE_PATH a directory of its own`,
      );
    }
  }
  // SQLite would create the file with the umask's mode (0644 under 022); its -wal and -shm
  // take the database file's mode, so creating it 0600 first makes all three private.
  try {
    closeSync(openSync(file, 'wx', 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  makePrivate(file, warn);
}

/** The database cannot be kept private: another user owns one of its files. */
export class UnsafeDatabaseError extends Error {
  override name = 'UnsafeDatabaseError';
}

/**
 * Tightens a file this process owns to 0600. Another user's file is refused: its owner
 * could read every transcript or write an admin key's hash into it (a pre-created file
 * in a shared directory such as /tmp).
 */
function makePrivate(file: string, warn: (message: string) => void) {
  let st;
  try {
    st = statSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const mode = st.mode & 0o7777;
  const me = process.geteuid?.();
  if (me !== undefined && st.uid !== me) {
    throw new UnsafeDatabaseError(
      `${file} belongs to uid ${st.uid}, not to this process (uid ${me}): refusing to use it; give DATABASE_PATH a directory of its own`,
    );
  }
  if ((mode & 0o077) === 0) return;
  warn(`${file} was open to other users (mode ${octal(mode)}): made it 0600`);
  chmodSync(file, 0o600);
}

const octal = (mode: number) => `0${mode.toString(8)}`;

export function isDatabaseHealthy(db: Db): boolean {
  try {
    return db.$client.prepare('select 1 as ok').get() !== undefined;
  } catch {
    return false;
  }
}
