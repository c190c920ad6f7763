import type { Replay } from '../contract.js';
import type { MessageRow } from '../rows.js';

/** What a profile with `replay: none` gets: nothing read, nothing recorded. */
export const NO_REPLAY: Replay = { kept: false, messages: [], omitted: 0, bytes: 0 };

/** A message's line in a replay file: its content JSON-escaped, plus the line's other fields. */
export const REPLAY_LINE_OVERHEAD = 160;
export const replayedSize = (m: MessageRow) => Buffer.byteLength(JSON.stringify(m.content)) + REPLAY_LINE_OVERHEAD;
