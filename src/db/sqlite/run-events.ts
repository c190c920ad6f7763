import { and, asc, eq, gt, inArray } from 'drizzle-orm';
import type { RunEventStore } from '../contract.js';
import type { RunEventRow, RunEventType } from '../rows.js';
import { readByRunIds } from '../shared/event-reads.js';
import type { Db } from './open.js';
import { runEvents } from './schema.js';

/** Each run's event log in SQLite: a batch is one statement, all of it or none. */
export class SqliteRunEventStore implements RunEventStore {
  constructor(private readonly db: Db) {}

  async append(runId: string, events: Omit<RunEventRow, 'runId'>[]): Promise<void> {
    if (events.length === 0) return;
    this.db
      .insert(runEvents)
      .values(events.map((e) => ({ ...e, runId })))
      .run();
  }

  async after(runId: string, afterSeq: number, limit: number): Promise<RunEventRow[]> {
    return this.db
      .select()
      .from(runEvents)
      .where(and(eq(runEvents.runId, runId), gt(runEvents.seq, afterSeq)))
      .orderBy(asc(runEvents.seq))
      .limit(limit)
      .all();
  }

  async ofRuns(runIds: readonly string[], types: readonly RunEventType[]): Promise<RunEventRow[]> {
    return readByRunIds(runIds, (ids) =>
      this.db
        .select()
        .from(runEvents)
        .where(and(inArray(runEvents.runId, ids), inArray(runEvents.type, [...types])))
        .orderBy(asc(runEvents.runId), asc(runEvents.seq))
        .all(),
    );
  }
}
