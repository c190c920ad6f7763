import type { Replay, RunEventStore } from '../../db/contract.js';
import type { MessageRow } from '../../db/rows.js';
import { replayedSize } from '../../db/shared/replay.js';
import { cutForReplay, STEP_EVENT_TYPES, stepsByRun, stepsSize, type TurnSteps } from '../events/turn-steps.js';

/** A long tool result, or a turn's stderr, is replayed as its head and tail around a note. */
export const REPLAYED_TOOL_OUTPUT_BYTES = 16 * 1024;
export const REPLAYED_STDERR_BYTES = 8 * 1024;

/** The replay with each replayed reply's steps (tool calls, stderr, exit code), keyed by run id. */
export interface ReplayWithSteps {
  replay: Replay;
  steps: ReadonlyMap<string, TurnSteps>;
}

/**
 * The earlier turns' steps, read from their runs' logs (one query), cut as above; then the
 * replay bounded again with them counted: whole turns dropped oldest first, so it stays under
 * `maxBytes` and still starts with a prompt.
 */
export async function replayWithSteps(
  replay: Replay,
  events: RunEventStore,
  maxBytes: number,
): Promise<ReplayWithSteps> {
  const runIds = [...new Set(replay.messages.filter((m) => m.role === 'assistant').map((m) => m.runId))];
  if (runIds.length === 0) return { replay, steps: new Map() };
  const steps = stepsByRun(await events.ofRuns(runIds, STEP_EVENT_TYPES));
  for (const s of steps.values()) {
    s.stderr = cutForReplay(s.stderr, REPLAYED_STDERR_BYTES);
    for (const t of s.tools) if (t.output !== null) t.output = cutForReplay(t.output, REPLAYED_TOOL_OUTPUT_BYTES);
  }
  return { replay: boundWithSteps(replay, steps, maxBytes), steps };
}

/** The replay with its steps counted, whole turns dropped oldest first while it is over `maxBytes`. */
export function boundWithSteps(replay: Replay, steps: ReadonlyMap<string, TurnSteps>, maxBytes: number): Replay {
  const size = (m: MessageRow) => {
    const s = m.role === 'assistant' ? steps.get(m.runId) : undefined;
    return replayedSize(m) + (s ? stepsSize(s) : 0);
  };
  const messages = replay.messages;
  let bytes = messages.reduce((n, m) => n + size(m), 0);
  let dropped = 0;
  while (bytes > maxBytes && dropped < messages.length) {
    // A turn is its prompt and the replies after it: the replay never starts with a reply.
    do bytes -= size(messages[dropped++]!);
    while (dropped < messages.length && messages[dropped]!.role === 'assistant');
  }
  return { ...replay, messages: messages.slice(dropped), omitted: replay.omitted + dropped, bytes };
}
