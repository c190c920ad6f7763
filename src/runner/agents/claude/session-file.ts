import { randomUUID } from 'node:crypto';
import type { MessageRow } from '../../../db/rows.js';
import { omittedNote } from '../agent.js';

/**
 * Where the service puts a replayed session; the image's entrypoint links it where the CLI
 * looks for a project's sessions (~/.claude/projects/<cwd, each non-alphanumeric as ->/).
 */
export const SESSIONS_DIR = '/ephemera/claude/sessions';

/**
 * A session's earlier turns as a Claude Code session file (the JSONL it writes itself):
 * one line a message, each naming the one before as its parent, user content as text and
 * assistant content as an API message. `--resume <sessionId>` continues it.
 */
export function claudeSessionFile(
  history: MessageRow[],
  cwd: string,
  omitted = 0,
): { sessionId: string; content: Buffer } {
  const sessionId = randomUUID();
  const lines: unknown[] = [];
  let parentUuid: string | null = null;
  const add = (type: 'user' | 'assistant' | 'attachment', body: object, at: number) => {
    const uuid = randomUUID();
    lines.push({
      parentUuid,
      isSidechain: false,
      type,
      ...body,
      uuid,
      timestamp: new Date(at).toISOString(),
      sessionId,
      cwd,
      userType: 'external',
    });
    parentUuid = uuid;
    // The CLI takes its environment from the first such line; without one it sends the model an empty system message.
    if (lines.length === 1) add('attachment', { attachment: environment(cwd) }, at);
  };
  // The first kept message is a user's (see TranscriptStore.replayBefore): the note goes before it.
  let note = omitted > 0 ? `${omittedNote(omitted)}\n\n` : '';
  for (const m of history) {
    // A failed turn can leave an empty reply; the API rejects text blocks of only whitespace.
    if (m.content.trim() === '') continue;
    if (m.role === 'user') {
      add('user', { message: { role: 'user', content: note + m.content } }, m.createdAt);
      note = '';
    } else {
      add('assistant', { message: assistantMessage(m) }, m.createdAt);
    }
  }
  // Nothing was kept: the note is the replay.
  if (note !== '')
    add('user', { message: { role: 'user', content: note.trimEnd() } }, history.at(-1)?.createdAt ?? Date.now());
  return { sessionId, content: Buffer.concat(lines.map((l) => Buffer.from(`${JSON.stringify(l)}\n`, 'utf8'))) };
}

const environment = (cwd: string) => ({
  type: 'environment',
  snapshot: {
    workingDirectory: cwd,
    isWorktree: false,
    isGitRepo: false,
    additionalWorkingDirectories: [],
    platform: 'linux',
    shell: 'bash',
    osVersion: 'Linux',
  },
});

function assistantMessage(m: MessageRow) {
  return {
    id: `msg_ephemera_${m.id}`,
    type: 'message',
    role: 'assistant',
    model: 'replayed',
    content: [{ type: 'text', text: m.content }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 0, output_tokens: 0 },
  };
}
