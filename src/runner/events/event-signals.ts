/**
 * Tells the readers of a run's log, in this process, that more of it was written: a reader that
 * caught up waits here instead of asking the store again and again. Readers of a run another
 * process runs (a replica on the same Postgres) hear nothing, so they wait with a time limit and
 * look again (the events route).
 */
export class RunEventSignals {
  private readonly waiting = new Map<string, Set<() => void>>();

  /** Resolves at the next `notify(runId)`, or after `ms`, whichever comes first. */
  wait(runId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const set = this.waiting.get(runId) ?? new Set();
      this.waiting.set(runId, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0 && this.waiting.get(runId) === set) this.waiting.delete(runId);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
    });
  }

  notify(runId: string): void {
    for (const wake of [...(this.waiting.get(runId) ?? [])]) wake();
  }
}
