import type { Replay } from '../contract.js';
import type { MessageRow } from '../rows.js';

/** What a profile with `replay: none` gets: nothing read, nothing recorded. */
export const NO_REPLAY: Replay = { kept: false, messages: [], omitted: 0, bytes: 0 };

/** A message's line in a replay file: its content JSON-escaped, plus the line's other fields. */
export const REPLAY_LINE_OVERHEAD = 160;
export const replayedSize = (m: MessageRow) => Buffer.byteLength(JSON.stringify(m.content)) + REPLAY_LINE_OVERHEAD;

/**
 * The replay walk both stores share: the newest messages (given newest first, read only as far
 * as the bound) that fit in `maxBytes` as replayed, oldest first, never starting with a reply
 * whose prompt was left out, and how many older ones were left out (`countAll`: the messages
 * before the turn, all of them).
 */
export async function replayOf(
  newestFirst: Iterable<MessageRow> | AsyncIterable<MessageRow>,
  maxBytes: number,
  countAll: () => number | Promise<number>,
): Promise<Replay> {
  const kept: MessageRow[] = [];
  let bytes = 0;
  for await (const m of newestFirst) {
    const size = replayedSize(m);
    if (bytes + size > maxBytes) break;
    kept.push(m);
    bytes += size;
  }
  while (kept.at(-1)?.role === 'assistant') bytes -= replayedSize(kept.pop()!);
  kept.reverse();
  return { kept: true, messages: kept, omitted: (await countAll()) - kept.length, bytes };
}
