import { and, asc, desc, eq, gte, inArray, lt, or, sql, type SQL } from 'drizzle-orm';
import type { Db } from './open.js';
import { messages, runs, sessions, type RunRow, type SessionRow } from './schema.js';

export interface SessionFilter {
  agent?: string;
  /** Status of the session's last run. */
  status?: string;
  ownerKeyId?: string;
  /** Sessions created in [from, to), epoch ms. */
  from?: number;
  to?: number;
  /** Full-text search in the session's messages. */
  q?: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/**
 * Newest first by (created_at, id), which never changes: a page boundary cannot move,
 * so paging sees no gaps and no repeats while new sessions are added in front.
 */
export function encodeCursor(row: { createdAt: number; id: string }): string {
  return Buffer.from(`${row.createdAt}:${row.id}`).toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: number; id: string } | undefined {
  const m = /^(\d{1,16}):((?:ses)_[0-9a-z]{29})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  return m ? { createdAt: Number(m[1]), id: m[2]! } : undefined;
}

/** Read side of the transcripts for the admin endpoints. */
export class HistoryStore {
  constructor(private readonly db: Db) {}

  listSessions(filter: SessionFilter, limit: number, cursor?: { createdAt: number; id: string }): Page<SessionRow> {
    const where: SQL[] = [];
    if (filter.agent !== undefined) where.push(eq(sessions.agent, filter.agent));
    if (filter.status !== undefined) where.push(eq(sessions.lastStatus, filter.status));
    if (filter.ownerKeyId !== undefined) where.push(eq(sessions.ownerKeyId, filter.ownerKeyId));
    if (filter.from !== undefined) where.push(gte(sessions.createdAt, filter.from));
    if (filter.to !== undefined) where.push(lt(sessions.createdAt, filter.to));
    if (filter.q !== undefined) {
      const phrase = `"${filter.q.replaceAll('"', '""')}"`;
      where.push(
        inArray(
          sessions.id,
          sql`(select ${messages.sessionId} from ${messages} where ${messages.id} in (select rowid from messages_fts where messages_fts match ${phrase}))`,
        ),
      );
    }
    if (cursor) {
      where.push(or(lt(sessions.createdAt, cursor.createdAt), and(eq(sessions.createdAt, cursor.createdAt), lt(sessions.id, cursor.id)))!);
    }
    const rows = this.db
      .select()
      .from(sessions)
      .where(and(...where))
      .orderBy(desc(sessions.createdAt), desc(sessions.id))
      .limit(limit + 1)
      .all();
    const items = rows.slice(0, limit);
    return { items, nextCursor: rows.length > limit ? encodeCursor(items.at(-1)!) : null };
  }

  runsOf(sessionId: string): RunRow[] {
    return this.db.select().from(runs).where(eq(runs.sessionId, sessionId)).orderBy(asc(runs.createdAt), asc(runs.id)).all();
  }

  getRun(id: string): RunRow | undefined {
    return this.db.select().from(runs).where(eq(runs.id, id)).get();
  }

  /** Removes the session with its messages and runs (foreign keys cascade). */
  deleteSession(id: string): boolean {
    return this.db.delete(sessions).where(eq(sessions.id, id)).run().changes > 0;
  }

  /** Counts by status and agent, and nearest-rank p50/p95 of first-byte and total time, in SQL. */
  stats(from: number, to: number) {
    const client = this.db.$client;
    const byStatus = client
      .prepare('select status, count(*) as runs from runs where created_at >= ? and created_at < ? group by status order by status')
      .all(from, to) as Array<{ status: string; runs: number }>;
    const byAgent = client
      .prepare('select agent, count(*) as runs from runs where created_at >= ? and created_at < ? group by agent order by agent')
      .all(from, to) as Array<{ agent: string; runs: number }>;
    const percentiles = (column: 'first_byte_ms' | 'total_ms') =>
      client
        .prepare(
          `with v as (
             select ${column} as x, row_number() over (order by ${column}) as rn, count(*) over () as n
               from runs where created_at >= ? and created_at < ? and ${column} is not null)
           select max(n) as n,
                  max(case when rn = (n * 50 + 99) / 100 then x end) as p50,
                  max(case when rn = (n * 95 + 99) / 100 then x end) as p95
             from v`,
        )
        .get(from, to) as { n: number | null; p50: number | null; p95: number | null };
    return { byStatus, byAgent, firstByteMs: percentiles('first_byte_ms'), totalMs: percentiles('total_ms') };
  }
}
