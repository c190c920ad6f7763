import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../src/db/ids.js';
import { createHarness, jsonOf, waitFor, type Harness } from './helpers/harness.js';
import { seedSession } from './helpers/seed.js';

// RETENTION_DAYS and npm run prune: old sessions go with everything they own, and the
// stats roll-ups (kept by triggers) stay right.

const DAY = 24 * 3_600_000;
const NOW = Date.now();
let h: Harness;
beforeAll(() => {
  h = createHarness();
});
afterAll(() => h.close());

const count = async (table: string, sessionId: string) =>
  (await h.rows<{ n: number }>(`select count(*) as n from ${table} where session_id = ?`, sessionId))[0]!.n;
const turn = { prompt: 'p', reply: 'r' };

/** /v1/stats by status over [from, to), and the same counted straight from `runs`. */
async function statsAgree(from: number, to: number) {
  const got = (await jsonOf(h.app.request(`/v1/stats?from=${from}&to=${to}`))).by_status;
  const want = await h.rows(
    'select status, count(*) as runs from runs where created_at >= ? and created_at < ? group by status order by status',
    from,
    to,
  );
  expect(got).toEqual(want);
  return got as { status: string; runs: number }[];
}

describe('pruning old sessions', () => {
  it('deletes sessions untouched for N days with their messages, runs and workspace; keeps newer ones and ones with a run in progress', async () => {
    const old = await seedSession(h.database, { at: NOW - 40 * DAY, turns: [turn, { ...turn, status: 'failed' }] });
    await h.service.workspaces.put(
      old.sessionId,
      { entries: [], tar: Buffer.alloc(1024), bytes: 1024, files: 0, sha256: 'x'.repeat(64) },
      NOW - 40 * DAY,
    );
    const recent = await seedSession(h.database, { at: NOW - 2 * DAY, turns: [turn] });
    const busy = newId('ses');
    await h.database.transcripts.beginTurn({
      sessionId: busy,
      newSessionAgent: 'shell',
      runId: newId('run'),
      agent: 'shell',
      image: 'i',
      instanceId: 'x',
      keyId: null,
      timeoutMs: 1000,
      prompt: 'p',
      now: NOW - 40 * DAY,
    });
    const window = [NOW - 41 * DAY, NOW] as const;
    const before = await statsAgree(...window);
    expect(before.reduce((n, s) => n + s.runs, 0)).toBe(4);

    expect(await h.database.prune(30, NOW, { dryRun: true })).toBe(1);
    expect(await h.database.prune(30, NOW, { batch: 1 })).toBe(1);
    expect(await h.service.transcripts.getSession(old.sessionId)).toBeUndefined();
    for (const table of ['messages', 'runs', 'workspaces']) expect(await count(table, old.sessionId), table).toBe(0);
    expect(await h.service.transcripts.getSession(recent.sessionId)).toBeDefined();
    expect(await h.service.transcripts.getSession(busy)).toBeDefined(); // its run is still going
    const after = await statsAgree(...window);
    expect(after.reduce((n, s) => n + s.runs, 0)).toBe(2);
  });

  it('runs in the background when RETENTION_DAYS is set', async () => {
    const kept = createHarness({ retentionDays: 7 });
    try {
      const old = await seedSession(kept.database, { at: NOW - 8 * DAY, turns: [turn] });
      const fresh = await seedSession(kept.database, { at: NOW - 6 * DAY, turns: [turn] });
      await kept.service.startBackground();
      await waitFor(async () => (await kept.service.transcripts.getSession(old.sessionId)) === undefined, 5000);
      expect(await kept.service.transcripts.getSession(fresh.sessionId)).toBeDefined();
    } finally {
      await kept.close();
    }
  });

  it('npm run prune: from the built output, --dry-run counts, --days or RETENTION_DAYS say how old', async () => {
    execFileSync(process.execPath, ['scripts/build-if-stale.mjs'], { stdio: 'inherit' });
    await seedSession(h.database, { at: NOW - 100 * DAY, turns: [turn] });
    const database = await h.databaseEnv();
    const prune = (args: string[], env: Record<string, string> = database) => {
      const r = spawnSync(process.execPath, ['dist/cli/prune.js', ...args], {
        env: { ...process.env, ...env },
        encoding: 'utf8',
      });
      return { code: r.status, out: r.stdout, err: r.stderr };
    };
    expect(prune([])).toMatchObject({
      code: 2,
      err: 'prune: how old: give --days N, or set RETENTION_DAYS (--help shows the usage)\n',
    });
    const nowhere = `${h.dbPath}.never`;
    expect(prune([], { DATABASE_PATH: nowhere })).toMatchObject({ code: 2 }); // a file, whose making would show
    expect(existsSync(nowhere)).toBe(false); // refused before anything was opened
    expect(prune(['--days', 'soon'])).toMatchObject({ code: 2 });
    expect(prune(['--days', '90', '--dry-run'])).toMatchObject({
      code: 0,
      out: 'would prune 1 session(s) untouched for 90 day(s)\n',
    });
    expect(prune([], { ...database, RETENTION_DAYS: '90' })).toMatchObject({
      code: 0,
      out: 'pruned 1 session(s) untouched for 90 day(s)\n',
    });
    expect(prune(['--help']).out).toMatch(/^usage: npm run prune/);
  }, 120_000);
});
