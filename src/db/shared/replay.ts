import type { Replay } from '../contract.js';
import type { MessageRow } from '../rows.js';

/** What a profile with `replay: none` gets: nothing read, nothing recorded. */
export const NO_REPLAY: Replay = { kept: false, messages: [], omitted: 0, bytes: 0 };

/** A message's line in a replay file: its content JSON-escaped, plus the line's other fields. */
export const REPLAY_LINE_OVERHEAD = 160;
export const replayedSize = (m: MessageRow) => Buffer.byteLength(JSON.stringify(m.content)) + REPLAY_LINE_OVERHEAD;

/**
 * The replay walk both stores share: given the session's messages newest first (`take` each
 * until it says no more), it keeps the newest that fit in `maxBytes` as replayed, and `end`
 * gives them oldest first, never starting with a reply whose prompt was left out, with how
 * many older ones were left out (`total`: the messages before the turn, all of them). The
 * stores drive it: SQLite synchronously over its statement's iterator (no await may come
 * between two steps of an open better-sqlite3 iterator), Postgres a page at a time.
 */
export class ReplayWalk {
  private readonly kept: MessageRow[] = [];
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** Keeps the message if it fits; false once one does not (the walk is over). */
  take(m: MessageRow): boolean {
    const size = replayedSize(m);
    if (this.bytes + size > this.maxBytes) return false;
    this.kept.push(m);
    this.bytes += size;
    return true;
  }

  end(total: number): Replay {
    const kept = this.kept;
    while (kept.at(-1)?.role === 'assistant') this.bytes -= replayedSize(kept.pop()!);
    kept.reverse();
    return { kept: true, messages: kept, omitted: total - kept.length, bytes: this.bytes };
  }
}
