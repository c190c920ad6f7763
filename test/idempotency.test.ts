import { connect } from 'node:net';
import Docker from 'dockerode';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EphemeraClient } from '../src/client/ephemera-client.js';
import { newId } from '../src/db/ids.js';
import {
  createHarness,
  jsonOf,
  listen,
  post,
  SHELL_IMAGE,
  TEST_PROFILES,
  waitFor,
  type Harness,
} from './helpers/harness.js';

// Idempotency-Key on the run endpoints: a retried request never stores its turn twice.

const LATE_IMAGE = `ephemera/idempotency-late-${process.pid}:test`;
let h: Harness;
let server: Awaited<ReturnType<typeof listen>>;
beforeAll(async () => {
  h = createHarness({
    profiles: {
      ...TEST_PROFILES,
      profiles: {
        ...TEST_PROFILES.profiles,
        late: { image: LATE_IMAGE, command: ['sh', '-s'], replay: 'history-file' },
      },
    },
  });
  server = await listen(h.app);
});
afterEach(async () =>
  expect(await waitFor(async () => ((await h.leftovers()).length === 0 ? [] : undefined), 10_000)).toEqual([]),
);
afterAll(async () => {
  await server.close();
  await h.close();
});

const keyed = (path: string, body: string, key: string, accept = 'application/json') =>
  h.app.request(post(path, body, { accept, 'idempotency-key': key }));
const messagesOf = async (sessionId: string) =>
  (await h.service.transcripts.messagesOf(sessionId)).map((m) => `${m.role}:${m.content}`);
const runsOf = (sessionId: string) =>
  h.rows<{ id: string; status: string }>(
    'select id, status from runs where session_id = ? order by created_at',
    sessionId,
  );
const key = () => `key-${Math.random().toString(36).slice(2)}`;

describe('a request repeated with its Idempotency-Key', () => {
  it("gets the first run's outcome in any mode, and the turn is stored once", async () => {
    const k = key();
    const first = await jsonOf(keyed('/v1/run', 'echo once; echo oops >&2', k));
    expect(first).toMatchObject({ status: 'succeeded', output: 'once\n' });
    const again = await keyed('/v1/run', 'echo once; echo oops >&2', k);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await jsonOf(again)).toMatchObject({
      run_id: first.run_id,
      session_id: first.session_id,
      status: 'succeeded',
      output: 'once\n',
      stderr: 'oops\n',
    });
    expect(await (await keyed('/v1/run', 'echo once; echo oops >&2', k, 'text/plain')).text()).toBe('once\n');
    const sse = await (await keyed('/v1/run', 'echo once; echo oops >&2', k, 'text/event-stream')).text();
    expect(sse).toContain('event: stdout\ndata: {"data":"once\\n"}');
    expect(sse).toMatch(/event: done\ndata: \{"status":"succeeded"/);
    expect(await messagesOf(first.session_id)).toEqual(['user:echo once; echo oops >&2', 'assistant:once\n']);
    expect(await runsOf(first.session_id)).toHaveLength(1);
    // A failed run's outcome is its outcome too: not run again.
    const k2 = key();
    const failed = await jsonOf(keyed(`/v1/sessions/${first.session_id}/messages`, 'exit 3', k2));
    expect(await jsonOf(keyed(`/v1/sessions/${first.session_id}/messages`, 'exit 3', k2))).toMatchObject({
      run_id: failed.run_id,
      status: 'failed',
      exit_code: 3,
    });
    expect(await runsOf(first.session_id)).toHaveLength(2);
  });

  it('refuses the same key with another prompt or session (422), and checks the key', async () => {
    const k = key();
    const first = await jsonOf(keyed('/v1/run', 'echo a', k));
    const other = await keyed('/v1/run', 'echo b', k);
    expect(other.status).toBe(422);
    expect((await jsonOf(other)).error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    const elsewhere = await jsonOf(h.app.request(post('/v1/run', 'echo x', { accept: 'application/json' })));
    expect((await keyed(`/v1/sessions/${elsewhere.session_id}/messages`, 'echo a', k)).status).toBe(422);
    expect(await runsOf(first.session_id)).toHaveLength(1);
    const bad = await keyed('/v1/run', 'echo a', 'has space');
    expect(bad.status).toBe(400);
    expect((await jsonOf(bad)).error.message).toMatch(/Idempotency-Key/);
  });

  it('keeps a run going when its client is cut off after the turn began: 409 while it runs, then its outcome', async () => {
    const k = key();
    const socket = connect(server.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    const body = 'echo up; sleep 1; echo done';
    let seen = '';
    socket.on('data', (d) => (seen += String(d)));
    socket.write(
      `POST /v1/run HTTP/1.1\r\nHost: 127.0.0.1\r\nIdempotency-Key: ${k}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    await waitFor(() => seen.includes('up'));
    socket.destroy(); // the turn began: its container printed
    const busy = await keyed('/v1/run', body, k);
    expect(busy.status).toBe(409);
    expect(busy.headers.get('retry-after')).toBe('1');
    const runId = busy.headers.get('x-run-id')!;
    expect((await jsonOf(busy)).error.code).toBe('RUN_IN_PROGRESS');
    const ended = await waitFor(async () => {
      const r = (await h.service.transcripts.getRun(runId))!;
      return r.status !== 'running' ? r : undefined;
    }, 10_000);
    expect(ended.status).toBe('succeeded'); // not cancelled by its client leaving
    const outcome = await jsonOf(keyed('/v1/run', body, k));
    expect(outcome).toMatchObject({ run_id: runId, status: 'succeeded', output: 'up\ndone\n' });
    expect(await messagesOf(outcome.session_id)).toEqual([`user:${body}`, 'assistant:up\ndone\n']);
  });

  it('runs the same stored turn again when no container ran it (an engine fault), storing the prompt once', async () => {
    const docker = new Docker();
    const k = key();
    const first = await keyed('/v1/run?agent=late', 'echo at last', k);
    expect(first.status).toBe(503);
    expect((await jsonOf(first)).error.code).toBe('IMAGE_NOT_FOUND');
    const sessionId = first.headers.get('x-session-id')!;
    await docker.getImage(SHELL_IMAGE).tag({ repo: LATE_IMAGE.split(':')[0]!, tag: 'test' });
    try {
      const retried = await jsonOf(keyed('/v1/run?agent=late', 'echo at last', k));
      expect(retried).toMatchObject({ session_id: sessionId, status: 'succeeded', output: 'at last\n' });
      expect(await messagesOf(sessionId)).toEqual(['user:echo at last', 'assistant:at last\n']);
      expect((await runsOf(sessionId)).map((r) => r.status)).toEqual(['failed', 'succeeded']);
      expect((await h.service.transcripts.getSession(sessionId))!.turns).toBe(1);
      // and from now on, that outcome
      expect(await jsonOf(keyed('/v1/run?agent=late', 'echo at last', k))).toMatchObject({ run_id: retried.run_id });
    } finally {
      await docker
        .getImage(LATE_IMAGE)
        .remove()
        .catch(() => {});
    }
  });
});

describe('what a repeated key does not do', () => {
  it('does not run again a run a crash interrupted (it may have run): its outcome is the interruption', async () => {
    const k = key();
    const sessionId = newId('ses');
    const runId = newId('run');
    await h.service.transcripts.beginTurn({
      sessionId,
      newSessionAgent: 'shell',
      runId,
      agent: 'shell',
      image: SHELL_IMAGE,
      instanceId: 'gone',
      keyId: null,
      timeoutMs: 1000,
      prompt: 'echo side effect',
      idempotencyKey: k,
      now: Date.now() - 60_000,
    });
    await h.service.instances.interruptLeftoverRuns('gone', Date.now(), 1);
    expect((await h.service.transcripts.getRun(runId))!.status).toBe('interrupted');
    const again = await jsonOf(keyed(`/v1/sessions/${sessionId}/messages`, 'echo side effect', k));
    expect(again).toMatchObject({ run_id: runId, status: 'interrupted' });
    expect(await runsOf(sessionId)).toHaveLength(1);
  });

  it('answers a twin request sent at the same time with RUN_IN_PROGRESS, not SESSION_BUSY', async () => {
    const first = await jsonOf(h.app.request(post('/v1/run', 'echo start', { accept: 'application/json' })));
    const k = key();
    const [a, b] = await Promise.all(
      [1, 2].map(() => keyed(`/v1/sessions/${first.session_id}/messages`, 'sleep 0.5; echo twin', k)),
    );
    const byStatus = [a!, b!].sort((x, y) => x.status - y.status);
    expect(byStatus.map((r) => r.status)).toEqual([200, 409]);
    expect((await jsonOf(byStatus[1]!)).error.code).toBe('RUN_IN_PROGRESS');
    expect(byStatus[1]!.headers.get('retry-after')).toBe('1');
    expect(await jsonOf(byStatus[0]!)).toMatchObject({ status: 'succeeded', output: 'twin\n' });
  });

  it('does not run a failed turn again once its session moved on: its failure is the outcome', async () => {
    const k = key();
    const failed = await keyed('/v1/run?agent=late', 'echo first', k);
    expect(failed.status).toBe(503);
    const sessionId = failed.headers.get('x-session-id')!;
    await h.app.request(post(`/v1/sessions/${sessionId}/messages`, 'echo second', { accept: 'application/json' })); // fails too, but is stored after it
    const again = await jsonOf(keyed('/v1/run?agent=late', 'echo first', k));
    expect(again).toMatchObject({ session_id: sessionId, status: 'failed', error: { code: 'IMAGE_NOT_FOUND' } });
    expect(await messagesOf(sessionId)).toEqual(['user:echo first', 'user:echo second']);
    expect(await runsOf(sessionId)).toHaveLength(2);
  });
});

describe('the client', () => {
  it('retries a cut-off request with the same key: the turn is stored once and its outcome comes back', async () => {
    let calls = 0;
    // The first attempt's connection breaks 300 ms in, after the turn began; the others go through.
    const flaky: typeof fetch = async (input, init) => {
      calls++;
      if (calls > 1) return fetch(input, init);
      const cut = new AbortController();
      setTimeout(() => cut.abort(new TypeError('fetch failed: connection reset')), 300);
      return fetch(input, { ...init, signal: cut.signal });
    };
    const client = new EphemeraClient({ baseUrl: server.url, fetch: flaky, backoffMs: 50 });
    const r = await client.run({ prompt: 'sleep 1; echo finished' });
    expect(r).toMatchObject({ status: 'succeeded', output: 'finished\n' });
    expect(r.attempts).toBe(2);
    expect(calls).toBeGreaterThanOrEqual(3); // at least one 409 RUN_IN_PROGRESS in between
    expect(await messagesOf(r.session_id)).toEqual(['user:sleep 1; echo finished', 'assistant:finished\n']);
    expect(await runsOf(r.session_id)).toHaveLength(1);
  });
});

describe('Idempotency-Key and API keys', () => {
  it('is scoped to the API key: another key with the same Idempotency-Key runs its own request', async () => {
    const k = key();
    const withKeys = createHarness();
    try {
      const alice = (await withKeys.service.keys.create('alice', 'user')).key;
      const bob = (await withKeys.service.keys.create('bob', 'user')).key;
      const as = (who: string) =>
        jsonOf(
          withKeys.app.request(
            post('/v1/run', 'echo mine', {
              accept: 'application/json',
              authorization: `Bearer ${who}`,
              'idempotency-key': k,
            }),
          ),
        );
      const a = await as(alice);
      const b = await as(bob);
      expect(b.run_id).not.toBe(a.run_id);
      expect((await as(alice)).run_id).toBe(a.run_id);
    } finally {
      await withKeys.close();
    }
  });
});
