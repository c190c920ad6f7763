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

  constructor(
    private readonly deps: {
      runtime: ContainerRuntime;
      instanceId: string;
      liveRunIds: () => Set<string>;
      staleInstances: () => Set<string>;
      logger: Logger;
    },
  ) {}

  /** One pass; returns how many containers it removed. Never throws (the engine may be down). */
  sweep(): Promise<number> {
    this.sweeping ??= this.pass().finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  start(intervalMs: number): void {
    this.stop();
    void this.sweep();
    this.timer = setInterval(() => void this.sweep(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async pass(): Promise<number> {
    const { runtime, instanceId, logger } = this.deps;
    let containers;
    try {
      containers = await runtime.listManaged();
    } catch {
      return 0; // engine unreachable: try again next time
    }
    const live = this.deps.liveRunIds();
    const stale = this.deps.staleInstances();
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
        logger.warn({ containerId: c.id.slice(0, 12), runId: c.runId, instance: c.instanceId }, 'reaped orphaned container');
      } catch {
        // gone already, or the engine went away; next pass
      }
    }
    return removed;
  }
}
