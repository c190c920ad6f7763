import { and, asc, eq, gt, inArray } from 'drizzle-orm';
import type { RunEventStore } from '../contract.js';
import type { RunEventRow, RunEventType } from '../rows.js';
import { readByRunIds } from '../shared/event-reads.js';
import { retryingConflicts, type PgDb } from './open.js';
import { runEvents } from './schema.js';

/** Each run's event log in Postgres: a batch is one statement. */
export class PgRunEventStore implements RunEventStore {
  constructor(private readonly db: PgDb) {}

  async append(runId: string, events: Omit<RunEventRow, 'runId'>[]): Promise<void> {
    if (events.length === 0) return;
    // `data` is JSON: a NUL in it is written `\u0000`, which Postgres text holds.
    const rows = events.map((e) => ({ ...e, runId }));
    await retryingConflicts(() => this.db.insert(runEvents).values(rows));
  }

  async after(runId: string, afterSeq: number, limit: number): Promise<RunEventRow[]> {
    return this.db
      .select()
      .from(runEvents)
      .where(and(eq(runEvents.runId, runId), gt(runEvents.seq, afterSeq)))
      .orderBy(asc(runEvents.seq))
      .limit(limit);
  }

  async ofRuns(runIds: readonly string[], types: readonly RunEventType[]): Promise<RunEventRow[]> {
    return readByRunIds(runIds, (ids) =>
      this.db
        .select()
        .from(runEvents)
        .where(and(inArray(runEvents.runId, ids), inArray(runEvents.type, [...types])))
        .orderBy(asc(runEvents.runId), asc(runEvents.seq)),
    );
  }
}
