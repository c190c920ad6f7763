import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerRuntime } from '../src/runner/docker/docker-runtime.js';
import { startEngineProxy } from './helpers/engine-proxy.js';
import { createHarness, jsonOf, post, waitFor, type Harness } from './helpers/harness.js';

let proxy: Awaited<ReturnType<typeof startEngineProxy>>;
let h: Harness;
beforeAll(async () => {
  proxy = await startEngineProxy();
  h = createHarness({ runtime: new DockerRuntime(new Docker({ socketPath: proxy.path })), reapIntervalMs: 500 });
  await h.service.startBackground();
});
afterAll(async () => {
  proxy.restore();
  await h.close();
  await proxy.close();
});

describe('the engine goes away mid-run and comes back', () => {
  it('ends the run with a clear error, stays up, says not ready, then recovers and reaps the orphan', async () => {
    const res = await h.app.request(post('/v1/run', 'echo started; sleep 60', { accept: 'text/event-stream' }));
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('started')) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`stream ended before any output: ${text}`);
      text += new TextDecoder().decode(value);
    }

    proxy.cut();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text).toMatch(/event: error\ndata: \{"error":\{"code":"RUNTIME_UNAVAILABLE"/);
    expect(text).toMatch(/event: done\ndata: \{"status":"failed"/);
    const run = (await h.service.transcripts.getRun(res.headers.get('x-run-id')!))!;
    expect(run).toMatchObject({ status: 'failed', errorCode: 'RUNTIME_UNAVAILABLE' });
    expect((await h.service.transcripts.messagesOf(run.sessionId)).map((m) => m.content)).toEqual([
      'echo started; sleep 60',
      'started\n',
    ]);

    // While it is gone: not ready, but serving; new runs fail fast with 503 and keep the message.
    expect((await h.app.request('/readyz')).status).toBe(503);
    expect((await h.app.request('/healthz')).status).toBe(200);
    const refused = await h.app.request(post('/v1/run', 'echo while down'));
    expect(refused.status).toBe(503);
    expect(await jsonOf(refused)).toMatchObject({ error: { code: 'RUNTIME_UNAVAILABLE' } });
    expect(
      (await h.service.transcripts.messagesOf(refused.headers.get('x-session-id')!)).map((m) => m.content),
    ).toEqual(['echo while down']);

    // The container kept running on the real engine: an orphan the reaper must remove.
    expect((await h.leftovers()).length).toBe(1);
    proxy.restore();
    await waitFor(async () => (await h.app.request('/readyz')).status === 200, 5000);
    await waitFor(async () => (await h.leftovers()).length === 0, 5000);
    const after = await jsonOf(h.app.request(post('/v1/run', 'echo back', { accept: 'application/json' })));
    expect(after).toMatchObject({ status: 'succeeded', output: 'back\n' });
  });
});
