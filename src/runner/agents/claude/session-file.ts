import { randomUUID } from 'node:crypto';
import type { MessageRow } from '../../../db/rows.js';
import { omittedNote } from '../agent.js';
import { type LoggedToolCall, toolErrorText } from '../../events/tool-calls.js';
import type { TurnSteps } from '../../events/turn-steps.js';

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
  steps: ReadonlyMap<string, TurnSteps> = new Map(),
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
    // Each tool round as the CLI wrote it: the call in an assistant message, its result in the next user one.
    if (m.role === 'assistant')
      for (const t of steps.get(m.runId)?.tools ?? []) {
        add('assistant', { message: apiMessage(`${m.id}_${t.id}`, [toolUse(t)], 'tool_use') }, m.createdAt);
        add('user', { message: { role: 'user', content: [toolResult(t)] } }, m.createdAt);
      }
    // A failed turn can leave an empty reply; the API rejects text blocks of only whitespace.
    if (m.content.trim() === '') continue;
    if (m.role === 'user') {
      add('user', { message: { role: 'user', content: note + m.content } }, m.createdAt);
      note = '';
    } else {
      add(
        'assistant',
        { message: apiMessage(String(m.id), [{ type: 'text', text: m.content }], 'end_turn') },
        m.createdAt,
      );
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

/** An assistant message as the Messages API returns it (the CLI's file keeps them so). */
function apiMessage(id: string, content: object[], stopReason: 'end_turn' | 'tool_use') {
  return {
    id: `msg_ephemera_${id}`,
    type: 'message',
    role: 'assistant',
    model: 'replayed',
    content,
    stop_reason: stopReason,
    stop_sequence: null,
    usage: { input_tokens: 0, output_tokens: 0 },
  };
}

const toolUse = (t: LoggedToolCall) => ({ type: 'tool_use', id: t.id, name: t.name, input: t.input ?? {} });

/** A tool's answer; one the run never got (it ended first) is an error, so no call goes unanswered. */
function toolResult(t: LoggedToolCall) {
  const failed = t.status !== 'success';
  // The API refuses an error result without text.
  const text = t.output ?? toolErrorText(t) ?? (failed ? `[ephemera: the tool failed (${t.status})]` : '');
  return { type: 'tool_result', tool_use_id: t.id, content: text, ...(failed && { is_error: true }) };
}
