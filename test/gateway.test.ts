import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { geminiGateway } from '../src/runner/agents/gemini/gateway.js';
import { RunTokens } from '../src/gateway/run-tokens.js';
import { ModelGatewayServer } from '../src/gateway/server.js';
import { startFakeGemini, type FakeGemini } from './fake-gemini/server.js';
import { freePort } from './helpers/service-process.js';

// The model gateway on its own: a real listener in front of the fake Gemini API, as a
// container would call it (the CLI's wire format), without the CLI.
const REAL_KEY = 'AIza-the-real-key-0123456789';
let fake: FakeGemini;
let tokens: RunTokens;
let gateway: ModelGatewayServer;
let url: string;

const start = (upstream: string, apiKey: string | null = REAL_KEY) => {
  const t = new RunTokens();
  return {
    tokens: t,
    server: new ModelGatewayServer(
      geminiGateway({ tokens: t, upstream, apiKey: apiKey ?? undefined, logger: pino({ level: 'silent' }) }),
    ),
  };
};

beforeAll(async () => {
  fake = await startFakeGemini({ host: '127.0.0.1', apiKey: REAL_KEY });
  ({ tokens, server: gateway } = start(fake.url));
  url = await gateway.listen('127.0.0.1', 0);
});
afterAll(async () => {
  await gateway.close();
  await fake.close();
});

const body = (text: string) => JSON.stringify({ contents: [{ role: 'user', parts: [{ text }] }] });
const call = (token: string, action = 'gemini-2.5-flash:generateContent', init: RequestInit = {}) =>
  fetch(`${url}/v1beta/models/${action}`, {
    method: 'POST',
    body: body('hi'),
    headers: { 'x-goog-api-key': token, 'content-type': 'application/json' },
    ...init,
  });

describe('the model gateway', () => {
  it("forwards a run's call with the real key in place of the run's token, and counts its tokens", async () => {
    const grant = tokens.issue('run_a', {});
    const res = await call(grant.token);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      candidates: [{ content: { parts: [{ text: expect.stringContaining('turns=1') }] } }],
    });
    expect(fake.requests.at(-1)).toMatchObject({ apiKey: REAL_KEY, action: 'generateContent' });
    expect(JSON.stringify(fake.requests)).not.toContain(grant.token);
    expect(grant.usage).toEqual({ calls: 1, inputTokens: 10, outputTokens: 6, totalTokens: 16, errors: 0 });
    // The key may also come as ?key=, which is not passed on either.
    const viaQuery = await fetch(`${url}/v1beta/models/gemini-2.5-flash:countTokens?key=${grant.token}`, {
      method: 'POST',
      body: body('x'),
    });
    expect(viaQuery.status).toBe(200);
    expect(fake.requests.at(-1)!.apiKey).toBe(REAL_KEY);
    expect(grant.usage.calls).toBe(1); // counting tokens is not a model call
  });

  it('streams an SSE answer through as it comes, and counts the last usage it reports', async () => {
    const grant = tokens.issue('run_b', {});
    const res = await call(grant.token, 'gemini-2.5-flash:streamGenerateContent?alt=sse');
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const t0 = performance.now();
    const arrivals: number[] = [];
    let text = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      arrivals.push(performance.now() - t0);
      text += Buffer.from(chunk).toString();
    }
    expect(text.match(/^data: /gm)).toHaveLength(3);
    expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThan(200); // the fake waits 150 ms between chunks: not buffered
    expect(grant.usage).toMatchObject({ calls: 1, inputTokens: 10, outputTokens: 6, totalTokens: 16 });
    expect(fake.requests.at(-1)!.body).toEqual(JSON.parse(body('hi')));
  });

  it("refuses a token once its run has ended, any other string, and every path but the model API's", async () => {
    const grant = tokens.issue('run_c', {});
    expect((await call(grant.token)).status).toBe(200);
    tokens.revoke(grant);
    const before = fake.requests.length;
    for (const token of [grant.token, '', 'eph-run-guess', REAL_KEY]) {
      const res = await call(token);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: { code: 401, status: 'UNAUTHENTICATED' } });
    }
    const live = tokens.issue('run_d', {});
    for (const [path, method] of [
      ['/v1beta/models/gemini-2.5-flash:embedContent', 'POST'],
      ['/v1beta/models', 'GET'],
      ['/v1beta/files', 'POST'],
      ['/v1beta/models/../../admin:generateContent', 'POST'],
      ['/v1/run', 'POST'],
    ] as const) {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { 'x-goog-api-key': live.token },
        ...(method === 'POST' && { body: '{}' }),
      });
      expect(res.status, path).toBe(404);
    }
    expect(fake.requests.length).toBe(before); // nothing reached the model
    const huge = await call(live.token, 'gemini-2.5-flash:generateContent', { body: 'x'.repeat(33 * 1024 * 1024) });
    expect(huge.status).toBe(413);
    expect(fake.requests.length).toBe(before);
  });

  it('ends a run over its budget of calls or tokens, and refuses its further calls', async () => {
    const stopped: string[] = [];
    const calls = tokens.issue('run_e', { modelCalls: 1 }, (why) => stopped.push(why));
    expect((await call(calls.token)).status).toBe(200);
    const refused = await call(calls.token);
    expect(refused.status).toBe(429);
    expect(await refused.json()).toMatchObject({
      error: { status: 'RESOURCE_EXHAUSTED', message: expect.stringContaining('budget of 1 model call') },
    });
    expect(stopped).toHaveLength(1);
    expect(calls.usage.calls).toBe(1);

    const tokenBudget = tokens.issue('run_f', { tokens: 5 }, (why) => stopped.push(why));
    expect((await call(tokenBudget.token)).status).toBe(200); // the call that goes over is answered...
    expect(stopped.at(-1)).toContain('16 model tokens, over its budget of 5');
    expect((await call(tokenBudget.token)).status).toBe(429); // ...the next is not
  });

  it("passes the model API's errors on as they are, and answers in its shape when it is unreachable", async () => {
    const grant = tokens.issue('run_g', {});
    const rejected = await fetch(`${url}/v1beta/models/gemini-2.5-flash:generateContent`, {
      method: 'POST',
      body: body('FAKE_ERROR_400'),
      headers: { 'x-goog-api-key': grant.token },
    });
    expect(rejected.status).toBe(400);
    expect(await rejected.json()).toMatchObject({
      error: { status: 'INVALID_ARGUMENT', message: 'the fake model rejected the request on purpose' },
    });
    expect(grant.usage.errors).toBe(1);

    const nowhere = start(`http://127.0.0.1:${await freePort()}`);
    const down = await nowhere.server.listen('127.0.0.1', 0);
    try {
      const g = nowhere.tokens.issue('run_h', {});
      const res = await fetch(`${down}/v1beta/models/gemini-2.5-flash:generateContent`, {
        method: 'POST',
        body: body('x'),
        headers: { 'x-goog-api-key': g.token },
      });
      expect(res.status).toBe(502);
      expect(await res.json()).toMatchObject({ error: { code: 502, status: 'UNAVAILABLE' } });
      expect(g.usage.errors).toBe(1);
    } finally {
      await nowhere.server.close();
    }
  });

  it("keeps the upstream's path prefix (a corporate gateway) and passes no key in the query", async () => {
    const seen: Array<{ url: string; key: string | undefined }> = [];
    const upstream = createServer((req, res) => {
      seen.push({ url: req.url ?? '', key: req.headers['x-goog-api-key'] as string | undefined });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    }).listen(0, '127.0.0.1');
    await new Promise((r) => upstream.once('listening', r));
    const corp = start(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}/corp/gemini/`);
    const at = await corp.server.listen('127.0.0.1', 0);
    try {
      const g = corp.tokens.issue('run_p', {});
      const res = await fetch(`${at}/v1beta/models/m-1:streamGenerateContent?alt=sse&key=${g.token}`, {
        method: 'POST',
        body: body('x'),
      });
      expect(res.status).toBe(200);
      expect(seen).toEqual([{ url: '/corp/gemini/v1beta/models/m-1:streamGenerateContent?alt=sse', key: REAL_KEY }]);
    } finally {
      await corp.server.close();
      upstream.close();
    }
  });

  it('holds a run to two calls in flight, charges a stream its reader dropped, and refuses everything once over budget', async () => {
    const grant = tokens.issue('run_q', { tokens: 1000 });
    const stream = () =>
      call(grant.token, 'gemini-2.5-flash:streamGenerateContent?alt=sse', { body: body('FAKE_SLOW') });
    const [a, b] = await Promise.all([stream(), stream()]);
    const third = await call(grant.token);
    expect(third.status).toBe(429);
    expect(await third.json()).toMatchObject({ error: { message: expect.stringContaining('in flight') } });
    // Read one event of `a`, then drop it: what it got is charged all the same.
    const reader = a.body!.getReader();
    await reader.read();
    await reader.cancel();
    await b.text();
    await new Promise((r) => setTimeout(r, 50));
    expect(grant.inFlight).toBe(0);
    expect(grant.usage.totalTokens).toBe(32); // 16 for each, the dropped one included
    expect((await call(grant.token)).status).toBe(200);

    const spent = tokens.issue('run_r', { modelCalls: 1 });
    const neighbour = tokens.issue('run_r2', { modelCalls: 1 });
    expect((await call(spent.token)).status).toBe(200);
    expect(neighbour.usage.calls).toBe(0); // one run's calls are its own: another's budget is untouched
    expect((await call(neighbour.token)).status).toBe(200);
    expect((await call(spent.token)).status).toBe(429);
    expect((await call(spent.token, 'gemini-2.5-flash:countTokens')).status).toBe(429); // nothing more, counting included
  });

  it('passes on only alt=sse, follows no redirect, and gives back a call the API refused for load', async () => {
    const seen: string[] = [];
    let answer: [number, Record<string, string>, string] = [200, { 'content-type': 'application/json' }, '{}'];
    const upstream = createServer((req, res) => {
      seen.push(req.url ?? '');
      res.writeHead(answer[0], answer[1]).end(answer[2]);
    }).listen(0, '127.0.0.1');
    await new Promise((r) => upstream.once('listening', r));
    const g = start(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`);
    const at = await g.server.listen('127.0.0.1', 0);
    try {
      let grant = g.tokens.issue('run_s', {});
      const post = (query: string) =>
        fetch(`${at}/v1beta/models/m:generateContent${query}`, {
          method: 'POST',
          body: body('x'),
          headers: { 'x-goog-api-key': grant.token },
        });
      await post('?alt=sse&$fields=candidates&fields=x&callback=cb&alt=proto');
      expect(seen.at(-1)).toBe('/v1beta/models/m:generateContent?alt=sse');

      answer = [302, { location: 'http://127.0.0.1:1/steal' }, ''];
      expect((await post('')).status).toBe(502);
      expect(seen).toHaveLength(2);

      answer = [
        429,
        { 'content-type': 'application/json' },
        '{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"quota"}}',
      ];
      const calls = grant.usage.calls;
      expect((await post('')).status).toBe(429);
      expect(grant.usage.calls).toBe(calls); // the model never answered it

      // An answer whose usage cannot be read cannot be counted against a token budget: the run is over it.
      answer = [200, { 'content-type': 'application/json' }, '{"candidates":[]}'];
      grant = g.tokens.issue('run_t', { tokens: 100 });
      expect((await post('')).status).toBe(200);
      expect(grant.overBudget).toContain('no usage');
    } finally {
      await g.server.close();
      upstream.close();
    }
  });

  it('without a configured key, refuses and says what to configure, forwarding nothing', async () => {
    const keyless = start(fake.url, null);
    const at = await keyless.server.listen('127.0.0.1', 0);
    try {
      const g = keyless.tokens.issue('run_i', {});
      const before = fake.requests.length;
      const res = await fetch(`${at}/v1beta/models/gemini-2.5-flash:generateContent`, {
        method: 'POST',
        body: body('x'),
        headers: { 'x-goog-api-key': g.token },
      });
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: { message: expect.stringContaining('GEMINI_API_KEY') } });
      expect(fake.requests.length).toBe(before);
    } finally {
      await keyless.server.close();
    }
  });
});
