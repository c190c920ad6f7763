import type { Logger } from 'pino';
import type { ContainerRuntime } from './runtime.js';

/**
 * Removes managed containers that belong to no live run: those this instance started
 * but no longer runs (it crashed, or the engine vanished mid-run), those past their
 * deadline whoever started them, and those of instances whose heartbeat went stale.
 * A container of another live instance is never touched.
 */
export class Reaper {
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<number> | undefined;
  private stopping = false;

  constructor(
    private readonly deps: {
      runtime: ContainerRuntime;
      instanceId: string;
      liveRunIds: () => Set<string>;
      staleInstances: () => Promise<Set<string>>;
      logger: Logger;
    },
  ) {}

  /** One pass; returns how many containers it removed. Never throws (the engine may be down). */
  sweep(): Promise<number> {
    this.sweeping ??= this.pass().finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  start(intervalMs: number): void {
    clearInterval(this.timer);
    this.stopping = false;
    void this.sweep();
    this.timer = setInterval(() => void this.sweep(), intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for a pass in progress, so nothing runs after the database closes. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.sweeping;
  }

  private async pass(): Promise<number> {
    try {
      return await this.reap();
    } catch (err) {
      this.deps.logger.error({ err }, 'reaper pass failed');
      return 0;
    }
  }

  private async reap(): Promise<number> {
    const { runtime, instanceId, logger } = this.deps;
    let containers;
    try {
      containers = await runtime.listManaged();
    } catch {
      return 0; // engine unreachable: try again next time
    }
    if (this.stopping) return 0; // stopped while listing: the database may be closing
    const stale = await this.deps.staleInstances();
    // Read after the listing: a run that ended meanwhile has its container listed and is not live.
    const live = this.deps.liveRunIds();
    const now = Date.now();
    let removed = 0;
    for (const c of containers) {
      const mine = c.instanceId === instanceId;
      const orphan =
        (mine && !live.has(c.runId)) ||
        (c.deadline !== null && c.deadline < now && !live.has(c.runId)) ||
        (!mine && stale.has(c.instanceId));
      if (!orphan) continue;
      try {
        await runtime.remove(c.id);
        removed++;
        logger.warn(
          { containerId: c.id.slice(0, 12), runId: c.runId, instance: c.instanceId },
          'reaped orphaned container',
        );
      } catch {
        // gone already, or the engine went away; next pass
      }
    }
    return removed;
  }
}
