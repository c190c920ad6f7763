import { and, asc, desc, eq, inArray, lt, sql, type SQL } from 'drizzle-orm';
import type { SessionFilter, SessionPage, SessionQueries, Stats } from '../contract.js';
import { encodeCursor } from '../shared/cursor.js';
import type { RunRow, SessionRow } from '../rows.js';
import { pageOfMatches, type SearchMatch } from '../shared/search-page.js';
import { MATCH_BATCH, MAX_SEARCH_SCAN, sessionConditions } from '../shared/session-filter.js';
import { readStats, type SqlRow } from '../shared/stats.js';
import { messages, runs, sessions } from './schema.js';
import { retryingConflicts, type PgDb } from './open.js';
import { pgText } from './text.js';

/**
 * The session endpoints' queries in Postgres: the same listing, search walk and stats as
 * SQLite's (src/db/sqlite/session-queries.ts), over Postgres's own text search (the migration's
 * messages.content_fts, tokenized as FTS5's unicode61 tokenizes).
 */
export class PgSessionQueries implements SessionQueries {
  private readonly maxSearchScan: number;

  constructor(
    private readonly db: PgDb,
    opts: { maxSearchScan?: number } = {},
  ) {
    this.maxSearchScan = opts.maxSearchScan ?? MAX_SEARCH_SCAN;
  }

  async listSessions(
    filter: SessionFilter,
    limit: number,
    cursor?: { createdAt: number; id: string },
  ): Promise<SessionPage> {
    const where = and(...sessionConditions(sessions, textsOf(filter), cursor && { ...cursor, id: pgText(cursor.id) }));
    if (filter.q !== undefined) return this.searchSessions({ ...filter, q: filter.q }, where, limit);
    const rows = await this.db
      .select()
      .from(sessions)
      .where(where)
      .orderBy(desc(sessions.createdAt), desc(sessions.id))
      .limit(limit + 1);
    const items = rows.slice(0, limit);
    return { items, nextCursor: rows.length > limit ? encodeCursor(items.at(-1)!) : null };
  }

  /** A user's search (and an admin's with `owner`) asks the index for that owner's messages only. */
  private searchSessions(
    filter: SessionFilter & { q: string },
    where: SQL | undefined,
    limit: number,
  ): Promise<SessionPage> {
    // As contentPhrase does for FTS5: a NUL (which Postgres text cannot hold) separates words.
    const q = filter.q.replaceAll('\0', ' ');
    const query =
      filter.ownerKeyId === undefined
        ? sql`fts_phrase(${q})`
        : sql`(fts_phrase(${q}) && fts_owner(${filter.ownerKeyId}))`;
    const db = this.db;
    // Each batch of matches brings its sessions in one query (the filter's `where` included,
    // so the owner's row decides what a caller sees): one round trip a batch, not a match.
    const visible = new Map<string, SessionRow>();
    async function* matches(): AsyncGenerator<SearchMatch> {
      // Small first (a first page needs a few dozen sessions), then larger as the walk goes on.
      for (let before = Number.MAX_SAFE_INTEGER, size = 64; ; size = Math.min(2 * size, MATCH_BATCH)) {
        const rows = await db
          .select({ id: messages.id, sessionId: messages.sessionId, createdAt: messages.createdAt })
          .from(messages)
          .where(and(sql`content_fts @@ ${query}`, lt(messages.id, before)))
          .orderBy(desc(messages.id))
          .limit(size);
        const ids = [...new Set(rows.map((r) => r.sessionId))];
        if (ids.length > 0)
          for (const row of await db
            .select()
            .from(sessions)
            .where(and(inArray(sessions.id, ids), where)))
            visible.set(row.id, row);
        yield* rows;
        if (rows.length < size) return;
        before = rows.at(-1)!.id;
      }
    }
    const sessionById = async (id: string) => visible.get(id);
    return pageOfMatches(matches(), sessionById, filter, limit, this.maxSearchScan);
  }

  async runsOf(sessionId: string): Promise<RunRow[]> {
    return (await this.db
      .select()
      .from(runs)
      .where(eq(runs.sessionId, pgText(sessionId)))
      .orderBy(asc(runs.createdAt), asc(runs.id))) as RunRow[];
  }

  /**
   * One statement: a turn begun on another replica meanwhile holds the session's row, and the
   * delete waits for it, then sees the row as the turn left it (running) and deletes nothing.
   */
  async deleteSession(given: string): Promise<'deleted' | 'busy' | 'gone'> {
    const id = pgText(given);
    const deleted = await retryingConflicts(() =>
      this.db
        .delete(sessions)
        .where(and(eq(sessions.id, id), sql`${sessions.lastStatus} is distinct from 'running'`))
        .returning({ id: sessions.id }),
    );
    if (deleted.length > 0) return 'deleted';
    return (await this.db.select({ id: sessions.id }).from(sessions).where(eq(sessions.id, id))).length > 0
      ? 'busy'
      : 'gone';
  }

  stats(from: number, to: number): Promise<Stats> {
    const client = this.db.$client;
    return readStats(
      async (text, args) => (await client.query<SqlRow>(numbered(text), args)).rows,
      from,
      to,
      (column) => `run_latency_bucket(${column})`,
    );
  }
}

/** `?` placeholders as Postgres's `$1, $2, ...` (the shared statements hold no other `?`). */
function numbered(text: string): string {
  let n = 0;
  return text.replace(/\?/g, () => `$${++n}`);
}

/** A listing's filter as Postgres text can hold it (a NUL matches nothing rather than failing the query). */
function textsOf(filter: SessionFilter): SessionFilter {
  const text = (v: string | undefined) => (v === undefined ? undefined : pgText(v));
  return Object.fromEntries(
    Object.entries({
      ...filter,
      agent: text(filter.agent),
      status: text(filter.status),
      ownerKeyId: text(filter.ownerKeyId),
    }).filter(([, v]) => v !== undefined),
  ) as SessionFilter;
}
