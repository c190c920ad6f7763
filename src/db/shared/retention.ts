import { sql, type AnyColumn } from 'drizzle-orm';

export const DAY_MS = 24 * 60 * 60 * 1000;

/** What pruning needs of a store: how many sessions would go, and a delete of one batch of them. */
export interface PruneSteps {
  countStale(): Promise<number>;
  /** Deletes up to `limit` stale sessions; resolves with how many went. */
  deleteStale(limit: number): Promise<number>;
}

/**
 * RETENTION_DAYS: sessions not touched for that long, with no run in progress, are deleted
 * with everything they own (messages, runs, workspace: the foreign keys cascade, indexed, and
 * the stats roll-ups' triggers take their runs out). In batches, yielding between them, so
 * that a large prune never holds the database or the service for long. Resolves with how many
 * sessions went (or would go, `dryRun`). Both stores.
 */
export async function pruneInBatches(
  steps: PruneSteps,
  opts: { batch?: number; dryRun?: boolean } = {},
): Promise<number> {
  if (opts.dryRun) return steps.countStale();
  const batch = opts.batch ?? 200;
  let total = 0;
  for (;;) {
    const n = await steps.deleteStale(batch);
    total += n;
    if (n < batch) return total;
    // Between batches the service goes on: requests, heartbeats, runs' ends.
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * Sessions last touched before `before` with no run in progress (SQL both dialects speak). A
 * delete repeats it outside its `id in (...)`: on Postgres a delete that waited for a turn
 * starting on that session checks again only its outer condition, on the row as the turn left it.
 */
export function staleSessions(s: { id: AnyColumn; updatedAt: AnyColumn }, before: number) {
  return sql`${s.updatedAt} < ${before} and not exists (select 1 from runs where runs.session_id = ${s.id} and runs.status = 'running')`;
}
