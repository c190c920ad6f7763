import type { MessageRow } from '../../../db/rows.js';
import type { ContainerFile } from '../../runtime.js';
import { omittedNote } from '../agent.js';
import type { TurnSteps } from '../../events/turn-steps.js';

export const HISTORY_PATH = '/ephemera/history.jsonl';

/** One line of /ephemera/history.jsonl. */
export type HistoryLine =
  | { role: 'user'; content: string; run_id: string; time: string }
  /** A reply, with what its run printed on stderr and how it exited (when its run's log has them). */
  | { role: 'assistant'; content: string; run_id: string; time: string; stderr?: string; exit_code?: number | null }
  /** First, only when older messages were left out (REPLAY_MAX_BYTES). */
  | { role: 'system'; content: string; omitted_messages: number };

/**
 * The session's earlier turns, one JSON object a line, read-only to the process. Built
 * as one buffer from per-line buffers, without a joined string in between.
 */
export function historyFile(
  history: MessageRow[],
  omitted = 0,
  steps: ReadonlyMap<string, TurnSteps> = new Map(),
): ContainerFile {
  const line = (l: HistoryLine) => Buffer.from(`${JSON.stringify(l)}\n`, 'utf8');
  const lines = history.map((m) => {
    const common = { content: m.content, run_id: m.runId, time: new Date(m.createdAt).toISOString() };
    if (m.role === 'user') return line({ role: 'user', ...common });
    const s = steps.get(m.runId);
    const ended = s?.exitCode !== undefined;
    return line({
      role: 'assistant',
      ...common,
      ...(s && { stderr: s.stderr }),
      ...(ended && { exit_code: s.exitCode }),
    });
  });
  if (omitted > 0) lines.unshift(line({ role: 'system', content: omittedNote(omitted), omitted_messages: omitted }));
  return { path: HISTORY_PATH, content: Buffer.concat(lines), mode: 0o444 };
}
