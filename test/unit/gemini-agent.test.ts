import { describe, expect, it } from 'vitest';
import type { MessageRow } from '../../src/db/rows.js';
import { judgeGemini, geminiAgent } from '../../src/runner/agents/gemini/agent.js';
import { geminiSessionFile } from '../../src/runner/agents/gemini/session-file.js';
import { GeminiStreamParser } from '../../src/runner/agents/gemini/stream-parser.js';
import { parseProfiles } from '../../src/settings.js';

const line = (o: unknown) => `${JSON.stringify(o)}\n`;
const result = (status: string, extra: object = {}) =>
  line({
    type: 'result',
    status,
    stats: { input_tokens: 10, output_tokens: 6, total_tokens: 16, tool_calls: 1 },
    ...extra,
  });

describe('GeminiStreamParser', () => {
  it('turns assistant deltas into text, split anywhere, and keeps the reply', () => {
    const out =
      line({ type: 'init', session_id: 's', model: 'm' }) +
      line({ type: 'message', role: 'user', content: 'hi' }) +
      line({ type: 'message', role: 'assistant', content: 'Héllo ', delta: true }) +
      line({ type: 'message', role: 'assistant', content: 'wörld', delta: true }) +
      result('success');
    const bytes = Buffer.from(out);
    const p = new GeminiStreamParser();
    const texts: string[] = [];
    for (let i = 0; i < bytes.length; i += 7) {
      for (const e of p.push(bytes.subarray(i, i + 7))) if (e.type === 'text') texts.push(e.data.toString());
    }
    p.end();
    expect(texts).toEqual(['Héllo ', 'wörld']);
    expect(p.parsed).toMatchObject({
      usage: { inputTokens: 10, outputTokens: 6, totalTokens: 16, toolCalls: 1 },
      result: { status: 'success', errorMessage: null },
    });
  });

  it('pairs tool_use with tool_result and passes errors on as warnings', () => {
    const p = new GeminiStreamParser();
    const events = p.push(
      Buffer.from(
        line({ type: 'tool_use', tool_name: 'read_file', tool_id: 't1', parameters: { path: 'a' } }) +
          line({ type: 'tool_result', tool_id: 't1', status: 'error', error: { type: 'x', message: 'denied' } }) +
          line({ type: 'error', severity: 'warning', message: 'loop detected' }) +
          'not json at all\n',
      ),
    );
    expect(events).toEqual([
      { type: 'tool_use', id: 't1', name: 'read_file', parameters: { path: 'a' } },
      { type: 'tool_result', id: 't1', status: 'error', output: null, error: 'denied' },
      { type: 'warning', message: 'loop detected' },
      { type: 'warning', message: 'unparsed output line: not json at all' },
    ]);
    expect(p.parsed.toolCalls).toEqual([
      { id: 't1', name: 'read_file', parameters: { path: 'a' }, status: 'error', output: 'denied' },
    ]);
  });

  it('reads a last line that has no newline at the end', () => {
    const p = new GeminiStreamParser();
    p.push(Buffer.from(result('success').trimEnd()));
    p.end();
    expect(p.parsed.result?.status).toBe('success');
  });
});

describe('judgeGemini', () => {
  const parsed = (r: { status: 'success' | 'error'; errorMessage: string | null } | null) => ({
    toolCalls: [],
    usage: null,
    result: r,
  });
  it.each([
    [0, parsed({ status: 'success', errorMessage: null }), 'succeeded', null],
    [41, parsed(null), 'failed', 'AUTH_FAILED'],
    [42, parsed(null), 'failed', 'BAD_INPUT'],
    [53, parsed(null), 'failed', 'TURN_LIMIT'],
    [
      1,
      parsed({ status: 'error', errorMessage: '[API Error: {"error":{"code":400,"status":"INVALID_ARGUMENT"}}]' }),
      'failed',
      'MODEL_ERROR',
    ],
    [
      1,
      parsed({ status: 'error', errorMessage: 'API key not valid. Please pass a valid API key.' }),
      'failed',
      'AUTH_FAILED',
    ],
    [0, parsed({ status: 'error', errorMessage: 'quota' }), 'failed', 'MODEL_ERROR'],
    [134, parsed(null), 'failed', 'AGENT_CRASHED'],
    [0, parsed(null), 'failed', 'AGENT_CRASHED'],
  ])('exit %i -> %s', (exit, p, status, code) => {
    const o = judgeGemini(exit, p, true);
    expect(o.status).toBe(status);
    expect(o.error?.code ?? null).toBe(code);
  });
});

describe('the gemini turn', () => {
  const profile = parseProfiles({ default_agent: 'g', profiles: { g: { kind: 'gemini', image: 'i' } } }).profiles.get(
    'g',
  )!;
  const msg = (id: number, role: 'user' | 'assistant', content: string): MessageRow => ({
    id,
    role,
    content,
    omittedBytes: 0,
    sessionId: 's',
    runId: 'r',
    createdAt: 1_700_000_000_000 + id,
  });

  it("passes safe flags, the prompt on stdin, the gateway's URL, and the run's token only as a file owned by the runner", () => {
    const turn = geminiAgent(profile, { token: 'sekrit', baseUrl: 'http://172.18.0.1:8788' }).prepare({
      prompt: 'hello',
      history: [],
      omitted: 0,
    });
    expect(turn.env).toEqual({ GOOGLE_GEMINI_BASE_URL: 'http://172.18.0.1:8788' });
    expect(turn.command).toEqual([
      '--output-format',
      'stream-json',
      '--model',
      'gemini-2.5-flash',
      '--approval-mode',
      'default',
      '--skip-trust',
    ]);
    expect(turn.stdin.toString()).toBe('hello');
    const key = turn.files.find((f) => f.path === '/ephemera/gemini/.env')!;
    expect(key).toMatchObject({ mode: 0o400, uid: 1000 });
    expect(key.content.toString()).toBe('GEMINI_API_KEY=sekrit\n');
    expect(JSON.stringify(turn.command)).not.toContain('sekrit');
  });

  it('writes settings that pick the API key and turn off what a one-run HOME does not need', () => {
    const turn = geminiAgent(profile, undefined).prepare({ prompt: 'hello', history: [], omitted: 0 });
    const settings = JSON.parse(
      turn.files.find((f) => f.path === '/ephemera/gemini/settings.json')!.content.toString(),
    );
    expect(settings).toEqual({
      security: { auth: { selectedType: 'gemini-api-key' } },
      privacy: { usageStatisticsEnabled: false },
      // its clean-up held the lock a --session-file import waits for (100 ms retries)
      general: { sessionRetention: { enabled: false } },
      // no ripgrep in the image: its warning would head every run's stderr
      tools: { useRipgrep: false },
    });
  });

  it('replays history as a session file and passes --session-file', () => {
    const history = [msg(1, 'user', 'q1'), msg(2, 'assistant', 'a1'), msg(3, 'user', 'q2'), msg(4, 'assistant', '')];
    const turn = geminiAgent(profile, undefined).prepare({ prompt: 'q3', history, omitted: 0 });
    expect(turn.command?.slice(-2)).toEqual(['--session-file', '/ephemera/session.jsonl']);
    expect(turn.files.some((f) => f.path.endsWith('.env'))).toBe(false);
    const lines = geminiSessionFile(history, '/workspace')
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({
      sessionId: expect.any(String),
      projectHash: expect.stringMatching(/^[0-9a-f]{64}$/),
      kind: 'main',
    });
    // The empty reply of a failed turn is left out: the model API rejects empty parts.
    expect(lines.slice(1).map((l) => [l.type, l.content])).toEqual([
      ['user', [{ text: 'q1' }]],
      ['gemini', 'a1'],
      ['user', [{ text: 'q2' }]],
    ]);
  });

  it('tells the model how many older messages the replay left out', () => {
    const kept = [msg(7, 'user', 'q4'), msg(8, 'assistant', 'a4')];
    const lines = geminiSessionFile(kept, '/workspace', 6)
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines[1].content[0].text).toMatch(/^\[ephemera: 6 earlier message\(s\) .* left out .*\]\n\nq4$/);
    expect(lines[2].content).toBe('a4');
    // Nothing fitted: the note alone is the replay, and the file is still passed.
    const turn = geminiAgent(profile, undefined).prepare({ prompt: 'q5', history: [], omitted: 2 });
    expect(turn.command?.slice(-2)).toEqual(['--session-file', '/ephemera/session.jsonl']);
    const only = turn.files
      .find((f) => f.path === '/ephemera/session.jsonl')!
      .content.toString()
      .trim()
      .split('\n');
    expect(only).toHaveLength(2);
    expect(JSON.parse(only[1]!).content[0].text).toContain('2 earlier message(s)');
  });
});
