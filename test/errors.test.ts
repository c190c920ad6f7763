import Docker from 'dockerode';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DockerRuntime } from '../src/runner/docker/docker-runtime.js';
import { createHarness, post, type Harness, jsonOf } from './helpers/harness.js';

let h: Harness;
beforeAll(() => {
  h = createHarness({ maxBodyBytes: 1024 });
});
afterEach(async () => expect(await h.leftovers()).toEqual([]));
afterAll(() => h.close());

const count = async (table: string) => (await h.rows<{ n: number }>(`select count(*) as n from ${table}`))[0]!.n;

async function expectError(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = await jsonOf(res);
  expect(body).toEqual({ error: { code, message: expect.any(String) } });
  expect(body.error.message).not.toMatch(/\n\s+at /); // no stack trace
  return body.error.message as string;
}

describe('rejected input writes nothing', () => {
  const json = { 'content-type': 'application/json' };
  const cases: Array<[string, Request, number, string]> = [
    ['empty text body', post('/v1/run', ''), 400, 'EMPTY_PROMPT'],
    ['blank text body', post('/v1/run', '  \n\t'), 400, 'EMPTY_PROMPT'],
    ['empty JSON prompt', post('/v1/run', '{"prompt":""}', json), 400, 'EMPTY_PROMPT'],
    ['malformed JSON', post('/v1/run', '{"prompt":', json), 400, 'INVALID_JSON'],
    ['JSON that is not an object', post('/v1/run', '[1,2]', json), 400, 'INVALID_BODY'],
    ['prompt of the wrong type', post('/v1/run', '{"prompt":5}', json), 400, 'INVALID_BODY'],
    ['missing prompt', post('/v1/run', '{"agent":"shell"}', json), 400, 'INVALID_BODY'],
    ['unknown JSON field', post('/v1/run', '{"prompt":"x","promt":"y"}', json), 400, 'INVALID_BODY'],
    ['zero timeout', post('/v1/run', '{"prompt":"x","timeout_ms":0}', json), 400, 'INVALID_BODY'],
    ['fractional timeout', post('/v1/run', '{"prompt":"x","timeout_ms":1.5}', json), 400, 'INVALID_BODY'],
    ['bad timeout in the query', post('/v1/run?timeout_ms=soon', 'echo'), 400, 'INVALID_BODY'],
    ['unknown agent', post('/v1/run', '{"prompt":"x","agent":"nope"}', json), 400, 'UNKNOWN_AGENT'],
    ['unknown agent in the query', post('/v1/run?agent=nope', 'echo'), 400, 'UNKNOWN_AGENT'],
    [
      'invalid UTF-8',
      new Request('http://localhost/v1/run', { method: 'POST', body: new Uint8Array([0x65, 0xff, 0xfe]) }),
      400,
      'INVALID_UTF8',
    ],
    ['body over the limit', post('/v1/run', 'x'.repeat(1025)), 413, 'PAYLOAD_TOO_LARGE'],
    ['unknown session', post('/v1/sessions/ses_0mwwaaaaa0000000000000000000000/messages', 'echo'), 404, 'NOT_FOUND'],
    ['path-like session id', post('/v1/sessions/..%2F..%2Fetc/messages', 'echo'), 404, 'NOT_FOUND'],
    ['GET on the run route', new Request('http://localhost/v1/run'), 405, 'METHOD_NOT_ALLOWED'],
    ['unknown route', post('/v2/everything', 'x'), 404, 'NOT_FOUND'],
  ];
  it.each(cases)('%s', async (_name, req, status, code) => {
    const before = await Promise.all([count('sessions'), count('runs'), count('messages')]);
    await expectError(await h.app.request(req), status, code);
    expect(await Promise.all([count('sessions'), count('runs'), count('messages')])).toEqual(before);
  });

  it('rejects a body over the limit sent without a content-length', async () => {
    const big = new ReadableStream({
      start(c) {
        for (let i = 0; i < 4; i++) c.enqueue(new TextEncoder().encode('y'.repeat(400)));
        c.close();
      },
    });
    const req = new Request('http://localhost/v1/run', { method: 'POST', body: big, duplex: 'half' } as RequestInit);
    await expectError(await h.app.request(req), 413, 'PAYLOAD_TOO_LARGE');
  });

  it('names the allowed method on a 405', async () => {
    const res = await h.app.request(new Request('http://localhost/v1/run', { method: 'PUT', body: 'x' }));
    expect(res.headers.get('allow')).toBe('POST');
  });
});

describe('conflicts on an existing session', () => {
  it('refuses to switch the agent of a session', async () => {
    const first = await h.app.request(post('/v1/run', 'echo 1', { accept: 'application/json' }));
    const { session_id } = await jsonOf(first);
    const msg = await expectError(
      await h.app.request(post(`/v1/sessions/${session_id}/messages?agent=cat`, 'x')),
      409,
      'AGENT_MISMATCH',
    );
    expect(msg).toContain('shell');
  });

  it('refuses a second turn while the first still runs', async () => {
    const first = await h.app.request(post('/v1/run', 'echo go; sleep 2'));
    const sessionId = first.headers.get('x-session-id')!;
    const before = await count('messages');
    await expectError(await h.app.request(post(`/v1/sessions/${sessionId}/messages`, 'echo 2')), 409, 'SESSION_BUSY');
    expect(await count('messages')).toBe(before);
    expect(await first.text()).toBe('go\n');
  });
});

describe('engine faults', () => {
  it('answers 503 IMAGE_NOT_FOUND for a profile whose image is missing, and keeps the message', async () => {
    const res = await h.app.request(post('/v1/run?agent=ghost', 'hello'));
    const msg = await expectError(res, 503, 'IMAGE_NOT_FOUND');
    expect(msg).toContain('ephemera/no-such-image:never');
    const runId = res.headers.get('x-run-id')!;
    expect(await h.service.transcripts.getRun(runId)).toMatchObject({ status: 'failed', errorCode: 'IMAGE_NOT_FOUND' });
    expect((await h.service.transcripts.messagesOf(res.headers.get('x-session-id')!)).map((m) => m.content)).toEqual([
      'hello',
    ]);
  });

  it('answers 503 RUNTIME_UNAVAILABLE when the engine is unreachable, and keeps the message', async () => {
    const dead = createHarness({
      runtime: new DockerRuntime(new Docker({ socketPath: '/tmp/ephemera-no-engine.sock' })),
    });
    try {
      for (const accept of ['text/plain', 'text/event-stream', 'application/json']) {
        const res = await dead.app.request(post('/v1/run', 'echo lost?', { accept }));
        const msg = await expectError(res, 503, 'RUNTIME_UNAVAILABLE');
        expect(msg).not.toContain('/tmp/ephemera-no-engine.sock');
        const run = await dead.service.transcripts.getRun(res.headers.get('x-run-id')!);
        expect(run).toMatchObject({ status: 'failed', errorCode: 'RUNTIME_UNAVAILABLE' });
        expect(
          (await dead.service.transcripts.messagesOf(res.headers.get('x-session-id')!)).map((m) => m.content),
        ).toEqual(['echo lost?']);
      }
      const ready = await dead.app.request('/readyz');
      expect(ready.status).toBe(503);
      expect(await jsonOf(ready)).toEqual({ status: 'not_ready', checks: { engine: 'unavailable', database: 'ok' } });
      expect((await dead.app.request('/healthz')).status).toBe(200);
    } finally {
      await dead.close();
    }
  });
});
