import { createHash, randomUUID } from 'node:crypto';
import type { MessageRow } from '../../../db/rows.js';
import { omittedNote } from '../agent.js';
import { type LoggedToolCall, toolErrorText } from '../../events/tool-calls.js';
import type { TurnSteps } from '../../events/turn-steps.js';

export const SESSION_FILE_PATH = '/ephemera/session.jsonl';

/**
 * Writes a session's earlier turns as a Gemini CLI session file (the JSONL format the
 * CLI itself writes under ~/.gemini/tmp/<project>/chats/): a metadata line, then one line
 * a message, user content as parts and model content as text. `--session-file` loads it.
 */
export function geminiSessionFile(
  history: MessageRow[],
  workdir: string,
  omitted = 0,
  steps: ReadonlyMap<string, TurnSteps> = new Map(),
): Buffer {
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
    // Each tool call as a record of its own, as the CLI records them: on resume it becomes the
    // model's functionCall, then the user's functionResponse (from `result`). `content` must be
    // there (the loader drops a record without it) and empty (an empty text part is refused).
    if (m.role === 'assistant')
      for (const t of steps.get(m.runId)?.tools ?? []) {
        const at = new Date(m.createdAt).toISOString();
        lines.push({
          id: `ephemera-${m.id}-${t.id}`,
          timestamp: at,
          type: 'gemini',
          content: '',
          toolCalls: [toolCall(t, at)],
        });
      }
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

/** A tool call as the CLI records it; one the run never got an answer to is answered with an error. */
function toolCall(t: LoggedToolCall, timestamp: string) {
  const response =
    t.status === 'success' || (t.output !== null && t.error === null)
      ? { output: t.output ?? '' }
      : { error: toolErrorText(t) ?? t.output ?? 'failed' };
  return {
    id: t.id,
    name: t.name,
    args: t.input ?? {},
    result: [{ functionResponse: { id: t.id, name: t.name, response } }],
    status: t.status === 'success' ? 'success' : 'error',
    timestamp,
  };
}
