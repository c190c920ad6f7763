import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from './helpers/harness.js';
import { processDatabases } from './helpers/process-database.js';
import { shippedWithoutStandby, spawnService } from './helpers/service-process.js';

const docker = new Docker();
let dir: string;
let databases: ReturnType<typeof processDatabases>;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ephemera-proc-'));
  databases = processDatabases();
});
afterAll(async () => {
  await databases.close();
  rmSync(dir, { recursive: true, force: true });
});

const managedBy = async (instance: string) =>
  docker.listContainers({ all: true, filters: { label: [`ephemera.instance=${instance}`] } });
const runStatus = async (db: string, runId: string) =>
  (
    await databases.rows<{ status: string; errorCode: string | null }>(
      db,
      'select status, error_code as "errorCode" from runs where id = ?',
      runId,
    )
  )[0]!;

/** Starts a streamed run and resolves with its ids once `marker` has been printed. */
async function startRun(url: string, prompt: string, marker: string) {
  const controller = new AbortController();
  const res = await fetch(`${url}/v1/run`, { method: 'POST', body: prompt, signal: controller.signal });
  const reader = res.body!.getReader();
  let text = '';
  while (!text.includes(marker)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  const rest = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return text;
        text += new TextDecoder().decode(value);
      }
    } catch {
      return text;
    }
  })();
  return { runId: res.headers.get('x-run-id')!, rest };
}

describe('the service process', () => {
  it('after SIGKILL mid-run, the next start marks the run interrupted and reaps its container within 5 s', async () => {
    const db = 'killed';
    // Cold runs: a run the shipped shell profile's standby serves, and its waiting containers,
    // are counted in standby.test.ts ("after a SIGKILL, the next start removes ...").
    const env = { ...(await databases.env(db)), REAP_INTERVAL_MS: '1000', PROFILES_PATH: shippedWithoutStandby(dir) };
    const first = await spawnService(env);
    const instance = /"instance":"([^"]+)"/.exec(first.logs.join('\n'))![1]!;
    const { runId } = await startRun(first.url, 'echo up; sleep 60', 'up');
    first.proc.kill('SIGKILL');
    await first.exited;
    expect((await managedBy(instance)).length).toBe(1); // the orphan
    expect((await runStatus(db, runId)).status).toBe('running');

    const restartedAt = performance.now();
    const second = await spawnService(env);
    try {
      await waitFor(async () => (await managedBy(instance)).length === 0, 5000, 50);
      expect(performance.now() - restartedAt).toBeLessThan(5000 + 3000); // start-up plus the 5 s promise
      expect(await runStatus(db, runId)).toEqual({ status: 'interrupted', errorCode: 'INTERRUPTED' });
    } finally {
      second.proc.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    }
  });

  it('starts with the engine unreachable: up, not ready, runs refused with 503 and kept', async () => {
    const db = 'no-engine';
    const svc = await spawnService({
      ...(await databases.env(db)),
      DOCKER_HOST: `unix://${join(dir, 'no-engine.sock')}`,
    });
    try {
      expect((await fetch(`${svc.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${svc.url}/readyz`)).status).toBe(503);
      const res = await fetch(`${svc.url}/v1/run`, { method: 'POST', body: 'echo hi' });
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ error: { code: 'RUNTIME_UNAVAILABLE' } });
      expect(await runStatus(db, res.headers.get('x-run-id')!)).toEqual({
        status: 'failed',
        errorCode: 'RUNTIME_UNAVAILABLE',
      });
    } finally {
      svc.proc.kill('SIGTERM');
      expect(await svc.exited).toBe(0);
    }
  });

  it('on SIGTERM, stops accepting, lets an in-flight run finish, and exits cleanly', async () => {
    const db = 'graceful';
    const svc = await spawnService({ ...(await databases.env(db)), SHUTDOWN_GRACE_MS: '10000' });
    const { runId, rest } = await startRun(svc.url, 'echo first; sleep 1.5; echo second', 'first');
    svc.proc.kill('SIGTERM');
    expect(await rest).toBe('first\nsecond\n');
    expect(await svc.exited).toBe(0);
    expect((await runStatus(db, runId)).status).toBe('succeeded');
    await expect(fetch(`${svc.url}/healthz`)).rejects.toThrow();
    if (databases.dialect === 'sqlite')
      expect(await databases.rows(db, 'pragma integrity_check')).toEqual([{ integrity_check: 'ok' }]);
  });

  it('on SIGTERM, kills a run that outlives the grace period and records it as interrupted', async () => {
    const db = 'grace';
    const svc = await spawnService({ ...(await databases.env(db)), SHUTDOWN_GRACE_MS: '500' });
    const instance = /"instance":"([^"]+)"/.exec(svc.logs.join('\n'))![1]!;
    const { runId, rest } = await startRun(svc.url, 'echo going; sleep 60', 'going');
    const t0 = performance.now();
    svc.proc.kill('SIGTERM');
    expect(await svc.exited).toBe(0);
    expect(performance.now() - t0).toBeLessThan(5000);
    // The client is told: its answer's last line says the shutdown ended the run.
    expect(await rest).toBe(
      `going\nephemera: the run ended interrupted: the service shut down before the run ended [${runId}]\n`,
    );
    expect(await runStatus(db, runId)).toEqual({ status: 'interrupted', errorCode: 'SHUTDOWN' });
    expect(await managedBy(instance)).toEqual([]);
  });

  it('refuses a second process serving as the same instance, and starts one with its own INSTANCE_ID', async () => {
    const env = await databases.env('shared');
    const first = await spawnService(env);
    const others: Array<Awaited<ReturnType<typeof spawnService>>> = [];
    try {
      await expect(spawnService(env)).rejects.toThrow(
        new RegExp(`instance ephemera-\\w+ is already served by process ${first.proc.pid} on this database`),
      );
      others.push(await spawnService({ ...env, INSTANCE_ID: 'second-on-shared-db' }));
      const res = await fetch(`${first.url}/v1/run`, { method: 'POST', body: 'echo still here' });
      expect(await res.text()).toBe('still here\n');
    } finally {
      for (const p of [first, ...others]) p.proc.kill('SIGTERM');
      await Promise.all([first, ...others].map((p) => p.exited));
    }
  });
});
