import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { stream } from 'hono/streaming';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { applyServerLimits, type ServerLimits } from '../src/http/server-limits.js';
import { waitFor } from './helpers/harness.js';
import { processDatabases } from './helpers/process-database.js';
import { spawnService } from './helpers/service-process.js';

const app = new Hono()
  .get('/ok', (c) => c.text('ok'))
  .post('/echo', async (c) => {
    try {
      return c.text(String((await c.req.text()).length));
    } catch {
      return c.text('the request was cut off', 408); // (its connection is gone already)
    }
  })
  // A response that lasts well past the request timeout, as a run's stream does.
  .get('/stream', (c) =>
    stream(c, async (s) => {
      for (let i = 0; i < 12; i++) {
        await s.write(`tick ${i}\n`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }),
  );

const LIMITS: ServerLimits = {
  maxConnections: 50,
  headersTimeoutMs: 300,
  requestTimeoutMs: 600,
  keepAliveTimeoutMs: 5000,
};

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

/** Serves the app on a loopback port as src/index.ts does: serve(), then the limits. */
async function start(limits: ServerLimits) {
  const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }) as Server;
  applyServerLimits(server, limits);
  servers.push(server);
  await new Promise((r) => server.once('listening', r));
  return server;
}

/** A raw connection that records what it receives and when it is closed. */
async function open(port: number) {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  socket.on('error', () => {}); // a reset shows as 'close' below
  let data = '';
  socket.on('data', (d: Buffer) => (data += d.toString()));
  const t0 = performance.now();
  const closed = new Promise<{ ms: number; data: string }>((resolve) =>
    socket.once('close', () => resolve({ ms: performance.now() - t0, data })),
  );
  await new Promise((r) => socket.once('connect', r));
  return {
    socket,
    closed,
    received: () => data,
    /** Sends GET /ok on this keep-alive connection and waits for its reply. */
    async get() {
      const before = data.length;
      socket.write('GET /ok HTTP/1.1\r\nHost: x\r\n\r\n');
      await waitFor(() => data.slice(before).endsWith('\r\n\r\nok') || socket.destroyed, 3000, 10);
      return data.slice(before);
    },
  };
}

const portOf = (server: Server) => (server.address() as AddressInfo).port;

describe('the HTTP server limits', () => {
  it('cut off a client whose headers come too slowly (or never), not a long response', async () => {
    const server = await start(LIMITS);
    const port = portOf(server);

    const slow = await open(port);
    slow.socket.write('GET /ok HTTP/1.1\r\nHost: x\r\n');
    const drip = setInterval(() => slow.socket.writable && slow.socket.write('X-Slow: y\r\n'), 50);
    const silent = await open(port);
    const slowBody = await open(port);
    slowBody.socket.write('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n');
    const bodyDrip = setInterval(() => slowBody.socket.writable && slowBody.socket.write('z'), 50);
    const long = fetch(`http://127.0.0.1:${port}/stream`).then((r) => r.text());
    try {
      const [s, q, b] = await Promise.all([slow.closed, silent.closed, slowBody.closed]);
      // headersTimeout (300 ms) plus at most one check interval (75 ms) and some slack
      expect(s.data).toMatch(/^HTTP\/1\.1 408 Request Timeout/);
      expect(s.ms).toBeGreaterThanOrEqual(250);
      expect(s.ms).toBeLessThan(1000);
      expect(q.data).toMatch(/^HTTP\/1\.1 408 Request Timeout/);
      expect(q.ms).toBeLessThan(1000);
      // the body is part of the request: requestTimeout (600 ms)
      expect(b.data).toMatch(/^HTTP\/1\.1 408 Request Timeout/);
      expect(b.ms).toBeGreaterThanOrEqual(550);
      expect(b.ms).toBeLessThan(1500);
    } finally {
      clearInterval(drip);
      clearInterval(bodyDrip);
    }
    // A response lasting 1.2 s, twice the request timeout, is whole.
    expect(await long).toBe(Array.from({ length: 12 }, (_, i) => `tick ${i}\n`).join(''));
    // And a client that sends its request in time is served.
    const prompt = await fetch(`http://127.0.0.1:${port}/echo`, { method: 'POST', body: 'x'.repeat(5000) });
    expect(await prompt.text()).toBe('5000');
  });

  it('close connections past maxConnections while the open ones keep working', async () => {
    const server = await start({ ...LIMITS, maxConnections: 2 });
    const port = portOf(server);
    const a = await open(port);
    const b = await open(port);
    expect(await a.get()).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(await b.get()).toMatch(/^HTTP\/1\.1 200 OK/);

    const refused = await open(port);
    refused.socket.write('GET /ok HTTP/1.1\r\nHost: x\r\n\r\n');
    const r = await refused.closed;
    expect(r.data).toBe('');
    expect(r.ms).toBeLessThan(1000);

    expect(await a.get()).toMatch(/^HTTP\/1\.1 200 OK/); // still served, on the same connection
    expect(a.socket.destroyed).toBe(false);

    b.socket.destroy();
    await waitFor(() => new Promise<boolean>((res) => server.getConnections((_, n) => res(n < 2))), 3000);
    const c = await open(port);
    expect(await c.get()).toMatch(/^HTTP\/1\.1 200 OK/); // a freed place is taken again
  });

  it('must be applied before the server listens', async () => {
    const server = createServer();
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    expect(() => applyServerLimits(server, LIMITS)).toThrow('apply the server limits before the server listens');
  });
});

describe('the service', () => {
  let dir: string;
  const databases = processDatabases();
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ephemera-limits-'));
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await databases.close();
  });

  it('applies the limits from its environment', async () => {
    const svc = await spawnService({
      ...(await databases.env('limits')),
      DOCKER_HOST: `unix://${join(dir, 'no-engine.sock')}`, // no container is needed here
      HEADERS_TIMEOUT_MS: '300',
      REQUEST_TIMEOUT_MS: '600',
      MAX_CONNECTIONS: '2',
    });
    const port = Number(new URL(svc.url).port);
    try {
      const slow = await open(port);
      slow.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
      const drip = setInterval(() => slow.socket.writable && slow.socket.write('X-Slow: y\r\n'), 50);
      const s = await slow.closed.finally(() => clearInterval(drip));
      expect(s.data).toMatch(/^HTTP\/1\.1 408 Request Timeout/);
      expect(s.ms).toBeLessThan(1000);

      const held = [await open(port), await open(port)];
      for (const h of held) {
        h.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
        await waitFor(() => h.received().includes('"status":"ok"'), 3000, 10);
      }
      const refused = await open(port);
      refused.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      expect((await refused.closed).data).toBe('');
      for (const h of held) h.socket.destroy();
    } finally {
      svc.proc.kill('SIGTERM');
      expect(await svc.exited).toBe(0);
    }
  });
});
