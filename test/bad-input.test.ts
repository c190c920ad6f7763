import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, listen, type Harness } from './helpers/harness.js';

// Thousands of generated bad requests: every one must get a 4xx JSON error, none a 500,
// none may crash the service or write anything.
let h: Harness;
let server: Awaited<ReturnType<typeof listen>>;
beforeAll(async () => {
  h = createHarness({ maxBodyBytes: 4096 });
  server = await listen(h.app);
});
afterAll(async () => {
  await server.close();
  await h.close();
});

/** mulberry32: a seeded generator, so a failure can be replayed. */
function rng(seed: number) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = 20261125;

function generate(count: number): Array<{ label: string; req: Request }> {
  const r = rng(SEED);
  const int = (n: number) => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const randomText = (n: number) => Array.from({ length: n }, () => String.fromCharCode(32 + int(95))).join('');
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => int(256));
  const wrong = [null, true, false, 0, -1, 1.5, 1e21, [], [1, 'a'], {}, { a: 1 }, '', 'x'.repeat(100)];
  const oddIds = [
    '..%2F..%2Fetc%2Fpasswd',
    '%2e%2e',
    `ses_${'a'.repeat(29)}`,
    'ses_',
    '%00',
    '%F0%9F%9A%80',
    "'; drop table sessions; --",
    'a'.repeat(2000),
    'run_0mwwaaaaa0000000000000000000000',
    '%25%25',
    '*',
  ];
  const routes = [
    '/',
    '/v1',
    '/v1/runs',
    '/v1/run/x',
    '/v1/sessionz',
    '/v1/sessions/x',
    '/admin',
    '/.env',
    '/v1/run/../../etc',
    '/%2e%2e/x',
  ];
  const out: Array<{ label: string; req: Request }> = [];
  const json = { 'content-type': 'application/json' };
  const url = (path: string) => `http://localhost${path}`;
  const POST = (path: string, body: string | Uint8Array, headers: Record<string, string> = {}) =>
    new Request(url(path), { method: 'POST', body, headers });

  for (let i = 0; i < count; i++) {
    switch (int(10)) {
      case 0: {
        const valid = JSON.stringify({ prompt: 'echo hi', agent: 'shell' });
        out.push({ label: 'truncated JSON', req: POST('/v1/run', valid.slice(0, int(valid.length - 1)), json) });
        break;
      }
      case 1:
        out.push({ label: 'random bytes as JSON', req: POST('/v1/run', bytes(1 + int(200)), json) });
        break;
      case 2: {
        const body: Record<string, unknown> = { prompt: 'echo hi' };
        const field = pick(['prompt', 'agent', 'timeout_ms', 'extra'] as const);
        body[field] = field === 'extra' ? 1 : pick(wrong);
        // A string that would be valid here is made invalid: never a real profile, never a real prompt.
        if (field === 'agent' && typeof body.agent === 'string' && body.agent !== '') body.agent = `nope-${body.agent}`;
        if (field === 'prompt' && typeof body.prompt === 'string' && body.prompt !== '') body.prompt = 5;
        out.push({ label: `wrong type for ${field}`, req: POST('/v1/run', JSON.stringify(body), json) });
        break;
      }
      case 3:
        out.push({
          label: 'empty or blank',
          req: POST(
            '/v1/run',
            pick(['', ' ', '\n\t ', '\r\n']),
            pick<Record<string, string>>([{}, { 'content-type': 'text/plain' }]),
          ),
        });
        break;
      case 4: {
        const size = 4097 + int(20_000);
        out.push({ label: 'over the body limit', req: POST('/v1/run', 'y'.repeat(size)) });
        break;
      }
      case 5: {
        const head = new TextEncoder().encode('echo ');
        const bad = pick([[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80]]);
        out.push({
          label: 'invalid UTF-8',
          req: POST('/v1/run', Uint8Array.from([...head, ...bad, ...bytes(int(5)).map((b) => b & 0x7f)])),
        });
        break;
      }
      case 6:
        out.push({ label: 'odd session id', req: POST(`/v1/sessions/${pick(oddIds)}/messages`, 'echo hi') });
        break;
      case 7: {
        const method = pick(['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'POST']);
        const path = method === 'POST' ? pick(routes) : pick([...routes, '/v1/run', '/v1/sessions/x/messages']);
        out.push({
          label: `${method} ${path}`,
          req: new Request(url(path), { method, ...(method === 'GET' ? {} : { body: 'echo hi' }) }),
        });
        break;
      }
      case 8: {
        const q = pick([
          `agent=${encodeURIComponent(randomText(1 + int(20)))}`,
          'agent=',
          `timeout_ms=${pick(['-1', '0', 'abc', '1e3', '99999999999999999999', ''])}`,
        ]);
        // Random agent names are never a profile; every timeout here is invalid.
        out.push({ label: `query ${q}`, req: POST(`/v1/run?${q}`, 'echo hi') });
        break;
      }
      default: {
        const headers: Record<string, string> = {
          'content-type': pick([
            'application/json',
            'application/json; charset=utf-7',
            'application/vnd.x+json',
            'APPLICATION/JSON',
          ]),
          accept: pick(['*/*', 'text/event-stream', 'application/json', 'garbage/;;;q=x', randomText(200)]),
          'x-junk': randomText(1000),
        };
        out.push({
          label: 'JSON content type, non-JSON body',
          req: POST('/v1/run', `not json ${randomText(int(50))}`, headers),
        });
      }
    }
  }
  return out;
}

const count = async (table: string) => (await h.rows<{ n: number }>(`select count(*) as n from ${table}`))[0]!.n;

describe('thousands of bad requests', () => {
  it('get only 4xx JSON errors and write nothing', async () => {
    const cases = generate(3000);
    const statuses = new Map<number, number>();
    for (const { label, req } of cases) {
      const res = await h.app.request(req);
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status < 400 || res.status >= 500) throw new Error(`${label}: status ${res.status} (seed ${SEED})`);
      const body = (await res.json()) as { error?: { code?: unknown; message?: unknown } };
      expect(typeof body.error?.code, label).toBe('string');
      expect(typeof body.error?.message, label).toBe('string');
    }
    expect(await Promise.all([count('sessions'), count('runs'), count('messages')])).toEqual([0, 0, 0]);
    // Every family of error was exercised.
    expect([...statuses.keys()].sort()).toEqual([400, 404, 405, 413]);
  });
});

/** Sends raw bytes to the real server and returns the status line of the answer. */
function raw(bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(server.port, '127.0.0.1');
    let answer = '';
    socket.on('data', (d) => (answer += d.toString()));
    socket.on('close', () => resolve(answer.split('\r\n')[0] ?? ''));
    socket.on('error', reject);
    socket.end(bytes);
  });
}

describe('malformed HTTP on the wire', () => {
  it.each([
    ['a garbage request line', 'HELLO\r\n\r\n'],
    ['an oversized header', `POST /v1/run HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`],
    [
      'broken chunked encoding',
      'POST /v1/run HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
    ],
    [
      'a lying content-length',
      'POST /v1/run HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nContent-Length: 20\r\n\r\n0123456789',
    ],
  ])('%s gets a 4xx and the service keeps serving', async (_label, bytes) => {
    expect(await raw(bytes)).toMatch(/^HTTP\/1\.1 4\d\d/);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect(await Promise.all([count('sessions'), count('runs'), count('messages')])).toEqual([0, 0, 0]);
  });
});
