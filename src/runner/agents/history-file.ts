import type { MessageRow } from '../../db/schema.js';
import type { ContainerFile } from '../runtime.js';

export const HISTORY_PATH = '/ephemera/history.jsonl';

/** One line of /ephemera/history.jsonl. */
export interface HistoryLine {
  role: 'user' | 'assistant';
  content: string;
  run_id: string;
  time: string;
}

/** The session's earlier turns, one JSON object a line, read-only to the process. */
export function historyFile(history: MessageRow[]): ContainerFile {
  const lines = history.map(
    (m) =>
      `${JSON.stringify({ role: m.role, content: m.content, run_id: m.runId, time: new Date(m.createdAt).toISOString() } satisfies HistoryLine)}\n`,
  );
  return { path: HISTORY_PATH, content: Buffer.from(lines.join(''), 'utf8'), mode: 0o444 };
}
