import type { RunEventRow } from '../../db/rows.js';
import { type LoggedToolCall, toolCallsByRun } from './tool-calls.js';

/** What a replay tells an agent of an earlier turn besides its prompt and reply, from the turn's run log. */
export interface TurnSteps {
  /** The tools the run called, in order, with their results. */
  tools: LoggedToolCall[];
  /** What the run printed on stderr, as its stream sent it (command agents). */
  stderr: string;
  /** How the run's process exited (undefined: its log has no end). */
  exitCode: number | null | undefined;
}

/** The event types a replay reads of each earlier run. */
export const STEP_EVENT_TYPES = ['tool_use', 'tool_result', 'stderr', 'done'] as const;

/** Each run's steps, from its events of STEP_EVENT_TYPES (each run's in order). */
export function stepsByRun(rows: readonly RunEventRow[]): Map<string, TurnSteps> {
  const tools = toolCallsByRun(rows);
  const steps = new Map<string, TurnSteps>();
  const of = (runId: string) => {
    const known = steps.get(runId);
    if (known) return known;
    const s: TurnSteps = { tools: tools.get(runId) ?? [], stderr: '', exitCode: undefined };
    steps.set(runId, s);
    return s;
  };
  for (const row of rows) {
    const s = of(row.runId);
    if (row.type === 'stderr') s.stderr += (JSON.parse(row.data) as { data: string }).data;
    else if (row.type === 'done') s.exitCode = (JSON.parse(row.data) as { exit_code: number | null }).exit_code;
  }
  return steps;
}

/** The bytes a turn's steps add to a replay, once cut (the count REPLAY_MAX_BYTES bounds). */
export function stepsSize(s: TurnSteps): number {
  let n = Buffer.byteLength(s.stderr);
  for (const t of s.tools) n += Buffer.byteLength(JSON.stringify(t)) + 200;
  return n;
}
