import { and, count, eq, inArray, lt, notExists } from 'drizzle-orm';
import type { Db } from './open.js';
import { runs, sessions } from './schema.js';

export const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * RETENTION_DAYS: sessions not touched for that long, with no run in progress, are deleted
 * with everything they own (messages, runs, workspace: the foreign keys cascade, indexed, and
 * the stats roll-ups' triggers take their runs out). In batches, yielding between them, so
 * that a large prune never holds the database or the service for long. Resolves with how many
 * sessions went (or would go, `dryRun`).
 */
export async function pruneSessions(db: Db, days: number, now = Date.now(), opts: { batch?: number; dryRun?: boolean } = {}): Promise<number> {
  const before = now - days * DAY_MS;
  const stale = and(
    lt(sessions.updatedAt, before),
    notExists(db.select({ id: runs.id }).from(runs).where(and(eq(runs.sessionId, sessions.id), eq(runs.status, 'running')))),
  );
  if (opts.dryRun) return db.select({ n: count() }).from(sessions).where(stale).get()!.n;
  const batch = opts.batch ?? 200;
  let total = 0;
  for (;;) {
    const ids = db.select({ id: sessions.id }).from(sessions).where(stale).limit(batch);
    const n = db.delete(sessions).where(inArray(sessions.id, ids)).run().changes;
    total += n;
    if (n < batch) return total;
    // Between batches the service goes on: requests, heartbeats, runs' ends.
    await new Promise((resolve) => setImmediate(resolve));
  }
}
