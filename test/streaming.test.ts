import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, listen, type Harness, jsonOf } from './helpers/harness.js';

let h: Harness;
let server: Awaited<ReturnType<typeof listen>>;

beforeAll(async () => {
  h = createHarness();
  server = await listen(h.app);
});
afterEach(async () => expect(await h.leftovers()).toEqual([]));
afterAll(async () => {
  await server.close();
  await h.close();
});

/** Reads a streamed body, noting when each chunk arrived. */
async function readTimed(res: Response) {
  const start = performance.now();
  const chunks: Array<{ at: number; text: string }> = [];
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    chunks.push({ at: performance.now() - start, text: decoder.decode(chunk, { stream: true }) });
  }
  return { chunks, endedAt: performance.now() - start, text: chunks.map((c) => c.text).join('') };
}

const SCRIPT = 'echo one; sleep 1; echo two; sleep 1; echo three';

describe('POST /v1/run streaming', () => {
  it('streams plain text as the process prints it, not at the end', async () => {
    const res = await fetch(`${server.url}/v1/run`, { method: 'POST', body: SCRIPT });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(res.headers.get('x-session-id')).toMatch(/^ses_/);
    expect(res.headers.get('x-run-id')).toMatch(/^run_/);
    const { chunks, endedAt, text } = await readTimed(res);
    expect(text).toBe('one\ntwo\nthree\n');
    const first = chunks.find((c) => c.text.includes('one'))!;
    const second = chunks.find((c) => c.text.includes('two'))!;
    // 'one' is printed about 2 s before the process ends and 1 s before 'two'.
    expect(endedAt - first.at).toBeGreaterThan(1500);
    expect(second.at - first.at).toBeGreaterThan(700);
  });

  it('streams SSE events in order: run, stdout/stderr as they come, done', async () => {
    const res = await fetch(`${server.url}/v1/run`, {
      method: 'POST',
      body: 'echo out; echo oops >&2; sleep 1; echo later',
      headers: { accept: 'text/event-stream' },
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const { chunks, text } = await readTimed(res);
    const events = text
      .trim()
      .split('\n\n')
      .map((block) => {
        const event = /^event: (.*)$/m.exec(block)![1];
        const data = JSON.parse(/^data: (.*)$/m.exec(block)![1]!);
        return { event, data };
      });
    expect(events[0]).toMatchObject({
      event: 'run',
      data: { session_id: res.headers.get('x-session-id'), run_id: res.headers.get('x-run-id') },
    });
    const body = events
      .filter((e) => e.event === 'stdout')
      .map((e) => e.data.data)
      .join('');
    expect(body).toBe('out\nlater\n');
    expect(
      events
        .filter((e) => e.event === 'stderr')
        .map((e) => e.data.data)
        .join(''),
    ).toBe('oops\n');
    const done = events.at(-1)!;
    expect(done.event).toBe('done');
    expect(done.data).toMatchObject({ status: 'succeeded', exit_code: 0, error: null });
    expect(done.data.metrics.first_byte_ms).toBeGreaterThan(0);
    expect(done.data.metrics.total_ms).toBeGreaterThanOrEqual(done.data.metrics.first_byte_ms);
    const outAt = chunks.find((c) => c.text.includes('"out\\n"'))!.at;
    const laterAt = chunks.find((c) => c.text.includes('later'))!.at;
    expect(laterAt - outAt).toBeGreaterThan(700);
  });

  it('answers JSON with the same output, stderr and metrics when asked', async () => {
    const res = await fetch(`${server.url}/v1/run`, {
      method: 'POST',
      body: JSON.stringify({ prompt: 'printf "a\\nb"; echo warn >&2' }),
      headers: { accept: 'application/json', 'content-type': 'application/json' },
    });
    expect(res.status).toBe(200);
    const body = await jsonOf(res);
    expect(body).toMatchObject({
      status: 'succeeded',
      exit_code: 0,
      error: null,
      output: 'a\nb',
      stderr: 'warn\n',
      agent: 'shell',
    });
    expect(body.session_id).toBe(res.headers.get('x-session-id'));
    expect(body.run_id).toBe(res.headers.get('x-run-id'));
    for (const k of ['create_ms', 'start_ms', 'first_byte_ms', 'total_ms']) expect(body.metrics[k]).toBeGreaterThan(0);
    expect(body.metrics.bytes_out).toBe(3);
    expect(body.metrics.bytes_err).toBe(5);
  });

  it('gives the same output in all three modes', async () => {
    const prompt = 'for i in 1 2 3 4 5; do echo "line $i ✓"; done';
    const text = await (await fetch(`${server.url}/v1/run`, { method: 'POST', body: prompt })).text();
    const json = await jsonOf(
      fetch(`${server.url}/v1/run`, { method: 'POST', body: prompt, headers: { accept: 'application/json' } }),
    );
    const sse = await (
      await fetch(`${server.url}/v1/run`, { method: 'POST', body: prompt, headers: { accept: 'text/event-stream' } })
    ).text();
    const sseOut = [...sse.matchAll(/event: stdout\ndata: (.*)\n/g)].map((m) => JSON.parse(m[1]!).data).join('');
    expect(text).toBe('line 1 ✓\nline 2 ✓\nline 3 ✓\nline 4 ✓\nline 5 ✓\n');
    expect(json.output).toBe(text);
    expect(sseOut).toBe(text);
  });

  it('records the run and both messages in SQLite', async () => {
    const res = await fetch(`${server.url}/v1/run`, { method: 'POST', body: 'echo stored' });
    await res.text();
    const run = (await h.service.transcripts.getRun(res.headers.get('x-run-id')!))!;
    expect(run).toMatchObject({
      status: 'succeeded',
      exitCode: 0,
      agent: 'shell',
      image: 'ephemera/shell:0.1',
      bytesOut: 7,
    });
    expect(run.endedAt).not.toBeNull();
    const msgs = await h.service.transcripts.messagesOf(res.headers.get('x-session-id')!);
    expect(msgs.map((m) => [m.role, m.content])).toEqual([
      ['user', 'echo stored'],
      ['assistant', 'stored\n'],
    ]);
  });
});
