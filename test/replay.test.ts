import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, post, type Harness, jsonOf } from './helpers/harness.js';

let h: Harness;
beforeAll(() => {
  h = createHarness();
});
afterEach(async () => expect(await h.leftovers()).toEqual([]));
afterAll(() => h.close());

async function turn(path: string, prompt: string) {
  const res = await h.app.request(post(path, prompt, { accept: 'application/json' }));
  expect(res.status).toBe(200);
  return (await jsonOf(res)) as { session_id: string; run_id: string; output: string; status: string };
}

describe('replaying a session into a new container', () => {
  it('shows the earlier turns at /ephemera/history.jsonl, one JSON object a turn', async () => {
    const first = await turn('/v1/run', 'echo "hello from turn 1"; hostname');
    const second = await turn(`/v1/sessions/${first.session_id}/messages`, 'wc -l < /ephemera/history.jsonl; hostname');
    expect(second.session_id).toBe(first.session_id);
    const [lines, host2] = second.output.trim().split('\n');
    expect(lines).toBe('2');
    // A new container: another hostname (the container id).
    expect(host2).not.toBe(first.output.trim().split('\n')[1]);

    const third = await turn(`/v1/sessions/${first.session_id}/messages`, 'cat /ephemera/history.jsonl');
    const history = third.output
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(history.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(history[0]).toMatchObject({ content: 'echo "hello from turn 1"; hostname', run_id: first.run_id });
    expect(history[1].content).toBe(first.output);
    expect(history[3]).toMatchObject({ content: second.output, run_id: second.run_id });
    expect(Date.parse(history[0].time)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('starts a new session with an empty history', async () => {
    const r = await turn('/v1/run', 'wc -c < /ephemera/history.jsonl');
    expect(r.output.trim()).toBe('0');
  });

  it('keeps the history file read-only to the prompt', async () => {
    const first = await turn('/v1/run', 'echo one');
    const r = await turn(
      `/v1/sessions/${first.session_id}/messages`,
      'id -u; echo tamper > /ephemera/history.jsonl 2>/dev/null && echo WROTE; rm -f /ephemera/history.jsonl 2>/dev/null && echo REMOVED; touch /ephemera/new 2>/dev/null && echo CREATED; wc -l < /ephemera/history.jsonl',
    );
    expect(r.output).toBe('1000\n2\n');
  });

  it('replays what is stored even after a failed turn, with its stderr and exit code', async () => {
    const first = await turn('/v1/run', 'echo partial; echo "it broke" >&2; exit 7');
    expect(first.status).toBe('failed');
    const r = await turn(`/v1/sessions/${first.session_id}/messages`, 'sed -n 2p /ephemera/history.jsonl');
    expect(JSON.parse(r.output)).toEqual({
      role: 'assistant',
      content: 'partial\n',
      run_id: first.run_id,
      time: expect.any(String),
      stderr: 'it broke\n',
      exit_code: 7,
    });
  });
});
