import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresStore } from '../src/db/postgres/store.js';
import { jsonOf, listen, post, serveOn, waitFor, type StoreHarness } from './helpers/harness.js';
import { startNginx } from './helpers/nginx.js';
import { sseEvents } from './helpers/sse.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { spawnService } from './helpers/service-process.js';

/**
 * Replicas: stateless services sharing one Postgres database (DATABASE_URL), each with its own
 * INSTANCE_ID, on one engine. A session continues on any of them; a session's runs are one at
 * a time across them; a killed one's runs are ended and its containers removed by a survivor.
 */
let pg: TestDatabase;
let a: StoreHarness;
let b: StoreHarness;

beforeAll(async () => {
  pg = await createTestDatabase();
  a = serveOn(await openPostgresStore(pg.url));
  b = serveOn(await openPostgresStore(pg.url));
  await a.service.startBackground();
  await b.service.startBackground();
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await pg?.drop();
});

const run = (h: StoreHarness, path: string, prompt: string) =>
  h.app.request(post(path, prompt, { accept: 'application/json' }));

describe('two replicas on one Postgres database', () => {
  it('continue each other’s sessions: turn 1 on A, turn 2 on B replays turn 1', async () => {
    const first = await jsonOf(run(a, '/v1/run', 'echo one from A'));
    expect(first).toMatchObject({ status: 'succeeded', output: 'one from A\n' });
    const second = await jsonOf(run(b, `/v1/sessions/${first.session_id}/messages`, 'cat /ephemera/history.jsonl'));
    expect(second.status).toBe('succeeded');
    expect(second.output).toContain('echo one from A');
    expect(second.output).toContain('one from A\\n');
    // Either replica shows the whole transcript.
    const onA = await jsonOf(a.app.request(`/v1/sessions/${first.session_id}`));
    expect(onA.messages).toHaveLength(4);
    expect(onA.turns).toBe(2);
  });

  it("follow a run's events from the other replica: B streams what A's run prints, as it prints it, to done", async () => {
    const started = await a.app.request(post('/v1/run', 'echo one; sleep 1; echo two', { prefer: 'respond-async' }));
    expect(started.status).toBe(202);
    const { run_id: runId } = await jsonOf(started);
    const followed = await b.app.request(`/v1/runs/${runId}/events`, { headers: { accept: 'text/event-stream' } });
    const events = sseEvents(await followed.text());
    expect(events.map((e) => e.event)).toEqual(['run', 'stdout', 'stdout', 'done']);
    expect(events.map((e) => e.id)).toEqual([1, 2, 3, 4].map((n) => `${runId}:${n}`));
    expect(events.filter((e) => e.event === 'stdout').map((e) => e.data.data)).toEqual(['one\n', 'two\n']);
    expect(events.at(-1)!.data).toMatchObject({ status: 'succeeded' });
  });

  it('record exactly one of two turns racing on one session: the other gets 409', async () => {
    const first = await jsonOf(run(a, '/v1/run', 'echo begun'));
    const path = `/v1/sessions/${first.session_id}/messages`;
    const answers = await Promise.all([run(a, path, 'sleep 1; echo from A'), run(b, path, 'sleep 1; echo from B')]);
    expect(answers.map((r) => r.status).sort()).toEqual([200, 409]);
    const refused = answers.find((r) => r.status === 409)!;
    expect(await refused.json()).toMatchObject({ error: { code: 'SESSION_BUSY' } });
    const runs = await jsonOf(b.app.request(`${path.replace('/messages', '')}/runs`));
    expect(runs.items).toHaveLength(2);
  });

  it('end a killed replica’s run within 10 s and remove its container; nothing stays running', async () => {
    const killed = await spawnService({
      DATABASE_URL: pg.url,
      INSTANCE_ID: `replica-killed-${process.pid}`,
      REAP_INTERVAL_MS: '1000',
    });
    try {
      const res = await fetch(`${killed.url}/v1/run`, { method: 'POST', body: 'echo started; sleep 60' });
      const reader = res.body!.getReader();
      expect(new TextDecoder().decode((await reader.read()).value)).toBe('started\n');
      const runId = res.headers.get('x-run-id')!;
      killed.proc.kill('SIGKILL');
      await killed.exited;
      const killedAt = Date.now();
      const ended = await waitFor(
        async () => {
          const r = await b.service.transcripts.getRun(runId);
          return r?.status === 'running' ? undefined : r;
        },
        12_000,
        100,
      );
      expect(Date.now() - killedAt).toBeLessThan(10_000);
      expect(ended).toMatchObject({ status: 'interrupted', errorCode: 'INTERRUPTED' });
      expect(await b.service.transcripts.getSession(ended.sessionId)).toMatchObject({ lastStatus: 'interrupted' });
      // The survivors' reapers take the container of the replica that stopped beating.
      await waitFor(
        async () =>
          (
            await a.docker.listContainers({
              all: true,
              filters: { label: [`ephemera.instance=replica-killed-${process.pid}`] },
            })
          ).length === 0,
        10_000,
        200,
      );
      const running = await a.service.database.sessions.listSessions({ status: 'running' }, 10);
      expect(running.items).toEqual([]);
    } finally {
      killed.proc.kill('SIGKILL');
    }
  });

  it('serve through nginx with no stickiness: streamed as printed, a session continued on the other replica', async () => {
    const [onA, onB] = [await listen(a.app), await listen(b.app)];
    const lb = await startNginx([`127.0.0.1:${onA.port}`, `127.0.0.1:${onB.port}`]);
    try {
      const { key } = await a.service.keys.create(`lb-${process.pid}`, 'user');
      const auth = { authorization: `Bearer ${key}` };
      // Streamed: the first line arrives while the run still sleeps.
      const res = await fetch(`${lb.url}/v1/run`, {
        method: 'POST',
        body: 'echo first; sleep 2; echo second',
        headers: auth,
      });
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      const started = Date.now();
      expect(new TextDecoder().decode((await reader.read()).value)).toBe('first\n');
      expect(Date.now() - started).toBeLessThan(1500);
      let rest = '';
      for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value);
      expect(rest).toBe('second\n');
      // Round robin: four turns of one session, two on each replica, each replaying the ones before.
      const sessionId = res.headers.get('x-session-id')!;
      const served = new Set<string>();
      for (let i = 0; i < 4; i++) {
        const turn = await fetch(`${lb.url}/v1/sessions/${sessionId}/messages`, {
          method: 'POST',
          body: 'wc -l < /ephemera/history.jsonl',
          headers: { ...auth, accept: 'application/json' },
        });
        const body = (await turn.json()) as { output: string; run_id: string };
        expect(body.output.trim()).toBe(String(2 * (i + 1)));
        served.add((await a.service.transcripts.getRun(body.run_id))!.instanceId!);
      }
      expect(served).toEqual(new Set([a.instanceId, b.instanceId]));
    } finally {
      await lb.stop();
      await onA.close();
      await onB.close();
    }
  });
});
