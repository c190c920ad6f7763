import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { connect } from 'node:net';
import type Docker from 'dockerode';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { claudeProfiles } from './helpers/claude.js';
import { geminiProfiles } from './helpers/gemini.js';
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
import { rawPost } from './helpers/raw-http.js';
import { open, refusal } from './helpers/ws-client.js';

// A run that fails says so to every client: refused before any container when it cannot
// work (a model agent without its key); in plain text, its real status when it ends before
// printing, and a last line (or trailers) when it ends after; the same endings in JSON, SSE,
// the OpenAI-compatible API and a WebSocket. A run that succeeds is untouched.

/**
 * `quick`: a shell whose runs time out after 3 s, for a timeout in every mode (OpenAI's requests take no timeout_ms).
 */
const QUICK_MS = 3000;
const PROFILES = {
  ...TEST_PROFILES,
  profiles: { ...TEST_PROFILES.profiles, quick: { image: SHELL_IMAGE, command: ['sh', '-s'], timeout_ms: QUICK_MS } },
};

let h: Harness;
let server: Awaited<ReturnType<typeof listen>>;
beforeAll(async () => {
  h = createHarness({ profiles: PROFILES });
  server = await listen(h.app);
});
afterEach(async () =>
  expect(await waitFor(async () => ((await h.leftovers()).length === 0 ? [] : undefined), 10_000)).toEqual([]),
);
afterAll(async () => {
  await server.close();
  await h.close();
});

const runUrl = (query = '') => `${server.url}/v1/run${query}`;
const lastLine = (message: string, runId: unknown) => `ephemera: ${message} [${String(runId)}]\n`;
// A deadline that a container under load still prints within (the deadline counts from the slot, container start
// included).
const LATE = `?timeout_ms=${QUICK_MS}`;
const deadlineLine = (runId: unknown) =>
  lastLine(`the run ended timeout: the run exceeded its ${QUICK_MS} ms deadline`, runId);

describe("a plain-text answer (the README's curl -N) to a run that ends before printing", () => {
  it("is the run's own status and the JSON error, marked not to be retried", async () => {
    const a = await rawPost(runUrl(), 'echo oops >&2; exit 3');
    expect(a.status).toBe(502);
    expect(a.headers['content-type']).toMatch(/^application\/json/);
    expect(a.headers).toMatchObject({
      'ephemera-status': 'failed',
      'ephemera-exit-code': '3',
      'x-should-retry': 'false',
    });
    expect(JSON.parse(a.body.toString())).toEqual({
      error: { code: 'FAILED', message: 'the run ended failed (exit code 3)' },
      session_id: a.headers['x-session-id'],
      run_id: a.headers['x-run-id'],
      status: 'failed',
      exit_code: 3,
      stderr: 'oops\n',
    });
    expect(await h.service.transcripts.getRun(String(a.headers['x-run-id']))).toMatchObject({
      status: 'failed',
      exitCode: 3,
    });
  });

  it('is 504 TIMEOUT when it times out', async () => {
    const a = await rawPost(runUrl('?timeout_ms=1000'), 'sleep 30');
    expect(a.status).toBe(504);
    expect(JSON.parse(a.body.toString())).toMatchObject({
      error: { code: 'TIMEOUT', message: 'the run ended timeout: the run exceeded its 1000 ms deadline' },
      status: 'timeout',
    });
    expect(a.headers).toMatchObject({ 'ephemera-status': 'timeout', 'ephemera-error-code': 'TIMEOUT' });
  });

  it('is an empty 200 when it succeeds', async () => {
    const a = await rawPost(runUrl(), 'true');
    expect(a.status).toBe(200);
    expect(a.body.length).toBe(0);
    expect(a.headers).toMatchObject({ 'ephemera-status': 'succeeded', 'ephemera-exit-code': '0' });
  });

  it('sends the status line with the first byte of the reply, not before it', async () => {
    const a = await rawPost(runUrl(), 'sleep 1; echo a');
    expect(a.status).toBe(200);
    // Before, the headers left when the container started (~0.15 s), a second ahead of the reply.
    expect(a.headersAtMs).toBeGreaterThanOrEqual(900);
    expect(a.firstByteAtMs! - a.headersAtMs).toBeLessThan(100);
  });

  it('cancels the run when its client leaves while it waits, and removes the container', async () => {
    const prompt = `sleep 30 # ${randomBytes(4).toString('hex')}`;
    const req = request(runUrl(), { method: 'POST' });
    req.on('error', () => {});
    req.end(prompt);
    const runOf = async () =>
      (
        await h.rows<{ status: string }>(
          'select r.status from runs r join messages m on m.run_id = r.id where m.content = ?',
          prompt,
        )
      )[0];
    await waitFor(async () => ((await h.leftovers()).length > 0 ? true : undefined), 10_000);
    req.destroy();
    expect(await waitFor(async () => ((await runOf())?.status === 'cancelled' ? 'cancelled' : undefined), 5000)).toBe(
      'cancelled',
    );
  });
});

describe('a plain-text answer to a run that ends after printing', () => {
  it('ends with a line of its own saying how the run ended', async () => {
    const failed = await rawPost(runUrl(), 'echo a; exit 3');
    expect(failed.status).toBe(200);
    expect(failed.body.toString()).toBe(
      `a\n${lastLine('the run ended failed (exit code 3)', failed.headers['x-run-id'])}`,
    );
    // Output that ends mid-line: the notice still starts a line.
    const midLine = await rawPost(runUrl(), 'printf a; exit 3');
    expect(midLine.body.toString()).toBe(
      `a\n${lastLine('the run ended failed (exit code 3)', midLine.headers['x-run-id'])}`,
    );
    const late = await rawPost(runUrl(LATE), 'echo before; sleep 30');
    expect(late.body.toString()).toBe(`before\n${deadlineLine(late.headers['x-run-id'])}`);
    expect(failed.trailers).toEqual({});
  });

  it('gives a client that sends TE: trailers the end as trailers, and the output untouched', async () => {
    const te = { te: 'trailers' };
    const failed = await rawPost(runUrl(), 'echo a; exit 3', te);
    expect(failed.status).toBe(200);
    expect(failed.headers.trailer).toBe('Ephemera-Status, Ephemera-Exit-Code, Ephemera-Error-Code');
    expect(failed.body.toString()).toBe('a\n');
    expect(failed.trailers).toEqual({ 'ephemera-status': 'failed', 'ephemera-exit-code': '3' });
    const late = await rawPost(runUrl(LATE), 'echo before; sleep 30', te);
    expect(late.body.toString()).toBe('before\n');
    expect(late.trailers).toMatchObject({ 'ephemera-status': 'timeout', 'ephemera-error-code': 'TIMEOUT' });
    const ok = await rawPost(runUrl(), 'echo a', te);
    expect(ok.body.toString()).toBe('a\n');
    expect(ok.trailers).toEqual({ 'ephemera-status': 'succeeded', 'ephemera-exit-code': '0' });
  });

  it('gives an HTTP/1.0 client, which cannot take trailers, the last line', async () => {
    const answer = await http10(server.port, '/v1/run', 'echo a; exit 3', { te: 'trailers' });
    const [head, body] = answer.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    expect(head).not.toMatch(/transfer-encoding|trailer:/i);
    expect(body).toMatch(/^a\nephemera: the run ended failed \(exit code 3\) \[run_\w+\]\n$/);
  });

  it("keeps a succeeding run's stdout byte for byte, with nothing added, with or without trailers", async () => {
    // Random bytes (invalid UTF-8 among them), in chunks, ending mid-line.
    const bytes = randomBytes(300_000);
    const prompt = `echo '${bytes.toString('base64')}' | base64 -d`;
    for (const headers of [{}, { te: 'trailers' }] as Record<string, string>[]) {
      const a = await rawPost(runUrl('?agent=shell'), prompt, headers);
      expect(a.status).toBe(200);
      expect(a.body.equals(bytes)).toBe(true);
    }
  });

  it('is told the same from the store when retried with its Idempotency-Key; untouched for a client that reads trailers', async () => {
    for (const prompt of ['echo oops >&2; exit 3', 'echo a; exit 3']) {
      const key = { 'idempotency-key': `k-${randomBytes(6).toString('hex')}` };
      const first = await rawPost(runUrl(), prompt, key);
      const again = await rawPost(runUrl(), prompt, key);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect([again.status, again.body.toString()]).toEqual([first.status, first.body.toString()]);
      expect(again.headers['ephemera-status']).toBe('failed');
    }
    const key = { 'idempotency-key': `k-${randomBytes(6).toString('hex')}`, te: 'trailers' };
    await rawPost(runUrl(), 'echo a; exit 3', key);
    const again = await rawPost(runUrl(), 'echo a; exit 3', key);
    expect(again.body.toString()).toBe('a\n');
    expect(again.headers).toMatchObject({
      'idempotent-replayed': 'true',
      'ephemera-status': 'failed',
      'ephemera-exit-code': '3',
    });
  });
});

/** How each mode tells a run's end: the JSON's status and error, the OpenAI status. */
const CASES = [
  {
    name: 'fails before printing',
    agent: 'shell',
    prompt: 'exit 3',
    status: 'failed',
    error: null,
    openAi: 502,
    output: '',
  },
  {
    name: 'fails after printing',
    agent: 'shell',
    prompt: 'echo a; exit 3',
    status: 'failed',
    error: null,
    openAi: 502,
    output: 'a\n',
  },
  {
    name: 'times out after printing',
    agent: 'quick',
    prompt: 'echo a; sleep 30',
    status: 'timeout',
    error: 'TIMEOUT',
    openAi: 504,
    output: 'a\n',
  },
  { name: 'succeeds', agent: 'shell', prompt: 'echo a', status: 'succeeded', error: null, openAi: 200, output: 'a\n' },
] as Array<{
  name: string;
  agent: string;
  prompt: string;
  status: string;
  error: string | null;
  openAi: number;
  output: string;
}>;

const chat = (agent: string, prompt: string, stream: boolean) =>
  rawPost(
    `${server.url}/v1/chat/completions`,
    JSON.stringify({ model: agent, stream, messages: [{ role: 'user', content: prompt }] }),
    { 'content-type': 'application/json' },
  );

/** The `data:` lines of an SSE body, parsed (`[DONE]` as is). */
const sseData = (body: Buffer) =>
  [...body.toString().matchAll(/^data: (.*)$/gm)].map(([, d]) => (d === '[DONE]' ? d : JSON.parse(d!)));

describe.each(CASES)('a run that $name', (c) => {
  it('says so in JSON and SSE (200, the status in the body)', async () => {
    const json = await jsonOf(
      h.app.request(post(`/v1/run?agent=${c.agent}`, c.prompt, { accept: 'application/json' })),
    );
    expect(json).toMatchObject({ status: c.status, output: c.output, error: c.error && { code: c.error } });
    const sse = await h.app.request(post(`/v1/run?agent=${c.agent}`, c.prompt, { accept: 'text/event-stream' }));
    expect(sse.status).toBe(200);
    const text = await sse.text();
    expect(text).toMatch(new RegExp(`event: done\ndata: \\{"status":"${c.status}"`));
    expect(text.includes('event: error')).toBe(c.error !== null);
  });

  it('says so to the OpenAI-compatible API, whole and streamed', async () => {
    const whole = await chat(c.agent, c.prompt, false);
    expect(whole.status).toBe(c.openAi);
    if (c.openAi !== 200) expect(whole.headers['x-should-retry']).toBe('false'); // the OpenAI SDKs retry 5xx otherwise
    const streamed = await chat(c.agent, c.prompt, true);
    if (c.output === '' && c.status !== 'succeeded') {
      // Nothing streamed yet: the same status and error as the whole answer, as OpenAI's API answers a request that
      // fails before its stream.
      expect(streamed.status).toBe(c.openAi);
      expect(JSON.parse(streamed.body.toString())).toMatchObject({ error: { code: 'FAILED', type: 'server_error' } });
      return;
    }
    expect(streamed.status).toBe(200);
    const events = sseData(streamed.body);
    expect(events.map((e) => e.choices?.[0]?.delta?.content ?? '').join('')).toBe(c.output);
    expect(events.at(-2)).toMatchObject(
      c.status === 'succeeded' ? { choices: [{ finish_reason: 'stop' }] } : { error: { code: c.error ?? 'FAILED' } },
    );
    expect(events.at(-1)).toBe('[DONE]');
  });

  it('says so over a WebSocket', async () => {
    const ws = await open(`${server.url}/v1/ws?agent=${c.agent}`);
    ws.send({ type: 'prompt', prompt: c.prompt });
    expect(await ws.next('done')).toMatchObject({ status: c.status });
    expect(ws.messages.some((m) => m.type === 'error')).toBe(c.error !== null);
    ws.ws.close();
  });
});

describe('a model agent whose key the service lacks', () => {
  let keyless: Harness;
  let keylessServer: Awaited<ReturnType<typeof listen>>;
  let since: number;
  beforeAll(async () => {
    since = Math.floor(Date.now() / 1000);
    const gemini = geminiProfiles().profiles;
    // A standby container asked for: none must start either.
    const profiles = {
      default_agent: 'shell',
      profiles: { ...gemini, gemini: { ...gemini.gemini!, standby: 1 }, claude: claudeProfiles().profiles.claude! },
    };
    keyless = createHarness({ profiles });
    await keyless.service.startBackground();
    keylessServer = await listen(keyless.app);
  });
  afterAll(async () => {
    await keylessServer.close();
    await keyless.close();
  });

  const refusedFor = (agent: string, setting: string) => ({
    error: {
      code: 'AGENT_UNAVAILABLE',
      message: expect.stringMatching(
        new RegExp(
          `^agent "${agent}" is not available: the service has no ${setting} configured .*set ${setting} or ${setting}_FILE`,
        ),
      ),
    },
  });

  it('is refused with 503 AGENT_UNAVAILABLE in every mode, naming the setting, and nothing is stored', async () => {
    for (const [agent, setting] of [
      ['gemini', 'GEMINI_API_KEY'],
      ['claude', 'ANTHROPIC_API_KEY'],
    ] as const) {
      for (const accept of ['text/plain', 'text/event-stream', 'application/json']) {
        const res = await keyless.app.request(post(`/v1/run?agent=${agent}`, 'Name three rivers', { accept }));
        expect(res.status, `${agent} ${accept}`).toBe(503);
        expect(await res.json()).toMatchObject(refusedFor(agent, setting));
      }
      const completion = await rawPost(
        `${keylessServer.url}/v1/chat/completions`,
        JSON.stringify({ model: agent, messages: [{ role: 'user', content: 'hi' }] }),
        { 'content-type': 'application/json' },
      );
      expect(completion.status).toBe(503);
      expect(JSON.parse(completion.body.toString())).toMatchObject({
        error: { ...refusedFor(agent, setting).error, type: 'server_error' },
      });
      // A conversation that names the agent is refused at the upgrade; one that names it in a prompt, at the prompt.
      expect(await refusal(open(`${keylessServer.url}/v1/ws?agent=${agent}`))).toBe(503);
      const ws = await open(`${keylessServer.url}/v1/ws`);
      ws.send({ type: 'prompt', prompt: 'hi', agent });
      expect(await ws.next('error')).toMatchObject(refusedFor(agent, setting));
      ws.ws.close();
    }
    expect(await keyless.rows('select id from runs')).toEqual([]);
  });

  it('starts no container, not even a standby one; the other agents run', async () => {
    expect(keyless.service.standby?.stats().get('gemini')).toBeUndefined();
    const ok = await rawPost(`${keylessServer.url}/v1/run`, 'echo fine');
    expect([ok.status, ok.body.toString()]).toEqual([200, 'fine\n']);
    // The engine's own record: one container created for this service, the shell's.
    expect(await containersCreated(keyless.docker, keyless.instanceId, since)).toHaveLength(1);
  });

  it('is listed by GET /v1/models as unavailable, saying why; the others as available', async () => {
    const { data } = await jsonOf(keyless.app.request('/v1/models'));
    const byId = new Map((data as Array<{ id: string; ephemera: unknown }>).map((m) => [m.id, m.ephemera]));
    expect(byId.get('gemini')).toEqual({
      available: false,
      reason: expect.stringContaining('no GEMINI_API_KEY configured'),
    });
    expect(byId.get('claude')).toEqual({
      available: false,
      reason: expect.stringContaining('no ANTHROPIC_API_KEY configured'),
    });
    expect(byId.get('shell')).toEqual({ available: true });
    expect(await jsonOf(keyless.app.request('/v1/models/gemini'))).toMatchObject({
      id: 'gemini',
      ephemera: { available: false },
    });
  });
});

/**
 * Containers the engine created for an instance since a time (seconds): what it was asked to start, even if removed
 * since.
 */
async function containersCreated(docker: Docker, instanceId: string, since: number): Promise<string[]> {
  const stream = await docker.getEvents({
    since,
    until: Math.ceil(Date.now() / 1000),
    filters: { type: ['container'], event: ['create'], label: [`ephemera.instance=${instanceId}`] },
  });
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks)
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { id: string }).id);
}

/** A request as an HTTP/1.0 client sends it, over a raw socket; the whole answer as text. */
function http10(port: number, path: string, body: string, headers: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString()));
    socket.on('error', reject);
    const extra = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    socket.write(
      `POST ${path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`,
    );
  });
}
