import { and, count, inArray } from 'drizzle-orm';
import type { Db } from './open.js';
import { sessions } from './schema.js';
import { DAY_MS, pruneInBatches, staleSessions } from '../shared/retention.js';

/** SQLite's steps of pruneInBatches. */
export function pruneSessions(
  db: Db,
  days: number,
  now = Date.now(),
  opts: { batch?: number; dryRun?: boolean } = {},
): Promise<number> {
  const stale = staleSessions(sessions, now - days * DAY_MS);
  return pruneInBatches(
    {
      countStale: async () => db.select({ n: count() }).from(sessions).where(stale).get()!.n,
      deleteStale: async (limit) =>
        db
          .delete(sessions)
          .where(
            and(inArray(sessions.id, db.select({ id: sessions.id }).from(sessions).where(stale).limit(limit)), stale),
          )
          .run().changes,
    },
    opts,
  );
}
