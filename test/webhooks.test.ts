import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebhookDispatcher } from '../src/webhooks/dispatcher.js';
import { createHarness, jsonOf, waitFor, type Harness } from './helpers/harness.js';

const SECRET = 'test-webhook-secret-0123456789';

/** A receiver of webhook calls: answers each with the next status of `answers` (then 200), and keeps them. */
interface Call {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}
let receiver: Server;
let origin: string;
const calls: Call[] = [];
let answers: number[] = [];
let h: Harness;
let plain: Harness;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      calls.push({ path: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString() });
      const status = answers.shift() ?? 200;
      res.writeHead(status, status === 302 ? { location: `${origin}/elsewhere` } : {}).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  h = createHarness({ webhooks: { allowedOrigins: [origin], secret: SECRET, firstRetryMs: 50, attempts: 3 } });
  h.service.webhooks!.start();
  plain = createHarness();
});
afterEach(async () => {
  expect(await h.leftovers()).toEqual([]);
  calls.length = 0;
  answers = [];
});
afterAll(async () => {
  await h.close();
  await plain.close();
  await new Promise((r) => receiver.close(r));
});

const run = (harness: Harness, body: object, headers: Record<string, string> = {}) =>
  harness.app.request(
    new Request('http://localhost/v1/run', {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
    }),
  );
const webhookOf = async (runId: string) => (await jsonOf(h.app.request(`/v1/runs/${runId}`))).webhook;
const settled = (runId: string) =>
  waitFor(async () => {
    const w = await webhookOf(runId);
    return w.state !== 'pending' && w;
  }, 10_000);

describe('webhooks', () => {
  it("POST the run's JSON when it ends, signed with WEBHOOK_SECRET over the time and the raw body", async () => {
    const res = await run(h, { prompt: 'echo hi', webhook_url: `${origin}/hook?job=7` });
    const { run_id: runId, session_id: sessionId } = await jsonOf(res);
    expect(await settled(runId)).toMatchObject({ state: 'delivered', attempts: 1, last_status: 200, last_error: null });
    expect(calls).toHaveLength(1);
    const [call] = calls;
    expect(call!.path).toBe('/hook?job=7');
    expect(call!.headers['content-type']).toBe('application/json');
    expect(call!.headers['ephemera-run-id']).toBe(runId);
    const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(call!.headers['ephemera-signature'] as string)!;
    expect(Math.abs(Number(t) - Date.now() / 1000)).toBeLessThan(30);
    expect(v1).toBe(createHmac('sha256', SECRET).update(`${t}.${call!.body}`).digest('hex'));
    const body = JSON.parse(call!.body);
    expect(body).toMatchObject({
      type: 'run.ended',
      run: { id: runId, session_id: sessionId, status: 'succeeded', exit_code: 0, error: null },
    });
    expect(body.run.metrics.total_ms).toBeGreaterThan(0);
    expect(JSON.stringify(call!.headers)).not.toContain(SECRET);
  });

  it('tries again with backoff on an error status or a redirect (never followed), until a 2xx', async () => {
    answers = [500, 302];
    const res = await run(h, { prompt: 'echo again', webhook_url: `${origin}/retry` }, { prefer: 'respond-async' });
    expect(res.status).toBe(202);
    const { run_id: runId } = await jsonOf(res);
    expect(await settled(runId)).toMatchObject({ state: 'delivered', attempts: 3, last_status: 200 });
    expect(calls.map((c) => c.path)).toEqual(['/retry', '/retry', '/retry']);
    expect(calls.map((c) => c.headers['ephemera-attempt'])).toEqual(['1', '2', '3']);
  });

  it('gives up after WEBHOOK_ATTEMPTS, and says why', async () => {
    answers = [503, 503, 503, 503];
    const { run_id: runId } = await jsonOf(run(h, { prompt: 'exit 4', webhook_url: `${origin}/down` }));
    expect(await settled(runId)).toMatchObject({
      state: 'failed',
      attempts: 3,
      last_status: 503,
      last_error: 'answered 503',
    });
    expect(JSON.parse(calls[0]!.body).run).toMatchObject({ status: 'failed', exit_code: 4 });
  });

  it('delivers what another process left pending (a restart): the delivery lives in the store', async () => {
    const { run_id: runId } = await jsonOf(run(h, { prompt: 'echo left' }));
    await h.database.webhooks.add(runId, `${origin}/after-restart`, Date.now());
    const next = new WebhookDispatcher({
      webhooks: h.database.webhooks,
      transcripts: h.database.transcripts,
      config: { allowedOrigins: [origin], secret: SECRET, firstRetryMs: 50, attempts: 3 },
      logger: pino({ level: 'silent' }),
    });
    await next.deliverDue();
    expect(await settled(runId)).toMatchObject({ state: 'delivered', attempts: 1 });
    expect(calls.filter((c) => c.path === '/after-restart')).toHaveLength(1);
  });

  it('refuses a URL off the list, not http(s), or with credentials: 400 WEBHOOK_NOT_ALLOWED, nothing stored', async () => {
    const before = (await h.rows('select count(*) as n from runs'))[0]!.n;
    for (const url of [
      'http://127.0.0.1:1/hook',
      `${origin.replace('127.0.0.1', 'localhost')}/hook`,
      `ftp://127.0.0.1:${new URL(origin).port}/hook`,
      `http://user:pw@${origin.slice(7)}/hook`,
      'not a url',
      'http://169.254.169.254/latest/meta-data',
    ]) {
      const res = await run(h, { prompt: 'echo never', webhook_url: url });
      expect(res.status, url).toBe(400);
      expect((await jsonOf(res)).error.code).toBe('WEBHOOK_NOT_ALLOWED');
    }
    expect((await h.rows('select count(*) as n from runs'))[0]!.n).toBe(before);
    const off = await run(plain, { prompt: 'echo never', webhook_url: `${origin}/hook` });
    expect(off.status).toBe(400);
    expect((await jsonOf(off)).error.message).toContain('WEBHOOK_ALLOWED_ORIGINS');
    expect(calls).toEqual([]);
  });
});
