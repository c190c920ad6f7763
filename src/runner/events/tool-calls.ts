import type { RunEventRow } from '../../db/rows.js';

/** A tool call as a run's log kept it: what the agent asked for, and what it got back. */
export interface LoggedToolCall {
  id: string;
  name: string;
  input: unknown;
  /** null: the run ended before the tool answered. */
  status: string | null;
  output: string | null;
  error: unknown;
}

/**
 * What a replay tells of a call that did not succeed, if anything: that the run ended before it
 * answered, or its error as text.
 */
export function toolErrorText(t: LoggedToolCall): string | null {
  if (t.status === null) return '[ephemera: the run ended before this tool answered]';
  if (t.error === null || t.error === undefined) return null;
  return typeof t.error === 'string' ? t.error : JSON.stringify(t.error);
}

/** The event types a run's tool calls are read from. */
export const TOOL_EVENT_TYPES = ['tool_use', 'tool_result'] as const;

/**
 * Each run's tool calls, in the order it made them, from its `tool_use` and `tool_result`
 * events (each run's in order, as RunEventStore.ofRuns gives them). A result is matched to its
 * call by id within the run; one with no call is left out.
 */
export function toolCallsByRun(rows: readonly RunEventRow[]): Map<string, LoggedToolCall[]> {
  const byRun = new Map<string, LoggedToolCall[]>();
  const open = new Map<string, LoggedToolCall>();
  for (const row of rows) {
    if (row.type !== 'tool_use' && row.type !== 'tool_result') continue; // parsed by whoever reads them
    const data = JSON.parse(row.data) as Record<string, unknown>;
    const key = `${row.runId}\u0000${String(data.id)}`;
    if (row.type === 'tool_use') {
      const call: LoggedToolCall = {
        id: String(data.id),
        name: String(data.name),
        input: data.parameters ?? null,
        status: null,
        output: null,
        error: null,
      };
      const calls = byRun.get(row.runId) ?? [];
      if (calls.length === 0) byRun.set(row.runId, calls);
      calls.push(call);
      open.set(key, call);
    } else if (row.type === 'tool_result') {
      const call = open.get(key);
      if (!call) continue;
      call.status = (data.status as string | null) ?? null;
      call.output = (data.output as string | null) ?? null;
      call.error = data.error ?? null;
      open.delete(key);
    }
  }
  return byRun;
}
