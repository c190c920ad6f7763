import { createHash, randomUUID } from 'node:crypto';
import type { MessageRow } from '../../../db/rows.js';
import { omittedNote } from '../agent.js';

export const SESSION_FILE_PATH = '/ephemera/session.jsonl';

/**
 * Writes a session's earlier turns as a Gemini CLI session file (the JSONL format the
 * CLI itself writes under ~/.gemini/tmp/<project>/chats/): a metadata line, then one line
 * a message, user content as parts and model content as text. `--session-file` loads it.
 */
export function geminiSessionFile(history: MessageRow[], workdir: string, omitted = 0): Buffer {
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
  // The first kept message is a user's (see TranscriptStore.replayBefore): the note goes before it.
  let note = omitted > 0 ? `${omittedNote(omitted)}\n\n` : '';
  for (const m of history) {
    // A failed turn can leave an empty reply; the model API rejects empty parts.
    if (m.content === '') continue;
    const text = m.role === 'user' ? note + m.content : m.content;
    if (m.role === 'user') note = '';
    lines.push({
      id: `ephemera-${m.id}`,
      timestamp: new Date(m.createdAt).toISOString(),
      type: m.role === 'user' ? 'user' : 'gemini',
      content: m.role === 'user' ? [{ text }] : text,
    });
  }
  // Nothing was kept: the note is the replay.
  if (note !== '')
    lines.push({ id: 'ephemera-omitted', timestamp: last, type: 'user', content: [{ text: note.trimEnd() }] });
  return Buffer.concat(lines.map((l) => Buffer.from(`${JSON.stringify(l)}\n`, 'utf8')));
}
