import type { RunEventStore } from '../../db/contract.js';
import type { RunEventRow } from '../../db/rows.js';
import type { RunEventSignals } from './event-signals.js';

/** What following a run's log needs. */
export interface LogFollowing {
  events: RunEventStore;
  /** Wakes a reader when this process writes more of the log. */
  signals?: RunEventSignals;
  /** Whether the run has ended (its row in the store says so). */
  runEnded(runId: string): Promise<boolean>;
  /** How long a reader waits for a wake-up before it looks again (a run on another replica sends none). */
  pollMs?: number;
  pageSize?: number;
}

/**
 * A run's log after `afterSeq`, then, while the run goes on, what is written to it, to `done`.
 * A run writes its whole log before it stores its end, so a reader who finds the run ended reads
 * once more and has it all; a run that ended without a `done` in its log (its process died, or
 * the run is older than the log) ends the reading there.
 */
export async function* followLog(
  f: LogFollowing,
  runId: string,
  afterSeq: number,
  signal?: AbortSignal,
): AsyncGenerator<RunEventRow> {
  const pageSize = f.pageSize ?? 500;
  const pollMs = f.pollMs ?? 250;
  let seq = afterSeq;
  let ended = false;
  while (!signal?.aborted) {
    const rows = await f.events.after(runId, seq, pageSize);
    for (const row of rows) {
      yield row;
      if (row.type === 'done') return;
      seq = row.seq;
    }
    if (rows.length === pageSize) continue;
    if (ended) return;
    ended = await f.runEnded(runId);
    if (!ended) await (f.signals ? f.signals.wait(runId, pollMs) : new Promise((r) => setTimeout(r, pollMs)));
  }
}
