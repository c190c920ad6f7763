import type { Percentiles, SessionFilter, SessionPage, SessionQueries, Stats } from './store.js';
import { encodeCursor } from './cursor.js';
import { and, asc, desc, eq, gte, lt, sql, type AnyColumn, type SQL } from 'drizzle-orm';
import { pageOfMatches, type SearchMatch } from './search-page.js';
import type { Db } from './open.js';
import { runs, sessions, type RunRow } from './schema.js';

/**
 * Matching messages one text search reads at most (issue 10, point 4), admins included.
 * A match costs 2-7 µs on the benchmark machine (more when most belong to different
 * sessions), so a refused search holds the event loop for 25-65 ms there (BENCHMARKS.md);
 * a first page with no other filter reads a few hundred.
 */
export const MAX_SEARCH_SCAN = 10_000;
/** Matching messages read per query while a search walks back. */
export const MATCH_BATCH = 500;

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

/** A session table's columns a listing filters on, in either database's schema. */
export interface SessionColumns {
  agent: AnyColumn;
  lastStatus: AnyColumn;
  ownerKeyId: AnyColumn;
  createdAt: AnyColumn;
  id: AnyColumn;
}

/** A listing's filter and cursor as conditions on `sessions` (the text search aside). */
export function sessionConditions(
  t: SessionColumns,
  filter: SessionFilter,
  cursor?: { createdAt: number; id: string },
): SQL[] {
  const where: SQL[] = [];
  if (filter.agent !== undefined) where.push(eq(t.agent, filter.agent));
  if (filter.status !== undefined) where.push(eq(t.lastStatus, filter.status));
  if (filter.ownerKeyId !== undefined) where.push(eq(t.ownerKeyId, filter.ownerKeyId));
  if (filter.from !== undefined) where.push(gte(t.createdAt, filter.from));
  if (filter.to !== undefined) where.push(lt(t.createdAt, filter.to));
  // The row-value form lets the database seek in the index instead of walking it from the top.
  if (cursor) where.push(sql`(${t.createdAt}, ${t.id}) < (${cursor.createdAt}, ${cursor.id})`);
  return where;
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

/** Runs one statement with `?` placeholders: each store's way to its database. */
export type SqlRunner = (text: string, args: unknown[]) => Promise<SqlRow[]>;
export type SqlRow = Record<string, unknown>;

/**
 * /v1/stats in SQL both databases speak. Whole days, quarter days and hours inside the window
 * are read from the roll-ups (kept by triggers), the partial hours at the edges from `runs`;
 * a window holding no whole hour is read from `runs` alone, with exact percentiles. `bucketOf`
 * is the database's expression of a latency's histogram bucket, as its triggers compute it.
 */
export async function readStats(
  run: SqlRunner,
  from: number,
  to: number,
  bucketOf: (column: string) => string,
): Promise<Stats> {
  const plan = planWindow(from, to);
  if (plan.rolled.length === 0) return exactStats(run, from, to);
  const rolled = plan.rolled.map(() => '(span = ? and start >= ? and start < ?)').join(' or ');
  const rolledArgs = plan.rolled.flatMap((r) => [r.span, r.from, r.to]);
  // Runs still running in the rolled-up periods: the roll-ups count only ended runs.
  const rolledRuns = plan.rolled.map(() => '(created_at >= ? and created_at < ?)').join(' or ');
  const rolledRunArgs = plan.rolled.flatMap((r) => [r.from, r.to]);
  const edges = plan.edges.map(() => '(created_at >= ? and created_at < ?)').join(' or ') || '1 = 0';
  const edgeArgs = plan.edges.flatMap((r) => [r.from, r.to]);
  const counts = async <K extends 'status' | 'agent'>(column: K) =>
    countsOf(
      column,
      await run(
        `select ${column}, sum(runs) as runs from (
           select ${column}, runs from run_counts where ${rolled}
           union all select ${column}, 1 from runs where status = 'running' and (${rolledRuns})
           union all select ${column}, 1 from runs where ${edges}) as counted
         group by ${column} having sum(runs) > 0 order by ${column}`,
        [...rolledArgs, ...rolledRunArgs, ...edgeArgs],
      ),
    );
  const percentiles = async (metric: 'first_byte' | 'total') => {
    const column = `${metric}_ms`;
    const rows = await run(
      `select bucket, sum(runs) as runs from (
         select bucket, runs from run_latency where metric = ? and (${rolled})
         union all select ${bucketOf(column)} as bucket, 1 as runs from runs where ${column} is not null and (${edges})) as counted
       group by bucket having sum(runs) > 0 order by bucket`,
      [metric, ...rolledArgs, ...edgeArgs],
    );
    return fromHistogram(rows.map((r) => ({ bucket: Number(r.bucket), runs: Number(r.runs) })));
  };
  const [byStatus, byAgent, firstByteMs, totalMs] = await Promise.all([
    counts('status'),
    counts('agent'),
    percentiles('first_byte'),
    percentiles('total'),
  ]);
  return { byStatus, byAgent, firstByteMs, totalMs };
}

/** The same, straight from `runs`, with exact percentiles: for windows holding no whole hour. */
async function exactStats(run: SqlRunner, from: number, to: number): Promise<Stats> {
  const counts = async <K extends 'status' | 'agent'>(column: K) =>
    countsOf(
      column,
      await run(
        `select ${column}, count(*) as runs from runs where created_at >= ? and created_at < ? group by ${column} order by ${column}`,
        [from, to],
      ),
    );
  const percentiles = async (column: 'first_byte_ms' | 'total_ms'): Promise<Percentiles> => {
    const [row] = await run(
      `with v as (
         select ${column} as x, row_number() over (order by ${column}) as rn, count(*) over () as n
           from runs where created_at >= ? and created_at < ? and ${column} is not null)
       select max(n) as n,
              max(case when rn = (n * 50 + 99) / 100 then x end) as p50,
              max(case when rn = (n * 95 + 99) / 100 then x end) as p95
         from v`,
      [from, to],
    );
    const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
    return { n: num(row?.n), p50: num(row?.p50), p95: num(row?.p95) };
  };
  const [byStatus, byAgent, firstByteMs, totalMs] = await Promise.all([
    counts('status'),
    counts('agent'),
    percentiles('first_byte_ms'),
    percentiles('total_ms'),
  ]);
  return { byStatus, byAgent, firstByteMs, totalMs };
}

/** Postgres answers sums and counts as strings (bigint, numeric): numbers here, for both. */
function countsOf<K extends 'status' | 'agent'>(column: K, rows: SqlRow[]) {
  return rows.map((r) => ({ [column]: String(r[column]), runs: Number(r.runs) })) as Array<
    Record<K, string> & { runs: number }
  >;
}

const HOUR = 3_600_000;
/** The roll-up periods, coarsest first (migrations 0007 and 0008 keep these three). */
const SPANS = [24 * HOUR, 6 * HOUR, HOUR];

interface Range {
  from: number;
  to: number;
}

/**
 * Splits [from, to) into the fewest whole periods of the roll-ups (UTC days, quarter
 * days, hours), read from them, and the partial hours at the edges, read from `runs`.
 */
export function planWindow(from: number, to: number): { rolled: Array<Range & { span: number }>; edges: Range[] } {
  const cover = (
    a: number,
    b: number,
    spans: number[],
  ): { rolled: Array<Range & { span: number }>; edges: Range[] } => {
    if (a >= b) return { rolled: [], edges: [] };
    const [span, ...finer] = spans;
    if (span === undefined) return { rolled: [], edges: [{ from: a, to: b }] };
    const first = Math.ceil(a / span) * span;
    const last = Math.floor(b / span) * span;
    if (first >= last) return cover(a, b, finer);
    const left = cover(a, first, finer);
    const right = cover(last, b, finer);
    return {
      rolled: [...left.rolled, { span, from: first, to: last }, ...right.rolled],
      edges: [...left.edges, ...right.edges],
    };
  };
  return cover(from, to, SPANS);
}

/** A latency's bucket, as the roll-up triggers (migrations 0007, 0008) compute it: exact below 10 ms, then 4% wide. */
const latencyBucket = (column: string) =>
  `case when ${column} < 10 then ${column} else 10 + cast(ln(${column} / 10.0) / ln(1.04) as integer) end`;

/** What a bucket stands for: its value below 10 ms, else the geometric middle of its 4% range. */
export function bucketValue(bucket: number): number {
  return bucket < 10 ? bucket : Math.round(10 * 1.04 ** (bucket - 10 + 0.5));
}

/** Nearest-rank p50 and p95 from bucket counts in ascending order. */
export function fromHistogram(buckets: Array<{ bucket: number; runs: number }>): Percentiles {
  const n = buckets.reduce((sum, b) => sum + b.runs, 0);
  if (n === 0) return { n: null, p50: null, p95: null };
  const at = (p: number) => {
    const rank = Math.ceil((n * p) / 100);
    let seen = 0;
    for (const b of buckets) {
      seen += b.runs;
      if (seen >= rank) return bucketValue(b.bucket);
    }
    return bucketValue(buckets.at(-1)!.bucket);
  };
  return { n, p50: at(50), p95: at(95) };
}
