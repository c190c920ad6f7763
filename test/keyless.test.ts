import { spawnSync } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, jsonOf, listen, post, REMOTE_PEER, type Harness } from './helpers/harness.js';
import { startNginx } from './helpers/nginx.js';
import { processDatabases } from './helpers/process-database.js';
import { freePort, spawnService } from './helpers/service-process.js';

// Without API keys, whoever reaches the loopback port is the operator. These are the
// ways something else could pass for it: another machine, a service that had keys, a
// web page in the operator's browser (cross-site or DNS rebinding).

let h: Harness;
beforeAll(() => {
  h = createHarness({ allowedHosts: ['ephemera.test'] });
});
afterAll(() => h.close());

const runsStored = async () => (await h.rows<{ n: number }>('select count(*) as n from runs'))[0]!.n;

describe('keyless serving', () => {
  it('serves a loopback peer, and refuses any other peer with 401', async () => {
    expect((await h.app.request('/v1/sessions')).status).toBe(200);
    const res = await h.app.request('/v1/sessions', {}, REMOTE_PEER);
    expect(res.status).toBe(401);
    expect(await jsonOf(res)).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    const before = await runsStored();
    expect((await h.app.request(post('/v1/run', 'id'), {}, REMOTE_PEER)).status).toBe(401);
    expect(await runsStored()).toBe(before);
  });

  it('is never on for a service that listens beyond loopback, even from the loopback', async () => {
    const wide = createHarness({ host: '0.0.0.0' });
    try {
      expect((await wide.app.request('/v1/sessions')).status).toBe(401);
      expect((await wide.app.request(post('/v1/run', 'id'))).status).toBe(401);
    } finally {
      await wide.close();
    }
  });

  it('refuses cross-site browser requests with a JSON 403, and runs nothing', async () => {
    const before = await runsStored();
    const forged: Array<Record<string, string>> = [
      { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', 'content-type': 'text/plain;charset=UTF-8' },
      { origin: 'https://evil.example' }, // an older browser: Origin only
      { 'sec-fetch-site': 'same-site' }, // another port on localhost is the same site, not the same origin
      { origin: 'null' }, // sandboxed frames, file:// pages
    ];
    for (const headers of forged) {
      const res = await h.app.request(post('/v1/run', 'echo csrf', headers));
      expect(res.status, JSON.stringify(headers)).toBe(403);
      expect(await jsonOf(res)).toMatchObject({ error: { code: 'CROSS_SITE' } });
    }
    expect(await runsStored()).toBe(before);
    // Reading is refused as well (a no-cors read cannot see the answer, but a CORS-mode one would be refused anyway).
    expect(
      (
        await h.app.request('/v1/sessions', {
          headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
        })
      ).status,
    ).toBe(403);
  });

  it('refuses with 401 a request a proxy on this machine forwarded, whatever Host it names', async () => {
    const proxied: Array<Record<string, string>> = [
      { 'x-forwarded-for': '203.0.113.7' },
      { forwarded: 'for=203.0.113.7' },
      { 'x-real-ip': '203.0.113.7' },
      { via: '1.1 proxy.example' },
      { 'X-Forwarded-Proto': 'https' },
    ];
    for (const headers of proxied) {
      const res = await h.app.request(post('/v1/run', 'echo proxied', { ...headers, host: 'localhost' }));
      expect(res.status, JSON.stringify(headers)).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('Bearer');
      expect(await jsonOf(res)).toMatchObject({
        error: { code: 'UNAUTHORIZED', message: expect.stringContaining('through a proxy') },
      });
    }
    // Debian's nginx in front, configured as docs/scaling.md says: its connection comes from the
    // loopback, and the client chose Host: localhost.
    const server = await listen(h.app);
    const nginx = await startNginx([`127.0.0.1:${server.port}`]);
    try {
      const before = await runsStored();
      const status = await new Promise<number | undefined>((resolve, reject) => {
        const req = httpRequest(`${nginx.url}/v1/run`, { method: 'POST', headers: { host: 'localhost' } }, (res) => {
          res.resume();
          resolve(res.statusCode);
        });
        req.on('error', reject);
        req.end('echo through the balancer');
      });
      expect(status).toBe(401);
      expect(await runsStored()).toBe(before);
      expect((await fetch(`${server.url}/v1/sessions`)).status).toBe(200); // the same service, asked directly
    } finally {
      await nginx.stop();
      await server.close();
    }
  });

  it('serves the same origin and requests the user typed', async () => {
    const own = await h.app.request(
      post('/v1/run', 'echo mine', {
        origin: 'http://localhost',
        'sec-fetch-site': 'same-origin',
        accept: 'application/json',
      }),
    );
    expect(own.status).toBe(200);
    expect((await jsonOf(own)).output).toBe('mine\n');
    expect((await h.app.request('/v1/sessions', { headers: { 'sec-fetch-site': 'none' } })).status).toBe(200);
  });

  it('refuses a Host that is not a loopback name (DNS rebinding), through a real server', async () => {
    const server = await listen(h.app);
    const get = (host: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(
          { host: '127.0.0.1', port: server.port, path: '/v1/sessions', headers: { host } },
          (res) => {
            let body = '';
            res.on('data', (d: Buffer) => (body += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode!, body }));
          },
        );
        req.on('error', reject);
        req.end();
      });
    try {
      const rebound = await get(`rebind.attacker.example:${server.port}`);
      expect(rebound.status).toBe(403);
      expect(JSON.parse(rebound.body)).toMatchObject({ error: { code: 'HOST_NOT_ALLOWED' } });
      expect((await get('localhost.attacker.example')).status).toBe(403);
      expect((await get('127.0.0.1.nip.example')).status).toBe(403);
      for (const host of [
        `localhost:${server.port}`,
        `127.0.0.1:${server.port}`,
        `[::1]:${server.port}`,
        `ephemera.test:${server.port}`,
      ]) {
        expect((await get(host)).status, host).toBe(200);
      }
      // An absolute-form target names localhost while the Host header names the attacker's domain.
      const raw = await new Promise<string>((resolve) => {
        // Written, not ended: a client that half-closes gets no answer from a Node server (allowHalfOpen off).
        const s = connect(server.port, '127.0.0.1', () =>
          s.write(`GET http://localhost/v1/sessions HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`),
        );
        let text = '';
        s.on('data', (d: Buffer) => (text += d.toString()));
        s.on('close', () => resolve(text));
      });
      expect(raw).toMatch(/^HTTP\/1\.1 403/);
      expect(raw).toContain('HOST_NOT_ALLOWED');
    } finally {
      await server.close();
    }
  });
});

describe('a running service bound beyond loopback whose last key is revoked', () => {
  let dir: string;
  let databases: ReturnType<typeof processDatabases>;
  const env: Record<string, Record<string, string>> = {};
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ephemera-keyless-'));
    databases = processDatabases();
    for (const name of ['wide', 'roles']) env[name] = await databases.env(name);
  });
  afterAll(async () => {
    await databases.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const keysCli = (db: string, ...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/keys.ts', ...args], {
      env: { ...process.env, ...env[db] },
      encoding: 'utf8',
    });

  it('answers 401, and `keys revoke` says so and wants --force', async () => {
    const db = 'wide';
    const created = keysCli(db, 'create', '--name', 'only', '--role', 'admin');
    expect(created.status).toBe(0);
    const key = created.stdout.trim();
    const svc = await spawnService({ ...env[db], HOST: '0.0.0.0' });
    try {
      const auth = { authorization: `Bearer ${key}` };
      expect((await fetch(`${svc.url}/v1/sessions`, { headers: auth })).status).toBe(200);

      const refused = keysCli(db, 'revoke', 'only');
      expect(refused.status).toBe(2);
      expect(refused.stderr).toMatch(/last active key.*401.*--force/s);
      expect((await fetch(`${svc.url}/v1/sessions`, { headers: auth })).status).toBe(200);

      expect(keysCli(db, 'revoke', 'only', '--force').status).toBe(0);
      for (const res of [
        await fetch(`${svc.url}/v1/sessions`),
        await fetch(`${svc.url}/v1/run`, { method: 'POST', body: 'id' }),
      ]) {
        expect(res.status).toBe(401);
        expect(await res.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
      }
      expect((await fetch(`${svc.url}/v1/sessions`, { headers: auth })).status).toBe(401);
    } finally {
      svc.proc.kill('SIGTERM');
      await svc.exited;
    }
  });

  it('refuses to start again without an active key', async () => {
    const start = spawnSync(process.execPath, ['--import', 'tsx', 'src/index.ts'], {
      env: { ...process.env, ...env.wide, HOST: '127.0.0.1', PORT: String(await freePort()) },
      encoding: 'utf8',
      timeout: 20_000,
      killSignal: 'SIGKILL', // were it to start after all, leave no service behind
    });
    expect(start.status).toBe(2);
    expect(start.stderr).toMatch(/every key was revoked/);
  });

  it('`keys revoke` of the last admin key, while user keys remain, also wants --force', () => {
    const db = 'roles';
    expect(keysCli(db, 'create', '--name', 'boss', '--role', 'admin').status).toBe(0);
    expect(keysCli(db, 'create', '--name', 'worker', '--role', 'user').status).toBe(0);
    const refused = keysCli(db, 'revoke', 'boss');
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/last active admin key/);
    expect(keysCli(db, 'revoke', 'worker').status).toBe(0); // a user key goes without fuss
  });
});
