import type { InstanceStore } from '../contract.js';
import { and, eq, gte, lt } from 'drizzle-orm';
import { INTERRUPT_ORPHANED_SESSIONS, interruptedColumns, leftoverRuns } from '../shared/leftover-runs.js';
import type { Db } from './open.js';
import { instances, runs } from './schema.js';

/**
 * The service instances sharing a database: each beats a heartbeat, so the others can tell
 * when it is gone, and what a gone one left `running` is marked interrupted.
 */
export class SqliteInstanceStore implements InstanceStore {
  constructor(private readonly db: Db) {}

  /** Says this instance is alive. */
  async heartbeat(instanceId: string, pid: number, now: number): Promise<void> {
    this.db
      .insert(instances)
      .values({ id: instanceId, pid, startedAt: now, heartbeatAt: now })
      .onConflictDoUpdate({ target: instances.id, set: { heartbeatAt: now, pid } })
      .run();
  }

  /** The process that last beat for this instance, if it beat less than `staleMs` ago. */
  async recentHeartbeat(
    instanceId: string,
    now: number,
    staleMs: number,
  ): Promise<{ pid: number; heartbeatAt: number } | undefined> {
    return this.db
      .select({ pid: instances.pid, heartbeatAt: instances.heartbeatAt })
      .from(instances)
      .where(and(eq(instances.id, instanceId), gte(instances.heartbeatAt, now - staleMs)))
      .get();
  }

  /** Instances whose last heartbeat is older than `staleMs`: their process is gone. */
  async staleInstances(now: number, staleMs: number): Promise<Set<string>> {
    const rows = this.db
      .select({ id: instances.id })
      .from(instances)
      .where(lt(instances.heartbeatAt, now - staleMs))
      .all();
    return new Set(rows.map((r) => r.id));
  }

  /**
   * Runs left `running` by a process that died cannot finish: this instance's own (it
   * just started, so none of them is live) and those of instances with no recent heartbeat.
   */
  async interruptLeftoverRuns(
    instanceId: string,
    now: number,
    staleMs: number,
    opts: { ownToo?: boolean } = {},
  ): Promise<number> {
    const alive = this.db
      .select({ id: instances.id })
      .from(instances)
      .where(gte(instances.heartbeatAt, now - staleMs))
      .all()
      .map((r) => r.id)
      .filter((id) => id !== instanceId);
    const res = this.db
      .update(runs)
      .set(interruptedColumns(runs, now))
      .where(leftoverRuns(runs, instanceId, alive, opts.ownToo !== false))
      .run();
    if (res.changes > 0) this.db.$client.prepare(INTERRUPT_ORPHANED_SESSIONS).run();
    return res.changes;
  }
}
