import { and, eq, gte, lt, sql } from 'drizzle-orm';
import { INTERRUPT_ORPHANED_SESSIONS, interruptedColumns, leftoverRuns } from '../shared/leftover-runs.js';
import type { InstanceStore } from '../contract.js';
import { instances, runs } from './schema.js';
import { retryingConflicts, type PgDb } from './open.js';

/**
 * The replicas sharing the database, by heartbeat (as src/db/sqlite/instances.ts). A replica that
 * stops beating is gone: a survivor's start, or its reaper, marks what it left running.
 */
export class PgInstanceStore implements InstanceStore {
  constructor(private readonly db: PgDb) {}

  async heartbeat(instanceId: string, pid: number, now: number): Promise<void> {
    await this.db
      .insert(instances)
      .values({ id: instanceId, pid, startedAt: now, heartbeatAt: now })
      .onConflictDoUpdate({ target: instances.id, set: { heartbeatAt: now, pid } });
  }

  async recentHeartbeat(
    instanceId: string,
    now: number,
    staleMs: number,
  ): Promise<{ pid: number; heartbeatAt: number } | undefined> {
    const [row] = await this.db
      .select({ pid: instances.pid, heartbeatAt: instances.heartbeatAt })
      .from(instances)
      .where(and(eq(instances.id, instanceId), gte(instances.heartbeatAt, now - staleMs)));
    return row;
  }

  async staleInstances(now: number, staleMs: number): Promise<Set<string>> {
    const rows = await this.db
      .select({ id: instances.id })
      .from(instances)
      .where(lt(instances.heartbeatAt, now - staleMs));
    return new Set(rows.map((r) => r.id));
  }

  async interruptLeftoverRuns(
    instanceId: string,
    now: number,
    staleMs: number,
    opts: { ownToo?: boolean } = {},
  ): Promise<number> {
    return retryingConflicts(() =>
      this.db.transaction(async (tx) => {
        const alive = (
          await tx
            .select({ id: instances.id })
            .from(instances)
            .where(gte(instances.heartbeatAt, now - staleMs))
        )
          .map((r) => r.id)
          .filter((id) => id !== instanceId);
        const interrupted = await tx
          .update(runs)
          .set(interruptedColumns(runs, now))
          .where(leftoverRuns(runs, instanceId, alive, opts.ownToo !== false))
          .returning({ sessionId: runs.sessionId });
        if (interrupted.length > 0) await tx.execute(sql.raw(INTERRUPT_ORPHANED_SESSIONS));
        return interrupted.length;
      }),
    );
  }
}
