import { request as httpRequest } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, listen, post, waitFor, type Harness, jsonOf } from './helpers/harness.js';

let h: Harness;
let server: Awaited<ReturnType<typeof listen>>;
beforeAll(async () => {
  h = createHarness({ maxTimeoutMs: 5000 });
  server = await listen(h.app);
});
afterEach(async () => expect(await h.leftovers()).toEqual([]));
afterAll(async () => {
  await server.close();
  await h.close();
});

/** Starts a streamed run over a raw socket, waits for `marker`, then drops the connection. */
function runAndDisconnect(prompt: string, marker: string): Promise<{ runId: string; droppedAt: number }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${server.url}/v1/run`,
      { method: 'POST', headers: { 'content-type': 'text/plain' } },
      (res) => {
        let seen = '';
        res.on('data', (chunk: Buffer) => {
          seen += chunk.toString();
          if (seen.includes(marker)) {
            const droppedAt = performance.now();
            req.destroy();
            resolve({ runId: String(res.headers['x-run-id']), droppedAt });
          }
        });
        res.on('error', () => {});
      },
    );
    req.on('error', () => {});
    req.setTimeout(15_000, () => reject(new Error('no marker')));
    req.end(prompt);
  });
}

describe('how runs end', () => {
  it('marks a non-zero exit as failed with its exit code', async () => {
    const res = await h.app.request(post('/v1/run', 'echo some; exit 42', { accept: 'application/json' }));
    const body = await jsonOf(res);
    expect(body).toMatchObject({ status: 'failed', exit_code: 42, output: 'some\n', error: null });
    expect(await h.service.transcripts.getRun(body.run_id)).toMatchObject({ status: 'failed', exitCode: 42 });
  });

  it('kills a run at its deadline, keeps its output and says timeout', async () => {
    const started = performance.now();
    const res = await h.app.request(
      post('/v1/run', JSON.stringify({ prompt: 'echo before; sleep 30; echo after', timeout_ms: 1500 }), {
        'content-type': 'application/json',
        accept: 'application/json',
      }),
    );
    const body = await jsonOf(res);
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(body).toMatchObject({ status: 'timeout', output: 'before\n', error: { code: 'TIMEOUT' } });
    const run = (await h.service.transcripts.getRun(body.run_id))!;
    expect(run).toMatchObject({ status: 'timeout', errorCode: 'TIMEOUT', timeoutMs: 1500 });
    expect((await h.service.transcripts.messagesOf(body.session_id)).map((m) => m.content)).toEqual([
      'echo before; sleep 30; echo after',
      'before\n',
    ]);
  });

  it('lets a request shorten its deadline but not lengthen it past its profile, nor MAX_TIMEOUT_MS', async () => {
    const before = await h.rows('select count(*) as n from runs');
    for (const path of ['/v1/run?agent=cat&timeout_ms=900000', '/v1/run?timeout_ms=999999']) {
      const res = await h.app.request(post(path, 'echo ok', { accept: 'application/json' }));
      expect(res.status, path).toBe(400);
      expect(await jsonOf(res)).toMatchObject({
        error: { code: 'INVALID_BODY', message: expect.stringMatching(/timeout_ms \d+ is over the \d+ ms/) },
      });
    }
    expect(await h.rows('select count(*) as n from runs')).toEqual(before); // refused before anything is stored
    const shorter = await h.app.request(
      post('/v1/run?agent=cat&timeout_ms=3000', 'ok', { accept: 'text/event-stream' }),
    );
    expect(await shorter.text()).toMatch(/event: run\ndata: \{[^\n]*"timeout_ms":3000/);
  });

  it('tells a timeout in SSE with an error and a done event', async () => {
    const res = await h.app.request(
      post('/v1/run?timeout_ms=1000', 'echo hi; sleep 30', { accept: 'text/event-stream' }),
    );
    const text = await res.text();
    expect(text).toContain('event: error\ndata: {"error":{"code":"TIMEOUT"');
    expect(text).toMatch(/event: done\ndata: \{"status":"timeout"/);
  });

  it('kills and removes the container within 2 s when the client disconnects', async () => {
    const { runId, droppedAt } = await runAndDisconnect('echo started; sleep 60; echo never', 'started');
    await waitFor(async () => (await h.leftovers()).length === 0, 2000, 20);
    const goneIn = performance.now() - droppedAt;
    expect(goneIn).toBeLessThan(2000);
    const run = await waitFor(async () => {
      const r = await h.service.transcripts.getRun(runId);
      return r && r.status !== 'running' ? r : undefined;
    });
    expect(run).toMatchObject({ status: 'cancelled', errorCode: 'CANCELLED' });
    const msgs = await h.service.transcripts.messagesOf(run.sessionId);
    expect(msgs.map((m) => m.content)).toEqual(['echo started; sleep 60; echo never', 'started\n']);
  });

  it('cancels a run whose JSON client leaves before it ends', async () => {
    const controller = new AbortController();
    const pending = fetch(`${server.url}/v1/run`, {
      method: 'POST',
      body: 'echo hi; sleep 60',
      headers: { accept: 'application/json' },
      signal: controller.signal,
    }).catch(() => 'aborted');
    const runRow = await waitFor(
      async () => (await h.rows<{ id: string }>(`select id from runs where status = 'running' limit 1`))[0],
    );
    await waitFor(async () => (await h.leftovers()).length > 0);
    await new Promise((r) => setTimeout(r, 300));
    controller.abort();
    expect(await pending).toBe('aborted');
    const run = await waitFor(async () => {
      const r = await h.service.transcripts.getRun(runRow.id);
      return r && r.status !== 'running' ? r : undefined;
    });
    expect(run.status).toBe('cancelled');
    await waitFor(async () => (await h.leftovers()).length === 0, 2000);
  });
});
