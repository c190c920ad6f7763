import { connect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createHarness, jsonOf, listen, post, waitFor, type Harness } from './helpers/harness.js';
import { open, refusal } from './helpers/ws-client.js';

// GET /v1/ws, through the `ws` package as the client: a conversation whose every prompt runs
// in its own fresh container, the session carried between them.

let h: Harness;
let server: Awaited<ReturnType<typeof listen>>;
beforeAll(async () => {
  h = createHarness({
    corsOrigins: ['https://app.example'],
    websocket: { idleMs: 60_000, pingMs: 30_000 },
    maxOutputBytes: 256 * 1024 * 1024,
  });
  server = await listen(h.app, 64 * 1024);
});
afterEach(async () =>
  expect(await waitFor(async () => ((await h.leftovers()).length === 0 ? [] : undefined), 10_000)).toEqual([]),
);
afterAll(async () => {
  await server.close();
  await h.close();
});

describe('a WebSocket conversation', () => {
  it('runs each prompt in its own fresh container and carries the session between them', async () => {
    const c = await open(`${server.url}/v1/ws`);
    c.send({ type: 'prompt', prompt: 'echo one; hostname' });
    const done1 = await c.next('done');
    const run1 = await c.next('run');
    c.send({ type: 'prompt', prompt: 'wc -l < /ephemera/history.jsonl; hostname' });
    const done2 = await c.next('done', 1);
    const run2 = await c.next('run', 1);
    expect(done1).toMatchObject({ status: 'succeeded', exit_code: 0 });
    expect(done2).toMatchObject({ status: 'succeeded', exit_code: 0 });
    expect(run2.session_id).toBe(run1.session_id);
    expect(run2.run_id).not.toBe(run1.run_id);
    const [one, host1] = c
      .outputOf(run1.run_id as string)
      .trim()
      .split('\n');
    const [lines, host2] = c
      .outputOf(run2.run_id as string)
      .trim()
      .split('\n');
    expect(one).toBe('one');
    expect(lines).toBe('2'); // turn 1's prompt and reply, replayed
    expect(host2).not.toBe(host1);
    c.ws.close();
  });

  it('continues a session opened over HTTP (?session_id=), and streams stderr', async () => {
    const first = await jsonOf(h.app.request(post('/v1/run', 'echo first', { accept: 'application/json' })));
    const c = await open(`${server.url}/v1/ws?session_id=${first.session_id}`);
    c.send({ type: 'prompt', prompt: 'head -c 200 /ephemera/history.jsonl | grep -c "echo first"; echo oops >&2' });
    const run = await c.next('run');
    await c.next('done');
    expect(run.session_id).toBe(first.session_id);
    expect(c.outputOf(run.run_id as string)).toBe('1\n');
    expect(c.messages.find((m) => m.type === 'stderr')).toMatchObject({ data: 'oops\n' });
    // Each message carries its place in the run's log: what GET …/events?after= takes after a dropped socket.
    const events = c.messages.filter((m) => m.seq !== undefined);
    expect(events.map((m) => m.seq)).toEqual(events.map((_, i) => i + 1));
    const logged = await jsonOf(h.app.request(`/v1/runs/${run.run_id}/events`));
    expect(logged.items.map((e: { seq: number; event: string }) => [e.seq, e.event])).toEqual(
      events.map((m) => [m.seq, m.type]),
    );
    c.ws.close();
  });

  it('answers a prompt sent while a run is in progress with SESSION_BUSY, and the run goes on', async () => {
    const c = await open(`${server.url}/v1/ws`);
    c.send({ type: 'prompt', prompt: 'sleep 1; echo late' });
    await c.next('run');
    c.send({ type: 'prompt', prompt: 'echo second' });
    expect(await c.next('error')).toMatchObject({ error: { code: 'SESSION_BUSY' } });
    const done = await c.next('done');
    expect(done).toMatchObject({ status: 'succeeded' });
    expect(c.messages.filter((m) => m.type === 'run')).toHaveLength(1);
    c.ws.close();
  });

  it('cancels the run on {"type":"cancel"}, and the conversation goes on', async () => {
    const c = await open(`${server.url}/v1/ws`);
    c.send({ type: 'prompt', prompt: 'echo up; sleep 30' });
    await c.next('stdout');
    const t0 = Date.now();
    c.send({ type: 'cancel' });
    expect(await c.next('done')).toMatchObject({ status: 'cancelled' });
    expect(Date.now() - t0).toBeLessThan(2000);
    c.send({ type: 'prompt', prompt: 'echo again' });
    expect(await c.next('done', 1)).toMatchObject({ status: 'succeeded' });
    c.ws.close();
  });

  it('cancels the run in progress within 2 s when the socket closes', async () => {
    const c = await open(`${server.url}/v1/ws`);
    c.send({ type: 'prompt', prompt: 'echo up; sleep 30' });
    const run = await c.next('run');
    await c.next('stdout');
    const t0 = Date.now();
    c.ws.terminate();
    const ended = await waitFor(async () => {
      const r = (await h.service.transcripts.getRun(run.run_id as string))!;
      return r.status !== 'running' ? r : undefined;
    }, 5000);
    expect(ended.status).toBe('cancelled');
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('keeps a slow reader from growing the service: the run waits for it, and nothing is lost', async () => {
    const c = await open(`${server.url}/v1/ws`);
    // ~20 MB of output, which a reader keeping up takes in well under a second.
    c.send({ type: 'prompt', prompt: 'head -c 20000000 /dev/zero | tr "\\0" x; echo; echo end' });
    const run = await c.next('run');
    c.ws.pause();
    await new Promise((r) => setTimeout(r, 2000));
    expect((await h.service.transcripts.getRun(run.run_id as string))!.status).toBe('running'); // held back by the reader
    c.ws.resume();
    expect(await c.next('done', 0, 30_000)).toMatchObject({ status: 'succeeded' });
    expect(c.outputOf(run.run_id as string)).toBe(`${'x'.repeat(20_000_000)}\nend\n`);
    c.ws.close();
  });

  it('answers bad messages with a typed error and keeps the connection', async () => {
    const c = await open(`${server.url}/v1/ws`);
    c.send('not json');
    expect(await c.next('error', 0)).toMatchObject({ error: { code: 'INVALID_JSON' } });
    c.send({ type: 'prompt' });
    expect(await c.next('error', 1)).toMatchObject({ error: { code: 'INVALID_BODY' } });
    c.send({ type: 'prompt', prompt: '  ' });
    expect(await c.next('error', 2)).toMatchObject({ error: { code: 'EMPTY_PROMPT' } });
    c.send({ type: 'prompt', prompt: 'echo hi', agent: 'nope' });
    expect(await c.next('error', 3)).toMatchObject({ error: { code: 'UNKNOWN_AGENT' } });
    c.ws.send(Buffer.from('{"type":"cancel"}'), { binary: true });
    expect(await c.next('error', 4)).toMatchObject({ error: { code: 'INVALID_BODY' } });
    c.send({ type: 'prompt', prompt: 'echo still here' });
    expect(await c.next('done')).toMatchObject({ status: 'succeeded' });
    c.ws.close();
  });

  it('withdraws a prompt cancelled while it waits for a slot: it never runs', async () => {
    const full = createHarness({ maxConcurrentRuns: 1, queueTimeoutMs: 20_000 });
    const s = await listen(full.app);
    try {
      const holder = await open(`${s.url}/v1/ws`);
      holder.send({ type: 'prompt', prompt: 'sleep 2' });
      await holder.next('run');
      const c = await open(`${s.url}/v1/ws`);
      c.send({ type: 'prompt', prompt: 'echo should not run' });
      await waitFor(() => full.service.runs.admission.queued === 1);
      c.send({ type: 'cancel' });
      await c.next('cancelled');
      await holder.next('done');
      await new Promise((r) => setTimeout(r, 300));
      expect(c.messages.map((m) => m.type)).toEqual(['cancelled']);
      expect(await full.rows('select count(*) as n from runs')).toEqual([{ n: 1 }]);
      c.send({ type: 'prompt', prompt: 'echo now' }); // the conversation goes on
      expect(await c.next('done')).toMatchObject({ status: 'succeeded' });
      holder.ws.close();
      c.ws.close();
    } finally {
      await s.close();
      await full.close();
    }
  });

  it('says where a turn that the engine failed was stored', async () => {
    const c = await open(`${server.url}/v1/ws`);
    c.send({ type: 'prompt', prompt: 'hi', agent: 'ghost' });
    const err = await c.next('error');
    expect(err).toMatchObject({ error: { code: 'IMAGE_NOT_FOUND' } });
    expect((await h.service.transcripts.getRun(err.run_id as string))?.sessionId).toBe(err.session_id);
    c.ws.close();
  });

  it('drops a client that sends but does not read its replies, and bad messages do not keep a socket from idling out', async () => {
    const c = await open(`${server.url}/v1/ws`);
    c.ws.pause();
    for (let i = 0; i < 100_000; i++) c.ws.send('x');
    await new Promise((r) => setTimeout(r, 1000));
    c.ws.resume();
    expect((await c.closed).code).toBe(1006); // terminated
    expect(c.messages.length).toBeLessThan(100_000);

    const idle = createHarness({ websocket: { idleMs: 400, pingMs: 10_000 } });
    const s = await listen(idle.app);
    try {
      const chatty = await open(`${s.url}/v1/ws`);
      const t0 = Date.now();
      const noise = setInterval(() => chatty.ws.readyState === WebSocket.OPEN && chatty.send('garbage'), 100);
      const { code } = await chatty.closed;
      clearInterval(noise);
      expect(code).toBe(1000);
      expect(Date.now() - t0).toBeLessThan(2000);
    } finally {
      await s.close();
      await idle.close();
    }
  });

  it('closes the socket (1009) on a message over the size limit', async () => {
    const c = await open(`${server.url}/v1/ws`);
    c.send({ type: 'prompt', prompt: 'x'.repeat(100 * 1024) });
    expect((await c.closed).code).toBe(1009);
  });

  it('pings, and drops a client that stops answering', async () => {
    const pinging = createHarness({ websocket: { idleMs: 60_000, pingMs: 200 } });
    const s = await listen(pinging.app);
    try {
      const alive = await open(`${s.url}/v1/ws`);
      const silent = await open(`${s.url}/v1/ws`, { autoPong: false });
      let pings = 0;
      alive.ws.on('ping', () => pings++);
      expect((await silent.closed).code).toBe(1006); // terminated, no close frame
      expect(pings).toBeGreaterThanOrEqual(1);
      expect(alive.ws.readyState).toBe(WebSocket.OPEN);
      alive.ws.close();
    } finally {
      await s.close();
      await pinging.close();
    }
  });
});

describe('opening a WebSocket', () => {
  it('checks the session, the agent and the upgrade before it opens', async () => {
    expect(await refusal(open(`${server.url}/v1/ws?session_id=nope`))).toBe(404);
    expect(await refusal(open(`${server.url}/v1/ws?agent=nope`))).toBe(400);
    const plain = await fetch(`${server.url}/v1/ws`);
    expect(plain.status).toBe(426);
    expect(await plain.json()).toMatchObject({ error: { code: 'UPGRADE_REQUIRED' } });
  });

  it('refuses a session of another agent before it opens', async () => {
    const first = await jsonOf(h.app.request(post('/v1/run', 'echo first', { accept: 'application/json' })));
    expect(await refusal(open(`${server.url}/v1/ws?session_id=${first.session_id}&agent=cat`))).toBe(409);
  });

  it('answers any other Upgrade (h2c from curl --http2) with 400 at once, not a hang', async () => {
    const socket = connect(server.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    let reply = '';
    socket.on('data', (d) => (reply += String(d)));
    const ended = new Promise((r) => socket.once('close', r));
    socket.write(
      'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n',
    );
    const outcome = await Promise.race([
      ended.then(() => 'closed'),
      new Promise((r) => setTimeout(() => r('hung'), 3000)),
    ]);
    socket.destroy();
    expect(outcome).toBe('closed');
    expect(reply).toMatch(/^HTTP\/1.1 400 /);
    expect(reply).toContain('"code":"INVALID_BODY"');
  });

  it('closes a conversation left idle', async () => {
    const idle = createHarness({ websocket: { idleMs: 300, pingMs: 10_000 } });
    const s = await listen(idle.app);
    try {
      const c = await open(`${s.url}/v1/ws`);
      const t0 = Date.now();
      const { code, reason } = await c.closed;
      expect(code).toBe(1000);
      expect(reason).toMatch(/idle/);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    } finally {
      await s.close();
      await idle.close();
    }
  });
});

describe('a WebSocket with API keys', () => {
  let keyed: Harness;
  let s: Awaited<ReturnType<typeof listen>>;
  let key: string;
  let other: string;
  beforeAll(async () => {
    keyed = createHarness({ corsOrigins: ['https://app.example'] });
    key = (await keyed.service.keys.create('alice', 'user')).key;
    other = (await keyed.service.keys.create('bob', 'user')).key;
    s = await listen(keyed.app);
  });
  afterAll(async () => {
    await s.close();
    await keyed.close();
  });

  it("refuses a page of another origin; lets in the service's own and the configured ones", async () => {
    const auth = { authorization: `Bearer ${key}` };
    expect(await refusal(open(`${s.url}/v1/ws`, { headers: { ...auth, origin: 'https://evil.example' } }))).toBe(403);
    (await open(`${s.url}/v1/ws`, { headers: { ...auth, origin: s.url } })).ws.close();
    (await open(`${s.url}/v1/ws`, { headers: { ...auth, origin: 'https://app.example' } })).ws.close();
  });

  it('ends a conversation whose key was revoked since it opened', async () => {
    const doomed = await keyed.service.keys.create('carol', 'user');
    const c = await open(`${s.url}/v1/ws`, { headers: { authorization: `Bearer ${doomed.key}` } });
    await keyed.service.keys.revoke(doomed.info.id);
    c.send({ type: 'prompt', prompt: 'echo after revoke' });
    expect(await c.next('error')).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    expect((await c.closed).code).toBe(1008);
    expect(c.messages.some((m) => m.type === 'run')).toBe(false);
  });

  it('takes the key as a bearer header, or as a subprotocol from a browser, never echoing it', async () => {
    expect(await refusal(open(`${s.url}/v1/ws`))).toBe(401);
    expect(
      await refusal(open(`${s.url}/v1/ws`, { headers: { authorization: 'Bearer eph_wrong_wrongwrongwrong' } })),
    ).toBe(401);
    const byHeader = await open(`${s.url}/v1/ws`, { headers: { authorization: `Bearer ${key}` } });
    byHeader.ws.close();
    const byProtocol = await open(`${s.url}/v1/ws`, { protocols: ['ephemera', `ephemera.bearer.${key}`] });
    expect(byProtocol.ws.protocol).toBe('ephemera');
    byProtocol.send({ type: 'prompt', prompt: 'echo mine' });
    const run = await byProtocol.next('run');
    await byProtocol.next('done');
    byProtocol.ws.close();
    // Another key cannot continue that session.
    expect(
      await refusal(
        open(`${s.url}/v1/ws?session_id=${run.session_id}`, { protocols: ['ephemera', `ephemera.bearer.${other}`] }),
      ),
    ).toBe(404);
    expect(await waitFor(async () => ((await keyed.leftovers()).length === 0 ? true : undefined), 10_000)).toBe(true);
  });
});
