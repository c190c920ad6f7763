import type { AgentProfile } from '../config/profiles.js';
import type { MessageRow } from '../db/schema.js';
import type { ContainerFile } from './runtime.js';

export const HISTORY_PATH = '/ephemera/history.jsonl';

/** One line of /ephemera/history.jsonl. */
export interface HistoryLine {
  role: 'user' | 'assistant';
  content: string;
  run_id: string;
  time: string;
}

export function historyJsonl(history: MessageRow[]): Buffer {
  const lines = history.map((m) =>
    JSON.stringify({ role: m.role, content: m.content, run_id: m.runId, time: new Date(m.createdAt).toISOString() } satisfies HistoryLine),
  );
  return Buffer.from(lines.map((l) => `${l}\n`).join(''), 'utf8');
}

/** The files that carry a session's earlier turns into a new container, per the profile. */
export function replayFiles(profile: AgentProfile, history: MessageRow[]): ContainerFile[] {
  switch (profile.replay) {
    case 'history-file':
      return [{ path: HISTORY_PATH, content: historyJsonl(history), mode: 0o444 }];
    case 'none':
      return [];
  }
}
