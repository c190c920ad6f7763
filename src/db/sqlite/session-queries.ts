import type { SessionFilter, SessionPage, SessionQueries, Stats } from '../contract.js';
import { encodeCursor } from '../shared/cursor.js';
import { and, asc, desc, eq, sql, type SQL } from 'drizzle-orm';
import { pageOfMatches, type SearchMatch } from '../shared/search-page.js';
import type { Db } from './open.js';
import { runs, sessions } from './schema.js';
import type { RunRow } from '../rows.js';
import { MATCH_BATCH, MAX_SEARCH_SCAN, sessionConditions } from '../shared/session-filter.js';
import { readStats, type SqlRow } from '../shared/stats.js';

/** The token migration 0009 indexes in `messages_fts.owner` for a session's owner key. */
export function ownerToken(keyId: string): string {
  return `o${Buffer.from(keyId, 'utf8').toString('hex')}`;
}

/**
 * q as one FTS5 phrase in the `content` column. Inside double quotes FTS5 syntax (AND, OR,
 * NEAR, *, ^, :, parentheses) is plain text, and a quote is written twice. NUL would end
 * the query string early, so it becomes a space, which the tokenizer separates on anyway.
 */
export function contentPhrase(q: string): string {
  return `content : "${q.replaceAll('\0', ' ').replaceAll('"', '""')}"`;
}

/** The queries behind the session endpoints: listing and search, a session's runs, deletion, and /v1/stats. */
export class SqliteSessionQueries implements SessionQueries {
  private readonly maxSearchScan: number;

  constructor(
    private readonly db: Db,
    opts: { maxSearchScan?: number } = {},
  ) {
    this.maxSearchScan = opts.maxSearchScan ?? MAX_SEARCH_SCAN;
  }

  async listSessions(
    filter: SessionFilter,
    limit: number,
    cursor?: { createdAt: number; id: string },
  ): Promise<SessionPage> {
    const where = sessionConditions(sessions, filter, cursor);
    if (filter.q !== undefined) return this.searchSessions({ ...filter, q: filter.q }, and(...where), limit);
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

  /**
   * Text search, newest first (see pageOfMatches). A user's search (and an admin's with
   * `owner`) asks the index for that owner's messages only (migration 0009), so other
   * owners' matches are never examined.
   */
  private searchSessions(
    filter: SessionFilter & { q: string },
    where: SQL | undefined,
    limit: number,
  ): Promise<SessionPage> {
    const phrase = contentPhrase(filter.q);
    const match = filter.ownerKeyId === undefined ? phrase : `owner : "${ownerToken(filter.ownerKeyId)}" AND ${phrase}`;
    // Read a batch at a time, not through an open iterator: the walk awaits between matches,
    // and another query on this connection may come in then.
    const batch = this.db.$client.prepare(
      `select m.id as id, m.session_id as sessionId, m.created_at as createdAt
         from messages_fts f join messages m on m.id = f.rowid
        where messages_fts match ? and f.rowid < ? order by f.rowid desc limit ${MATCH_BATCH}`,
    );
    function* matches(): Generator<SearchMatch> {
      for (let before = Number.MAX_SAFE_INTEGER; ; ) {
        const rows = batch.all(match, before) as Array<SearchMatch & { id: number }>;
        yield* rows;
        if (rows.length < MATCH_BATCH) return;
        before = rows.at(-1)!.id;
      }
    }
    // The owner stays in `where` too: the session row decides what a caller sees.
    const sessionById = this.db
      .select()
      .from(sessions)
      .where(and(eq(sessions.id, sql.placeholder('id')), where))
      .prepare();
    return pageOfMatches(matches(), async (id) => sessionById.get({ id }), filter, limit, this.maxSearchScan);
  }

  async runsOf(sessionId: string): Promise<RunRow[]> {
    return this.db
      .select()
      .from(runs)
      .where(eq(runs.sessionId, sessionId))
      .orderBy(asc(runs.createdAt), asc(runs.id))
      .all();
  }

  /** Removes the session with its messages and runs (foreign keys cascade). */
  async deleteSession(id: string): Promise<'deleted' | 'busy' | 'gone'> {
    return this.db.transaction((tx) => {
      const session = tx.select({ lastStatus: sessions.lastStatus }).from(sessions).where(eq(sessions.id, id)).get();
      if (!session) return 'gone';
      if (session.lastStatus === 'running') return 'busy';
      tx.delete(sessions).where(eq(sessions.id, id)).run();
      return 'deleted';
    });
  }

  /**
   * Counts by status and agent, and nearest-rank p50/p95 of first-byte and total time.
   * Whole days, quarter days and hours inside the window are read from the roll-ups
   * (migrations 0007, 0008), the partial hours at the edges from `runs`. Counts are
   * exact; percentiles are within 2% ±1 ms (4% buckets) once the window holds a whole
   * hour, exact when it holds none.
   */
  stats(from: number, to: number): Promise<Stats> {
    const client = this.db.$client;
    return readStats(async (text, args) => client.prepare(text).all(...args) as SqlRow[], from, to, latencyBucket);
  }
}

/** A latency's bucket, as the roll-up triggers (migrations 0007, 0008) compute it: exact below 10 ms, then 4% wide. */
const latencyBucket = (column: string) =>
  `case when ${column} < 10 then ${column} else 10 + cast(ln(${column} / 10.0) / ln(1.04) as integer) end`;
