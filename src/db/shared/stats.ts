import type { Percentiles, Stats } from '../contract.js';

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
