import { and, asc, desc, eq, gte, lt, sql, type SQL } from 'drizzle-orm';
import { AppError } from '../errors.js';
import type { Db } from './open.js';
import { runs, sessions, type RunRow, type SessionRow } from './schema.js';

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

/** A page of sessions; a text search also says how many matching messages it read. */
export interface SessionPage extends Page<SessionRow> {
  scanned?: number;
}

/**
 * Matching messages one text search reads at most (issue 10, point 4), admins included.
 * A match costs 2-7 µs on the benchmark machine (more when most belong to different
 * sessions), so a refused search holds the event loop for 25-65 ms there (BENCHMARKS.md);
 * a first page with no other filter reads a few hundred.
 */
export const MAX_SEARCH_SCAN = 10_000;

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
export class SessionQueries {
  private readonly maxSearchScan: number;

  constructor(
    private readonly db: Db,
    opts: { maxSearchScan?: number } = {},
  ) {
    this.maxSearchScan = opts.maxSearchScan ?? MAX_SEARCH_SCAN;
  }

  async listSessions(filter: SessionFilter, limit: number, cursor?: { createdAt: number; id: string }): Promise<SessionPage> {
    const where: SQL[] = [];
    if (filter.agent !== undefined) where.push(eq(sessions.agent, filter.agent));
    if (filter.status !== undefined) where.push(eq(sessions.lastStatus, filter.status));
    if (filter.ownerKeyId !== undefined) where.push(eq(sessions.ownerKeyId, filter.ownerKeyId));
    if (filter.from !== undefined) where.push(gte(sessions.createdAt, filter.from));
    if (filter.to !== undefined) where.push(lt(sessions.createdAt, filter.to));
    if (cursor) {
      // The row-value form lets SQLite seek in the index instead of walking it from the top.
      where.push(sql`(${sessions.createdAt}, ${sessions.id}) < (${cursor.createdAt}, ${cursor.id})`);
    }
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
   * Text search, newest first. Matching messages are read newest first, and the walk
   * stops once a message is older than the last session the page needs, or older than
   * `from`: a session's messages are never older than the session, so no later match can
   * enter the page. A user's search (and an admin's with `owner`) asks the index for that
   * owner's messages only (migration 0009), so other owners' matches are never examined.
   * At most `maxSearchScan` matches are read: a page that needs more is refused with
   * INVALID_QUERY rather than answered partly, so paging never skips a session.
   */
  private searchSessions(filter: SessionFilter & { q: string }, where: SQL | undefined, limit: number): SessionPage {
    const phrase = contentPhrase(filter.q);
    const match = filter.ownerKeyId === undefined ? phrase : `owner : "${ownerToken(filter.ownerKeyId)}" AND ${phrase}`;
    const matches = this.db.$client
      .prepare(
        `select m.session_id as sessionId, m.created_at as createdAt
           from messages_fts f join messages m on m.id = f.rowid
          where messages_fts match ? order by f.rowid desc`,
      )
      .iterate(match) as IterableIterator<{ sessionId: string; createdAt: number }>;
    // The owner stays in `where` too: the session row decides what a caller sees.
    const sessionById = this.db
      .select()
      .from(sessions)
      .where(and(eq(sessions.id, sql.placeholder('id')), where))
      .prepare();
    const page: SessionRow[] = []; // newest first, at most limit + 1
    const seen = new Set<string>();
    const newer = (a: SessionRow, b: SessionRow) => a.createdAt > b.createdAt || (a.createdAt === b.createdAt && a.id > b.id);
    let scanned = 0;
    for (const m of matches) {
      if (page.length > limit && m.createdAt < page[limit]!.createdAt) break;
      if (filter.from !== undefined && m.createdAt < filter.from) break;
      if (scanned === this.maxSearchScan) {
        throw new AppError(
          'INVALID_QUERY',
          `q: more than ${this.maxSearchScan} matching messages would have to be read for this page; ` +
            'narrow the search with rarer words, a longer phrase or a later from' +
            (filter.ownerKeyId === undefined ? ', or filter by owner' : ''),
        );
      }
      scanned++;
      if (seen.has(m.sessionId)) continue;
      seen.add(m.sessionId);
      const s = sessionById.get({ id: m.sessionId });
      if (!s) continue;
      const at = page.findIndex((p) => newer(s, p));
      page.splice(at === -1 ? page.length : at, 0, s);
      if (page.length > limit + 1) page.pop();
    }
    const items = page.slice(0, limit);
    return { items, nextCursor: page.length > limit ? encodeCursor(items.at(-1)!) : null, scanned };
  }

  async runsOf(sessionId: string): Promise<RunRow[]> {
    return this.db.select().from(runs).where(eq(runs.sessionId, sessionId)).orderBy(asc(runs.createdAt), asc(runs.id)).all();
  }

  /** Removes the session with its messages and runs (foreign keys cascade). */
  async deleteSession(id: string): Promise<boolean> {
    return this.db.delete(sessions).where(eq(sessions.id, id)).run().changes > 0;
  }

  /**
   * Counts by status and agent, and nearest-rank p50/p95 of first-byte and total time.
   * Whole days, quarter days and hours inside the window are read from the roll-ups
   * (migrations 0007, 0008), the partial hours at the edges from `runs`. Counts are
   * exact; percentiles are within 2% ±1 ms (4% buckets) once the window holds a whole
   * hour, exact when it holds none.
   */
  async stats(from: number, to: number): Promise<Stats> {
    const plan = planWindow(from, to);
    if (plan.rolled.length === 0) return this.exactStats(from, to);
    const client = this.db.$client;
    const rolled = plan.rolled.map(() => '(span = ? and start >= ? and start < ?)').join(' or ');
    const rolledArgs = plan.rolled.flatMap((r) => [r.span, r.from, r.to]);
    // Runs still running in the rolled-up periods: the roll-ups count only ended runs.
    const rolledRuns = plan.rolled.map(() => '(created_at >= ? and created_at < ?)').join(' or ');
    const rolledRunArgs = plan.rolled.flatMap((r) => [r.from, r.to]);
    const edges = plan.edges.map(() => '(created_at >= ? and created_at < ?)').join(' or ') || 'false';
    const edgeArgs = plan.edges.flatMap((r) => [r.from, r.to]);
    const counts = (column: 'status' | 'agent') =>
      client
        .prepare(
          `select ${column}, sum(runs) as runs from (
             select ${column}, runs from run_counts where ${rolled}
             union all select ${column}, 1 from runs where status = 'running' and (${rolledRuns})
             union all select ${column}, 1 from runs where ${edges})
           group by ${column} having sum(runs) > 0 order by ${column}`,
        )
        .all(...rolledArgs, ...rolledRunArgs, ...edgeArgs);
    const percentiles = (metric: 'first_byte' | 'total') => {
      const column = `${metric}_ms`;
      const buckets = client
        .prepare(
          `select bucket, sum(runs) as runs from (
             select bucket, runs from run_latency where metric = ? and (${rolled})
             union all select ${latencyBucket(column)}, 1 from runs where ${column} is not null and (${edges}))
           group by bucket having sum(runs) > 0 order by bucket`,
        )
        .all(metric, ...rolledArgs, ...edgeArgs) as Array<{ bucket: number; runs: number }>;
      return fromHistogram(buckets);
    };
    return {
      byStatus: counts('status') as Stats['byStatus'],
      byAgent: counts('agent') as Stats['byAgent'],
      firstByteMs: percentiles('first_byte'),
      totalMs: percentiles('total'),
    };
  }

  /** The same, straight from `runs`, with exact percentiles: for windows holding no whole hour. */
  private exactStats(from: number, to: number): Stats {
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
        .get(from, to) as Percentiles;
    return { byStatus, byAgent, firstByteMs: percentiles('first_byte_ms'), totalMs: percentiles('total_ms') };
  }
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
  const cover = (a: number, b: number, spans: number[]): { rolled: Array<Range & { span: number }>; edges: Range[] } => {
    if (a >= b) return { rolled: [], edges: [] };
    const [span, ...finer] = spans;
    if (span === undefined) return { rolled: [], edges: [{ from: a, to: b }] };
    const first = Math.ceil(a / span) * span;
    const last = Math.floor(b / span) * span;
    if (first >= last) return cover(a, b, finer);
    const left = cover(a, first, finer);
    const right = cover(last, b, finer);
    return { rolled: [...left.rolled, { span, from: first, to: last }, ...right.rolled], edges: [...left.edges, ...right.edges] };
  };
  return cover(from, to, SPANS);
}

type Percentiles = { n: number | null; p50: number | null; p95: number | null };
export interface Stats {
  byStatus: Array<{ status: string; runs: number }>;
  byAgent: Array<{ agent: string; runs: number }>;
  firstByteMs: Percentiles;
  totalMs: Percentiles;
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
