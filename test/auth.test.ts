import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, jsonOf, post, type Harness } from './helpers/harness.js';

let h: Harness;
let admin: string;
let alice: string;
let bob: string;
let aliceId: string;
beforeAll(async () => {
  h = createHarness();
  admin = (await h.service.keys.create('root', 'admin')).key;
  const a = await h.service.keys.create('alice', 'user');
  alice = a.key;
  aliceId = a.info.id;
  bob = (await h.service.keys.create('bob', 'user')).key;
});
afterAll(() => h.close());

const as = (key: string | undefined, path: string, init: RequestInit = {}) =>
  h.app.request(
    new Request(`http://localhost${path}`, {
      ...init,
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(init.headers as Record<string, string>) },
    }),
  );

describe('API keys', () => {
  it('are required once one exists: no key or a wrong key gets 401 with a challenge', async () => {
    for (const key of [undefined, 'eph_nope_notarealkeyatall000000000', `${alice}x`]) {
      const res = await as(key, '/v1/sessions');
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await jsonOf(res)).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    }
    const run = await as(undefined, '/v1/run', { method: 'POST', body: 'echo hi' });
    expect(run.status).toBe(401);
    expect((await as(undefined, '/healthz')).status).toBe(200); // probes stay open
  });

  it('are stored hashed and listed without their secret', async () => {
    const dump = JSON.stringify(await h.rows('select * from api_keys'));
    expect(dump).not.toContain(alice);
    expect(JSON.stringify(await h.service.keys.list())).not.toContain(alice.slice(20));
  });

  it('record which key ran each run, and a user sees only its own sessions', async () => {
    const res = await as(alice, '/v1/run', {
      method: 'POST',
      body: 'echo from alice',
      headers: { accept: 'application/json' },
    });
    const body = await jsonOf(res);
    expect(body.output).toBe('from alice\n');
    expect((await h.service.transcripts.getRun(body.run_id))?.keyId).toBe(aliceId);

    const mine = await jsonOf(as(alice, '/v1/sessions'));
    expect(mine.items.map((s: { id: string }) => s.id)).toContain(body.session_id);
    expect(mine.items.every((s: { owner: string }) => s.owner === aliceId)).toBe(true);
    expect((await jsonOf(as(bob, '/v1/sessions'))).items).toEqual([]);

    // Another owner's session answers as if it did not exist.
    for (const path of [
      `/v1/sessions/${body.session_id}`,
      `/v1/sessions/${body.session_id}/runs`,
      `/v1/runs/${body.run_id}`,
    ]) {
      const res2 = await as(bob, path);
      expect(res2.status).toBe(404);
      expect(await jsonOf(res2)).toMatchObject({ error: { code: 'NOT_FOUND' } });
    }
    const cont = await as(bob, `/v1/sessions/${body.session_id}/messages`, { method: 'POST', body: 'echo sneaky' });
    expect(cont.status).toBe(404);
    expect(await h.service.transcripts.messagesOf(body.session_id)).toHaveLength(2);

    // Users cannot delete (admins only); the admin sees and deletes everything.
    expect((await as(bob, `/v1/sessions/${body.session_id}`, { method: 'DELETE' })).status).toBe(403);
    expect((await as(alice, `/v1/sessions/${body.session_id}`, { method: 'DELETE' })).status).toBe(403);
    expect((await as(admin, `/v1/sessions/${body.session_id}`)).status).toBe(200);
    expect((await as(admin, `/v1/sessions?owner=${aliceId}`)).status).toBe(200);
    expect((await as(alice, `/v1/sessions?owner=${aliceId}`)).status).toBe(400);
    expect((await as(admin, `/v1/sessions/${body.session_id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await as(alice, `/v1/sessions/${body.session_id}`)).status).toBe(404);
  });

  it('keeps stats for admins', async () => {
    expect((await as(alice, '/v1/stats')).status).toBe(403);
    expect((await as(admin, '/v1/stats')).status).toBe(200);
  });

  it('rejects a revoked key', async () => {
    const { key, info } = await h.service.keys.create('temp', 'user');
    expect((await as(key, '/v1/sessions')).status).toBe(200);
    expect(await h.service.keys.revoke(info.id)).toBe(1);
    const res = await as(key, '/v1/sessions');
    expect(res.status).toBe(401);
    expect(await jsonOf(res)).toMatchObject({
      error: { code: 'UNAUTHORIZED', message: expect.stringContaining('revoked') },
    });
  });

  it('without any key ever, the local operator needs none; revoking every key never reopens it', async () => {
    const open = createHarness();
    try {
      expect((await open.app.request('/v1/sessions')).status).toBe(200);
      const { info } = await open.service.keys.create('k', 'admin');
      expect((await open.app.request('/v1/sessions')).status).toBe(401);
      await open.service.keys.revoke(info.id);
      const run = await open.app.request(post('/v1/run', 'id', { accept: 'application/json' }));
      expect(run.status).toBe(401);
      expect(await jsonOf(run)).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
      expect((await open.app.request('/v1/sessions')).status).toBe(401);
      expect(await open.rows('select count(*) as n from runs')).toEqual([{ n: 0 }]);
    } finally {
      await open.close();
    }
  });
});
