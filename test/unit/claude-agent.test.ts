import { describe, expect, it } from 'vitest';
import type { MessageRow } from '../../src/db/rows.js';
import { claudeAgent, judgeClaude } from '../../src/runner/agents/claude/agent.js';
import { claudeSessionFile } from '../../src/runner/agents/claude/session-file.js';
import { ClaudeStreamParser } from '../../src/runner/agents/claude/stream-parser.js';
import { parseProfiles } from '../../src/settings.js';

const line = (o: unknown) => `${JSON.stringify(o)}\n`;
const delta = (text: string) =>
  line({ type: 'stream_event', event: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } } });
const start = (id: string) =>
  line({
    type: 'stream_event',
    event: { type: 'message_start', message: { id, usage: { input_tokens: 9, output_tokens: 1 } } },
  });
const assistant = (id: string, content: unknown[]) =>
  line({ type: 'assistant', message: { id, role: 'assistant', content } });
const result = (extra: object = {}) =>
  line({
    type: 'result',
    subtype: 'success',
    is_error: false,
    result: 'ok',
    usage: { input_tokens: 100, cache_read_input_tokens: 20, output_tokens: 7 },
    ...extra,
  });

function parse(out: string, step = 5) {
  const p = new ClaudeStreamParser();
  const bytes = Buffer.from(out);
  const events = [];
  for (let i = 0; i < bytes.length; i += step) events.push(...p.push(bytes.subarray(i, i + step)));
  events.push(...p.end());
  return { p, events };
}

describe('ClaudeStreamParser', () => {
  it('streams text from the deltas, split anywhere, and does not repeat it when the whole message arrives', () => {
    const { p, events } = parse(
      line({ type: 'system', subtype: 'init', session_id: 's', model: 'm' }) +
        start('msg_1') +
        delta('Héllo ') +
        delta('wörld') +
        assistant('msg_1', [{ type: 'text', text: 'Héllo wörld' }]) +
        result(),
    );
    expect(events.filter((e) => e.type === 'text').map((e) => (e as { data: Buffer }).data.toString())).toEqual([
      'Héllo ',
      'wörld',
    ]);
    // Cache reads are input the model took in.
    expect(p.parsed).toMatchObject({
      usage: { inputTokens: 120, outputTokens: 7, totalTokens: 127, toolCalls: 0 },
      result: { status: 'success', errorMessage: null },
    });
  });

  it('takes the text of a whole message that was not streamed', () => {
    const { events } = parse(assistant('msg_2', [{ type: 'text', text: 'all at once' }]) + result());
    expect(events).toEqual([{ type: 'text', data: Buffer.from('all at once') }]);
  });

  it("pairs tool_use with tool_result, and passes the CLI's retries on as warnings", () => {
    const { p, events } = parse(
      assistant('msg_3', [{ type: 'tool_use', id: 't1', name: 'Bash', input: { command: 'ls' } }]) +
        line({
          type: 'user',
          message: {
            role: 'user',
            content: [
              { type: 'tool_result', tool_use_id: 't1', content: [{ type: 'text', text: 'a.txt' }], is_error: false },
            ],
          },
        }) +
        line({
          type: 'user',
          message: {
            role: 'user',
            content: [{ type: 'tool_result', tool_use_id: 't2', content: 'denied', is_error: true }],
          },
        }) +
        line({ type: 'system', subtype: 'api_retry', attempt: 1, max_retries: 10, error_status: 529 }) +
        'not json\n',
      3,
    );
    expect(events).toEqual([
      { type: 'tool_use', id: 't1', name: 'Bash', parameters: { command: 'ls' } },
      { type: 'tool_result', id: 't1', status: 'success', output: 'a.txt', error: null },
      { type: 'tool_result', id: 't2', status: 'error', output: null, error: 'denied' },
      { type: 'warning', message: 'model call failed (status 529, attempt 1); Claude Code retries it' },
      { type: 'warning', message: 'unparsed output line: not json' },
    ]);
    expect(p.parsed.toolCalls).toEqual([
      { id: 't1', name: 'Bash', parameters: { command: 'ls' }, status: 'success', output: 'a.txt' },
    ]);
  });

  it("reads an API error from is_error, since the CLI's subtype still says success", () => {
    const { p } = parse(result({ is_error: true, result: 'API Error: 400 bad request', usage: {} }));
    expect(p.parsed.result).toEqual({ status: 'error', errorMessage: 'API Error: 400 bad request' });
  });
});

describe('judgeClaude', () => {
  const parsedWith = (result: { status: 'success' | 'error'; errorMessage: string | null } | null) => ({
    toolCalls: [],
    usage: null,
    result,
  });
  it.each([
    [1, parsedWith({ status: 'error', errorMessage: 'API Error: 400 nope' }), true, 'MODEL_ERROR'],
    [1, parsedWith({ status: 'error', errorMessage: 'Invalid API key · Fix external API key' }), true, 'AUTH_FAILED'],
    [137, parsedWith(null), true, 'AGENT_CRASHED'],
    [0, parsedWith(null), true, 'AGENT_CRASHED'],
  ])('exit %i with %j is failed, %s', (exit, parsed, hasKey, code) => {
    expect(judgeClaude(exit, parsed, hasKey)).toMatchObject({ status: 'failed', error: { code } });
  });

  it('says what to configure when the gateway has no key', () => {
    const o = judgeClaude(
      1,
      parsedWith({ status: 'error', errorMessage: 'Invalid API key · Fix external API key' }),
      false,
    );
    expect(o.error?.message).toContain('ANTHROPIC_API_KEY');
    expect(judgeClaude(0, parsedWith({ status: 'success', errorMessage: null }), true)).toEqual({
      status: 'succeeded',
      error: null,
    });
  });
});

describe('the claude agent', () => {
  const profile = parseProfiles({
    default_agent: 'c',
    profiles: { c: { kind: 'claude', image: 'i', workdir: '/workspace' } },
  }).profiles.get('c')!;
  const row = (id: number, role: 'user' | 'assistant', content: string): MessageRow =>
    ({ id, sessionId: 's', runId: `r${id}`, role, content, createdAt: 1_700_000_000_000 + id * 1000 }) as MessageRow;

  it('has safe defaults: read-only tools only, its own session replay', () => {
    expect(profile.options).toEqual({
      model: 'sonnet',
      permissionMode: 'default',
      allowedTools: [],
      extraArgs: [],
      budget: {},
    });
    expect(profile.replay).toBe('claude-session');
  });

  it('gives the CLI its token in a file only its user reads, and the gateway in the environment', () => {
    const turn = claudeAgent(profile, { token: 'eph-run-sekrit', baseUrl: 'http://172.18.0.1:8788' }).prepare({
      prompt: 'hello',
      history: [],
      omitted: 0,
    });
    expect(turn.env).toEqual({ ANTHROPIC_BASE_URL: 'http://172.18.0.1:8788' });
    expect(turn.files).toEqual([
      { path: '/ephemera/claude/token', content: Buffer.from('eph-run-sekrit'), mode: 0o400, uid: 1000 },
    ]);
    expect(turn.command).toEqual([
      '-p',
      '--output-format',
      'stream-json',
      '--verbose',
      '--include-partial-messages',
      '--model',
      'sonnet',
      '--permission-mode',
      'default',
    ]);
    expect(turn.stdin.toString()).toBe('hello');
  });

  it('replays earlier turns as a session file it resumes, chained, with the note on what was left out', () => {
    const history = [row(1, 'user', 'q1'), row(2, 'assistant', 'a1'), row(3, 'user', 'q2'), row(4, 'assistant', '')];
    const turn = claudeAgent(profile, undefined).prepare({ prompt: 'q3', history, omitted: 2 });
    const file = turn.files.find((f) => f.path.startsWith('/ephemera/claude/sessions/'))!;
    const sessionId = /([0-9a-f-]{36})\.jsonl$/.exec(file.path)![1];
    expect(turn.command!.slice(-2)).toEqual(['--resume', sessionId]);
    const lines = file.content
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.type)).toEqual(['user', 'attachment', 'assistant', 'user']); // the empty reply is left out
    lines.forEach((l, i) => {
      expect(l.parentUuid).toBe(i === 0 ? null : lines[i - 1].uuid);
      expect(l.sessionId).toBe(sessionId);
      expect(l.timestamp).toMatch(/^\d{4}-\d\d-\d\dT/);
    });
    expect(lines[0].message).toEqual({
      role: 'user',
      content: expect.stringMatching(/2 earlier message\(s\)[\s\S]*\n\nq1$/),
    });
    expect(lines[2].message).toMatchObject({ role: 'assistant', content: [{ type: 'text', text: 'a1' }] });
    expect(lines[1].attachment).toMatchObject({ type: 'environment', snapshot: { workingDirectory: '/workspace' } });
  });

  it('replays nothing on a first turn, and a note alone when every earlier message was left out', () => {
    expect(claudeAgent(profile, undefined).prepare({ prompt: 'q', history: [], omitted: 0 }).files).toEqual([]);
    const { content } = claudeSessionFile([], '/workspace', 3);
    expect(content.toString()).toContain('3 earlier message(s)');
  });
});

describe('a JSON-lines parser', () => {
  it('takes a line that is JSON but not an object as a warning, not an event', () => {
    const { events } = parse(`null\n5\n[1]\n${result()}`, 4);
    expect(events).toEqual(
      ['null', '5', '[1]'].map((l) => ({ type: 'warning', message: `unparsed output line: ${l}` })),
    );
  });
});

describe('what the claude agent leaves out', () => {
  it("does not take the CLI's stand-in for a failed call as the model's reply", () => {
    const synthetic = line({
      type: 'assistant',
      message: { model: '<synthetic>', role: 'assistant', content: [{ type: 'text', text: 'API Error: 400 nope' }] },
      isApiErrorMessage: true,
    });
    const { events, p } = parse(synthetic + result({ is_error: true, result: 'API Error: 400 nope' }));
    expect(events).toEqual([]);
    expect(p.parsed.result?.status).toBe('error');
  });

  it('replays no reply of only whitespace (the API rejects it, and every later turn with it)', () => {
    const rows = [
      { id: 1, role: 'user', content: 'q1', createdAt: 1 },
      { id: 2, role: 'assistant', content: ' \n\t', createdAt: 2 },
    ] as MessageRow[];
    const lines = claudeSessionFile(rows, '/workspace')
      .content.toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.type)).toEqual(['user', 'attachment']);
  });
});
