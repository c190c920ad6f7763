import type { Header } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWorkspaceTar } from '../src/workspace/archive.js';
import { createHarness, jsonOf, type Harness } from './helpers/harness.js';
import { tarOf } from './helpers/tar.js';

// Files in and out of a session's workspace, over HTTP.
let h: Harness;
let alice: string;
let bob: string;
beforeAll(async () => {
  h = createHarness({ workspace: { maxBytes: 64 * 1024, maxFiles: 20 } });
  alice = (await h.service.keys.create('alice', 'user')).key;
  bob = (await h.service.keys.create('bob', 'user')).key;
});
afterAll(async () => {
  await h.close();
  expect(await h.leftovers()).toEqual([]);
});

const as = (key: string, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${key}`, ...extra });
const req = (method: string, path: string, key: string, body?: Buffer | string, headers: Record<string, string> = {}) =>
  h.app.request(
    new Request(`http://localhost${path}`, { method, headers: as(key, headers), ...(body !== undefined && { body }) }),
  );
const run = async (prompt: string, key = alice, session?: string) =>
  jsonOf(
    req('POST', session ? `/v1/sessions/${session}/messages` : '/v1/run', key, prompt, { accept: 'application/json' }),
  );

describe('files in and out of a session', () => {
  it('round-trips: a tar uploaded, a run that reads and writes, the workspace downloaded', async () => {
    const { session_id: id } = await run('echo hi');
    const up = await req(
      'PUT',
      `/v1/sessions/${id}/workspace`,
      alice,
      await tarOf([{ name: 'in/data.txt', body: 'from the user\n' }]),
    );
    expect(up.status).toBe(200);
    expect(await up.json()).toMatchObject({ files: 2, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });

    const turn = await run('tr a-z A-Z < in/data.txt > out.txt; echo done', alice, id);
    expect(turn).toMatchObject({ status: 'succeeded', output: 'done\n' });

    const down = await req('GET', `/v1/sessions/${id}/workspace`, alice);
    expect(down.headers.get('content-type')).toBe('application/x-tar');
    const files = await readWorkspaceTar(Buffer.from(await down.arrayBuffer()), { maxBytes: 1 << 20, maxFiles: 100 });
    expect(
      Object.fromEntries(files.filter((f) => f.type === 'file').map((f) => [f.path, f.content!.toString()])),
    ).toEqual({
      'in/data.txt': 'from the user\n',
      'out.txt': 'FROM THE USER\n',
    });
    const list = await jsonOf(req('GET', `/v1/sessions/${id}/workspace/files`, alice));
    expect(list.items.map((i: { path: string; type: string; size: number }) => [i.path, i.type, i.size])).toEqual([
      ['in', 'directory', 0],
      ['in/data.txt', 'file', 14],
      ['out.txt', 'file', 14],
    ]);
    const one = await req('GET', `/v1/sessions/${id}/workspace/file?path=out.txt`, alice);
    expect(one.headers.get('content-disposition')).toBe('attachment');
    expect(await one.text()).toBe('FROM THE USER\n');
    expect((await req('GET', `/v1/sessions/${id}/workspace/file?path=nope.txt`, alice)).status).toBe(404);
  });

  it('starts a new session with files given in the same request as its prompt, and adds more later', async () => {
    const first = await jsonOf(
      req(
        'POST',
        '/v1/run',
        alice,
        JSON.stringify({
          prompt: 'cat notes/a.txt; od -An -tx1 bin',
          files: { 'notes/a.txt': 'hello\n', bin: { base64: Buffer.from([0, 255]).toString('base64') } },
        }),
        {
          'content-type': 'application/json',
          accept: 'application/json',
        },
      ),
    );
    expect(first).toMatchObject({ status: 'succeeded', output: 'hello\n 00 ff\n' });
    const put = await req('PUT', `/v1/sessions/${first.session_id}/workspace/file?path=notes/b.txt`, alice, 'second\n');
    expect(put.status).toBe(200);
    expect((await run('cat notes/*', alice, first.session_id)).output).toBe('hello\nsecond\n');
  });

  const bad: Array<[string, Array<Partial<Header> & { name: string; body?: string }>, number, string]> = [
    ['an absolute path', [{ name: '/etc/cron.d/x', body: 'x' }], 400, 'WORKSPACE_REJECTED'],
    ['a path that climbs out', [{ name: '../../x', body: 'x' }], 400, 'WORKSPACE_REJECTED'],
    ['a symlink out', [{ name: 'l', type: 'symlink', linkname: '/etc/shadow' }], 400, 'WORKSPACE_REJECTED'],
    ['a device', [{ name: 'null', type: 'character-device', devmajor: 1, devminor: 3 }], 400, 'WORKSPACE_REJECTED'],
    ['a set-uid program', [{ name: 'su', mode: 0o4755, body: '#!/bin/sh' }], 400, 'WORKSPACE_REJECTED'],
    ['too many files', Array.from({ length: 21 }, (_, i) => ({ name: `f${i}`, body: '' })), 413, 'WORKSPACE_TOO_LARGE'],
    ['too many bytes', [{ name: 'big', body: 'x'.repeat(70 * 1024) }], 413, 'WORKSPACE_TOO_LARGE'],
  ];
  it.each(bad)('rejects %s with a JSON error and stores nothing', async (_, entries, status, code) => {
    const { session_id: id } = await jsonOf(
      req('POST', '/v1/run', alice, JSON.stringify({ prompt: 'echo keep > kept.txt', files: { 'given.txt': 'g' } }), {
        'content-type': 'application/json',
        accept: 'application/json',
      }),
    );
    const before = (await h.service.workspaces.get(id))!.sha256;
    for (const method of ['PUT', 'POST']) {
      const res = await req(method, `/v1/sessions/${id}/workspace`, alice, await tarOf(entries));
      expect(res.status).toBe(status);
      expect((await jsonOf(res)).error.code).toBe(code);
    }
    expect((await h.service.workspaces.get(id))!.sha256).toBe(before);
  });

  it('rejects what is not a tar, a bad single path, bad files in a run request, and a profile that keeps none', async () => {
    const { session_id: id } = await run('echo hi');
    const notTar = await req('PUT', `/v1/sessions/${id}/workspace`, alice, 'definitely not a tar archive'.repeat(40));
    expect(await jsonOf(notTar)).toMatchObject({ error: { code: 'WORKSPACE_REJECTED' } });
    for (const path of ['../x', '/etc/passwd', '.']) {
      const res = await req('PUT', `/v1/sessions/${id}/workspace/file?path=${encodeURIComponent(path)}`, alice, 'x');
      expect([path, res.status]).toEqual([path, 400]);
    }
    const badRun = await req(
      'POST',
      '/v1/run',
      alice,
      JSON.stringify({ prompt: 'echo x', files: { '../escape': 'x' } }),
      { 'content-type': 'application/json' },
    );
    expect(badRun.status).toBe(400);
    expect(await badRun.json()).toMatchObject({ error: { code: 'WORKSPACE_REJECTED' } });
    const cat = await req('POST', '/v1/run?agent=cat', alice, JSON.stringify({ prompt: 'x', files: { a: 'x' } }), {
      'content-type': 'application/json',
    });
    expect(cat.status).toBe(409);
    expect(await cat.json()).toMatchObject({ error: { code: 'WORKSPACE_NOT_KEPT' } });
  });

  it("answers 404 for another owner's session, whatever the verb", async () => {
    const { session_id: id } = await jsonOf(
      req('POST', '/v1/run', alice, JSON.stringify({ prompt: 'echo x', files: { 'secret.txt': 'alice only' } }), {
        'content-type': 'application/json',
        accept: 'application/json',
      }),
    );
    const tar = await tarOf([{ name: 'evil.txt', body: 'x' }]);
    for (const [method, path, body] of [
      ['GET', `/v1/sessions/${id}/workspace`],
      ['GET', `/v1/sessions/${id}/workspace/files`],
      ['GET', `/v1/sessions/${id}/workspace/file?path=secret.txt`],
      ['PUT', `/v1/sessions/${id}/workspace`, tar],
      ['POST', `/v1/sessions/${id}/workspace`, tar],
      ['PUT', `/v1/sessions/${id}/workspace/file?path=evil.txt`, 'x'],
    ] as const) {
      const res = await req(method, path, bob, body);
      expect([method, path, res.status]).toEqual([method, path, 404]);
      expect(await res.text()).not.toContain('alice only');
    }
    expect((await req('GET', `/v1/sessions/${id}/workspace/file?path=secret.txt`, alice)).status).toBe(200);
  });

  it('refuses an edit while a run is in progress (the run would overwrite it)', async () => {
    const { session_id: id } = await run('echo hi');
    const slow = req('POST', `/v1/sessions/${id}/messages`, alice, 'sleep 2; echo late', {
      accept: 'application/json',
    });
    await new Promise((r) => setTimeout(r, 600));
    const res = await req('PUT', `/v1/sessions/${id}/workspace/file?path=a.txt`, alice, 'x');
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ error: { code: 'SESSION_BUSY' } });
    expect(await jsonOf(slow)).toMatchObject({ status: 'succeeded' });
  });
});
