import { createHash, randomUUID } from 'node:crypto';
import type { MessageRow } from '../../db/schema.js';

export const SESSION_FILE_PATH = '/ephemera/session.jsonl';

/**
 * Writes a session's earlier turns as a Gemini CLI session file (the JSONL format the
 * CLI itself writes under ~/.gemini/tmp/<project>/chats/): a metadata line, then one line
 * a message, user content as parts and model content as text. `--session-file` loads it.
 */
export function geminiSessionFile(history: MessageRow[], workdir: string): Buffer {
  const start = new Date(history[0]?.createdAt ?? Date.now()).toISOString();
  const last = new Date(history.at(-1)?.createdAt ?? Date.now()).toISOString();
  const lines: unknown[] = [
    {
      sessionId: randomUUID(),
      projectHash: createHash('sha256').update(workdir).digest('hex'),
      startTime: start,
      lastUpdated: last,
      kind: 'main',
    },
  ];
  for (const m of history) {
    // A failed turn can leave an empty reply; the model API rejects empty parts.
    if (m.content === '') continue;
    lines.push({
      id: `ephemera-${m.id}`,
      timestamp: new Date(m.createdAt).toISOString(),
      type: m.role === 'user' ? 'user' : 'gemini',
      content: m.role === 'user' ? [{ text: m.content }] : m.content,
    });
  }
  return Buffer.from(lines.map((l) => `${JSON.stringify(l)}\n`).join(''), 'utf8');
}
