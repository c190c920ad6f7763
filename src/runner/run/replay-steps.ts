import type { Replay, RunEventStore } from '../../db/contract.js';
import type { MessageRow } from '../../db/rows.js';
import { replayedSize } from '../../db/shared/replay.js';
import { cutMiddle } from '../events/cut-middle.js';
import { STEP_EVENT_TYPES, stepsByRun, stepsSize, type TurnSteps } from '../events/turn-steps.js';

/** A long tool result, or a turn's stderr, is replayed as its head and tail around a note. */
export const REPLAYED_TOOL_OUTPUT_BYTES = 16 * 1024;
export const REPLAYED_STDERR_BYTES = 8 * 1024;

/** The replay with each replayed reply's steps (tool calls, stderr, exit code), keyed by run id. */
export interface ReplayWithSteps {
  replay: Replay;
  steps: ReadonlyMap<string, TurnSteps>;
}

/**
 * The earlier turns' steps, read from their runs' logs, cut as above; then the
 * replay bounded again with them counted: whole turns dropped oldest first, so it stays under
 * `maxBytes` and still starts with a prompt.
 */
export async function replayWithSteps(
  replay: Replay,
  events: RunEventStore,
  maxBytes: number,
): Promise<ReplayWithSteps> {
  const runIds = [...new Set(replay.messages.filter((m) => m.role === 'assistant').map((m) => m.runId))];
  const steps = new Map<string, TurnSteps>();
  // Newest first, a few runs a query, until the steps alone fill the bound: older turns would be dropped anyway,
  // so a long session's logs are not read (a run's log may hold up to EVENT_LOG_MAX_BYTES).
  let size = 0;
  for (let end = runIds.length; end > 0 && size <= maxBytes; end -= RUNS_PER_READ) {
    const read = stepsByRun(await events.ofRuns(runIds.slice(Math.max(0, end - RUNS_PER_READ), end), STEP_EVENT_TYPES));
    for (const [runId, s] of read) {
      cutSteps(s);
      size += stepsSize(s);
      steps.set(runId, s);
    }
  }
  return { replay: steps.size === 0 ? replay : boundWithSteps(replay, steps, maxBytes), steps };
}

const RUNS_PER_READ = 8;

/** A turn's steps as a replay holds them: long texts as their head and tail. */
function cutSteps(s: TurnSteps): void {
  s.stderr = cutMiddle(s.stderr, REPLAYED_STDERR_BYTES);
  for (const t of s.tools) {
    if (t.output !== null) t.output = cutMiddle(t.output, REPLAYED_TOOL_OUTPUT_BYTES);
    if (t.error !== null && t.error !== undefined)
      t.error = cutMiddle(typeof t.error === 'string' ? t.error : JSON.stringify(t.error), REPLAYED_TOOL_OUTPUT_BYTES);
    t.input = cutInput(t.input);
  }
}

/** A tool's input over the bound (a file a Write tool wrote, say) is replayed as a note with its head and tail. */
function cutInput(input: unknown): unknown {
  const json = JSON.stringify(input ?? null);
  return Buffer.byteLength(json) <= REPLAYED_TOOL_OUTPUT_BYTES
    ? input
    : { ephemera_cut: cutMiddle(json, REPLAYED_TOOL_OUTPUT_BYTES) };
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
