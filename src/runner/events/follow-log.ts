import type { RunEventStore } from '../../db/contract.js';
import type { RunEventRow } from '../../db/rows.js';
import type { RunEventSignals } from './event-signals.js';
import type { TypedEvent } from './typed-event.js';

type DoneData = Extract<TypedEvent, { event: 'done' }>['data'];

/** What following a run's log needs. */
export interface LogFollowing {
  events: RunEventStore;
  /** Wakes a reader when this process writes more of the log. */
  signals?: RunEventSignals;
  /**
   * Undefined while the run goes on. Once it has ended: the `done` data its stored row tells,
   * for a log that lacks one (its process died, a batch could not be written, the run is older
   * than the log); `done: undefined` when there is no end to tell (the run is gone, or its row
   * stayed `running` well past its deadline).
   */
  endOf(runId: string): Promise<{ done: DoneData | undefined } | undefined>;
  /** How long a reader waits for a wake-up before it looks again (a run on another replica sends none). */
  pollMs?: number;
  pageSize?: number;
}

/**
 * A run's log after `afterSeq`, then, while the run goes on, what is written to it, to `done`.
 * A run writes its log but `done` before it stores its end, and `done` right after, so a reader
 * who finds the run ended reads once more and has it all; when `done` is still not there (not yet
 * written, or never: its process died, the run is older than the log), the stored end's stands in.
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
  let end: { done: DoneData | undefined } | undefined;
  while (!signal?.aborted) {
    const rows = await f.events.after(runId, seq, pageSize);
    for (const row of rows) {
      yield row;
      if (row.type === 'done') return;
      seq = row.seq;
    }
    if (rows.length === pageSize) continue;
    if (end) {
      // Read once more after the end was seen, and still no `done`: the stored row's stands in for it,
      // so a client (an EventSource) does not reconnect for ever.
      if (end.done) yield { runId, seq: seq + 1, type: 'done', data: JSON.stringify(end.done), createdAt: Date.now() };
      return;
    }
    end = await f.endOf(runId);
    if (!end) await (f.signals ? f.signals.wait(runId, pollMs) : new Promise((r) => setTimeout(r, pollMs)));
  }
}
