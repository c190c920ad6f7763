import { and, count, inArray } from 'drizzle-orm';
import type { Store } from '../contract.js';
import { DAY_MS, pruneInBatches, staleSessions } from '../shared/retention.js';
import { PgApiKeyStore } from './api-keys.js';
import { PgInstanceStore } from './instances.js';
import { PgRunEventStore } from './run-events.js';
import { PgWebhookStore } from './webhooks.js';
import { isPostgresHealthy, openPostgres, retryingConflicts, type PgDb, type PostgresOptions } from './open.js';
import { sessions } from './schema.js';
import { PgSessionQueries } from './session-queries.js';
import { PgTranscriptStore } from './transcripts.js';
import { PgWorkspaceStore } from './workspaces.js';

/** The Postgres store (DATABASE_URL): what replicas share. */
export class PgStore implements Store {
  readonly dialect = 'postgres' as const;
  readonly transcripts: PgTranscriptStore;
  readonly workspaces: PgWorkspaceStore;
  readonly keys: PgApiKeyStore;
  readonly sessions: PgSessionQueries;
  readonly instances: PgInstanceStore;
  readonly events: PgRunEventStore;
  readonly webhooks: PgWebhookStore;

  constructor(
    readonly db: PgDb,
    opts: { maxSearchScan?: number } = {},
  ) {
    this.transcripts = new PgTranscriptStore(db);
    this.workspaces = new PgWorkspaceStore(db);
    this.keys = new PgApiKeyStore(db);
    this.sessions = new PgSessionQueries(db, opts);
    this.instances = new PgInstanceStore(db);
    this.events = new PgRunEventStore(db);
    this.webhooks = new PgWebhookStore(db);
  }

  /** In batches, as on SQLite (pruneInBatches), so that no prune holds the database for long. */
  prune(days: number, now = Date.now(), opts: { batch?: number; dryRun?: boolean } = {}): Promise<number> {
    const stale = staleSessions(sessions, now - days * DAY_MS);
    const ids = (limit: number) => this.db.select({ id: sessions.id }).from(sessions).where(stale).limit(limit);
    return pruneInBatches(
      {
        countStale: async () => (await this.db.select({ n: count() }).from(sessions).where(stale))[0]!.n,
        deleteStale: async (limit) =>
          (
            await retryingConflicts(() =>
              this.db
                .delete(sessions)
                .where(and(inArray(sessions.id, ids(limit)), stale))
                .returning({ id: sessions.id }),
            )
          ).length,
      },
      opts,
    );
  }

  async now(): Promise<number> {
    const { rows } = await this.db.$client.query<{ now: string }>(
      'select (extract(epoch from clock_timestamp()) * 1000)::bigint as now',
    );
    return Number(rows[0]!.now);
  }

  healthy(): Promise<boolean> {
    return isPostgresHealthy(this.db);
  }

  close(): Promise<void> {
    return this.db.$client.end();
  }
}

export async function openPostgresStore(
  url: string,
  opts: PostgresOptions & { maxSearchScan?: number } = {},
): Promise<PgStore> {
  return new PgStore(await openPostgres(url, opts), opts);
}
