import type { Store } from '../contract.js';
import { SqliteApiKeyStore } from './api-keys.js';
import { SqliteInstanceStore } from './instances.js';
import { SqliteRunEventStore } from './run-events.js';
import { SqliteWebhookStore } from './webhooks.js';
import { isDatabaseHealthy, openDatabase, type Db, type OpenOptions } from './open.js';
import { pruneSessions } from './retention.js';
import { SqliteSessionQueries } from './session-queries.js';
import { SqliteTranscriptStore } from './transcripts.js';
import { SqliteWorkspaceStore } from './workspaces.js';

/** The embedded store (DATABASE_PATH): one SQLite file, one service process writing it. */
export class SqliteStore implements Store {
  readonly dialect = 'sqlite' as const;
  readonly transcripts: SqliteTranscriptStore;
  readonly workspaces: SqliteWorkspaceStore;
  readonly keys: SqliteApiKeyStore;
  readonly sessions: SqliteSessionQueries;
  readonly instances: SqliteInstanceStore;
  readonly events: SqliteRunEventStore;
  readonly webhooks: SqliteWebhookStore;

  constructor(
    readonly db: Db,
    opts: { maxSearchScan?: number } = {},
  ) {
    this.transcripts = new SqliteTranscriptStore(db);
    this.workspaces = new SqliteWorkspaceStore(db);
    this.keys = new SqliteApiKeyStore(db);
    this.sessions = new SqliteSessionQueries(db, opts);
    this.instances = new SqliteInstanceStore(db);
    this.events = new SqliteRunEventStore(db);
    this.webhooks = new SqliteWebhookStore(db);
  }

  prune(days: number, now?: number, opts?: { batch?: number; dryRun?: boolean }): Promise<number> {
    return pruneSessions(this.db, days, now, opts);
  }

  /** One file on one host: the host's clock is the database's. */
  async now(): Promise<number> {
    return Date.now();
  }

  async healthy(): Promise<boolean> {
    return isDatabaseHealthy(this.db);
  }

  /** Folds the write-ahead log into the file, so that a stopped service leaves one file behind. */
  async close(): Promise<void> {
    if (!this.db.$client.open) return;
    this.db.$client.pragma('wal_checkpoint(TRUNCATE)');
    this.db.$client.close();
  }
}

export function openSqliteStore(path: string, opts: OpenOptions = {}): SqliteStore {
  return new SqliteStore(openDatabase(path, opts));
}
