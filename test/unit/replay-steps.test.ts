import { describe, expect, it } from 'vitest';
import type { MessageRow, RunEventRow, RunEventType } from '../../src/db/rows.js';
import { claudeSessionFile } from '../../src/runner/agents/claude/session-file.js';
import { historyFile } from '../../src/runner/agents/command/history-file.js';
import { geminiSessionFile } from '../../src/runner/agents/gemini/session-file.js';
import { cutMiddle } from '../../src/runner/events/cut-middle.js';
import { stepsByRun, type TurnSteps } from '../../src/runner/events/turn-steps.js';
import { boundWithSteps } from '../../src/runner/run/replay-steps.js';
import { replayedSize } from '../../src/db/shared/replay.js';

const msg = (id: number, role: 'user' | 'assistant', content: string, runId = `run_${Math.ceil(id / 2)}`) =>
  ({ id, role, content, runId, createdAt: 1_000 * id, omittedBytes: 0, sessionId: 's' }) as MessageRow;
const row = (runId: string, seq: number, type: RunEventType, data: object): RunEventRow => ({
  runId,
  seq,
  type,
  data: JSON.stringify(data),
  createdAt: 0,
});
const lines = (b: Buffer) =>
  b
    .toString()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

/** Turn 1 (run_1): a Read that answered, a Bash that failed, a call the run never got an answer to. */
const LOG = [
  row('run_1', 2, 'tool_use', { id: 't1', name: 'Read', parameters: { path: 'a' } }),
  row('run_1', 3, 'stderr', { data: 'warn\n' }),
  row('run_1', 4, 'tool_result', { id: 't1', status: 'success', output: 'A', error: null }),
  row('run_1', 5, 'tool_use', { id: 't2', name: 'Bash', parameters: { command: 'false' } }),
  row('run_1', 6, 'tool_result', { id: 't2', status: 'error', output: null, error: 'exit 1' }),
  row('run_1', 7, 'tool_use', { id: 't3', name: 'Bash', parameters: { command: 'sleep 99' } }),
  row('run_1', 8, 'done', { exit_code: 0 }),
  row('run_2', 9, 'tool_result', { id: 'nope', status: 'success', output: 'orphan', error: null }),
];
const HISTORY = [msg(1, 'user', 'q1'), msg(2, 'assistant', 'a1'), msg(3, 'user', 'q2'), msg(4, 'assistant', 'a2')];

describe('the steps of earlier turns, from their logs', () => {
  it('pairs each call with its result in order, keeps stderr and the exit code, and drops an orphan result', () => {
    const steps = stepsByRun(LOG);
    expect(steps.get('run_1')).toEqual({
      tools: [
        { id: 't1', name: 'Read', input: { path: 'a' }, status: 'success', output: 'A', error: null },
        { id: 't2', name: 'Bash', input: { command: 'false' }, status: 'error', output: null, error: 'exit 1' },
        { id: 't3', name: 'Bash', input: { command: 'sleep 99' }, status: null, output: null, error: null },
      ],
      stderr: 'warn\n',
      exitCode: 0,
    });
    expect(steps.get('run_2')).toEqual({ tools: [], stderr: '', exitCode: undefined });
  });

  it('cuts a long text to its head and tail, between characters, with a note', () => {
    const text = `${'é'.repeat(600)}middle${'ü'.repeat(600)}`;
    const cut = cutMiddle(text, 1000);
    expect(cut).toMatch(/^é+\n\[ephemera: \d+ bytes left out\]\nü+$/);
    expect(Buffer.byteLength(cut)).toBeLessThan(1100);
    expect(cut).not.toContain('\ufffd');
    expect(cutMiddle('short', 1000)).toBe('short');
  });

  it('drops whole turns, oldest first, once the steps count toward the bound', () => {
    const steps = new Map<string, TurnSteps>([
      [
        'run_1',
        {
          tools: [{ id: 't', name: 'n', input: {}, status: 'success', output: 'x'.repeat(5000), error: null }],
          stderr: '',
          exitCode: 0,
        },
      ],
    ]);
    const replay = {
      kept: true,
      messages: HISTORY,
      omitted: 3,
      bytes: HISTORY.reduce((n, m) => n + replayedSize(m), 0),
    };
    const roomy = boundWithSteps(replay, steps, 100_000);
    expect(roomy.messages).toEqual(HISTORY);
    expect(roomy.bytes).toBeGreaterThan(5000 + replay.bytes);
    const tight = boundWithSteps(replay, steps, 2000);
    expect(tight.messages.map((m) => m.id)).toEqual([3, 4]);
    expect(tight.omitted).toBe(5);
    expect(tight.bytes).toBeLessThanOrEqual(2000);
    expect(boundWithSteps(replay, steps, 10).messages).toEqual([]);
  });
});

describe('replay files with the tools of earlier turns', () => {
  const steps = stepsByRun(LOG);

  it('claude: each call in an assistant message, its result in the next user message, then the reply', () => {
    const l = lines(claudeSessionFile(HISTORY, '/workspace', 0, steps).content).filter((x) => x.type !== 'attachment');
    const content = l.map((x) => x.message.content);
    expect(l.map((x) => x.type)).toEqual([
      'user',
      ...Array(3).fill(['assistant', 'user']).flat(),
      'assistant',
      'user',
      'assistant',
    ]);
    expect(content[1]).toEqual([{ type: 'tool_use', id: 't1', name: 'Read', input: { path: 'a' } }]);
    expect(l[1].message.stop_reason).toBe('tool_use');
    expect(content[2]).toEqual([{ type: 'tool_result', tool_use_id: 't1', content: 'A' }]);
    expect(content[4]).toEqual([{ type: 'tool_result', tool_use_id: 't2', content: 'exit 1', is_error: true }]);
    expect(content[6]).toEqual([
      { type: 'tool_result', tool_use_id: 't3', content: expect.stringContaining('ended before'), is_error: true },
    ]);
    expect(content[7]).toEqual([{ type: 'text', text: 'a1' }]);
    // Chained as the CLI writes them: each line's parent is the line before.
    const all = lines(claudeSessionFile(HISTORY, '/workspace', 0, steps).content);
    for (let i = 1; i < all.length; i++) expect(all[i].parentUuid).toBe(all[i - 1].uuid);
  });

  it('gemini: each call a record with empty content and its result as a functionResponse, then the reply', () => {
    const l = lines(geminiSessionFile(HISTORY, '/workspace', 0, steps)).slice(1);
    expect(l.map((x) => [x.type, x.content])).toEqual([
      ['user', [{ text: 'q1' }]],
      ['gemini', ''],
      ['gemini', ''],
      ['gemini', ''],
      ['gemini', 'a1'],
      ['user', [{ text: 'q2' }]],
      ['gemini', 'a2'],
    ]);
    expect(l[1].toolCalls).toEqual([
      {
        id: 't1',
        name: 'Read',
        args: { path: 'a' },
        result: [{ functionResponse: { id: 't1', name: 'Read', response: { output: 'A' } } }],
        status: 'success',
        timestamp: expect.any(String),
      },
    ]);
    expect(l[2].toolCalls[0].result[0].functionResponse.response).toEqual({ error: 'exit 1' });
    expect(l[3].toolCalls[0].result[0].functionResponse.response.error).toContain('ended before');
  });

  it("shell: each reply's line carries its run's stderr and exit code", () => {
    const l = lines(historyFile(HISTORY, 0, steps).content);
    expect(l[1]).toMatchObject({ role: 'assistant', content: 'a1', stderr: 'warn\n', exit_code: 0 });
    expect(l[0]).not.toHaveProperty('stderr');
    expect(l[3]).not.toHaveProperty('exit_code');
  });
});
