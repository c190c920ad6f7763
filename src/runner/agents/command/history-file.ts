import type { MessageRow } from '../../../db/rows.js';
import type { ContainerFile } from '../../runtime.js';
import { omittedNote } from '../agent.js';

export const HISTORY_PATH = '/ephemera/history.jsonl';

/** One line of /ephemera/history.jsonl. */
export type HistoryLine =
  | { role: 'user' | 'assistant'; content: string; run_id: string; time: string }
  /** First, only when older messages were left out (REPLAY_MAX_BYTES). */
  | { role: 'system'; content: string; omitted_messages: number };

/**
 * The session's earlier turns, one JSON object a line, read-only to the process. Built
 * as one buffer from per-line buffers, without a joined string in between.
 */
export function historyFile(history: MessageRow[], omitted = 0): ContainerFile {
  const line = (l: HistoryLine) => Buffer.from(`${JSON.stringify(l)}\n`, 'utf8');
  const lines = history.map((m) =>
    line({ role: m.role, content: m.content, run_id: m.runId, time: new Date(m.createdAt).toISOString() }),
  );
  if (omitted > 0) lines.unshift(line({ role: 'system', content: omittedNote(omitted), omitted_messages: omitted }));
  return { path: HISTORY_PATH, content: Buffer.concat(lines), mode: 0o444 };
}
