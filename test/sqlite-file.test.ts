import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../src/db/ids.js';
import { openDatabase } from '../src/db/sqlite/open.js';
import { pruneSessions } from '../src/db/sqlite/retention.js';
import { createHarness, type Harness } from './helpers/harness.js';
import { seedSession } from './helpers/seed.js';

// The SQLite file itself: its mode, its migrations, its query plans and a synchronous driver's
// need to yield. The behaviour both stores share is tested in the other files, on both; this
// one reads the file, so it runs in the `integration` project only (search-fts5.test.ts has
// SQLite's search index).

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const H0 = Math.floor(Date.UTC(2026, 10, 2) / HOUR) * HOUR;
const NOW = Date.now();
let h: Harness;
beforeAll(() => {
  h = createHarness();
});
afterAll(() => h.close());

describe('the database file', () => {
  it('is in WAL mode with foreign keys on, and migrations apply once', () => {
    expect(h.db.$client.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(h.db.$client.pragma('foreign_keys', { simple: true })).toBe(1);
    const journal = JSON.parse(readFileSync('migrations/meta/_journal.json', 'utf8')) as { entries: unknown[] };
    const again = openDatabase(h.dbPath); // re-opening applies nothing twice
    expect(again.$client.prepare('select count(*) as n from __drizzle_migrations').get()).toEqual({
      n: journal.entries.length,
    });
    again.$client.close();
  });
});

describe('the stats roll-ups', () => {
  it('rebuilds from `runs` to the same roll-ups as the triggers keep (the backfills of migrations 0007 and 0008)', async () => {
    const c = h.db.$client;
    // 30 runs over two days, of two agents and three endings.
    const statuses = ['succeeded', 'failed', 'timeout'] as const;
    const ids: string[] = [];
    for (let k = 0; k < 30; k++) {
      const { sessionId } = await seedSession(h.database, {
        agent: k % 2 ? 'shell' : 'cat',
        at: H0 + k * 97 * 60_000,
        turns: [{ prompt: 'a', reply: 'b', status: statuses[k % 3], firstByteMs: k * 7, totalMs: 100 + k * 311 }],
      });
      ids.push(sessionId);
    }
    // A run still running, and a deleted session whose runs the triggers took out.
    await h.database.transcripts.beginTurn({
      sessionId: newId('ses'),
      newSessionAgent: 'shell',
      runId: newId('run'),
      agent: 'shell',
      image: 'i',
      instanceId: 'x',
      keyId: null,
      timeoutMs: 1000,
      prompt: 'p',
      now: H0 + 2 * HOUR + 1,
    });
    expect(await h.database.sessions.deleteSession(ids[4]!)).toBe('deleted');
    const snapshot = () => ({
      counts: c.prepare('select * from run_counts where runs > 0 order by span, start, agent, status').all(),
      latency: c.prepare('select * from run_latency where runs > 0 order by span, start, metric, bucket').all(),
    });
    const kept = snapshot();
    expect(kept.counts.length).toBeGreaterThan(0);
    const backfill = ['migrations/0007_stats_rollup.sql', 'migrations/0008_stats_quarter_days.sql']
      .flatMap((f) => readFileSync(f, 'utf8').split('--> statement-breakpoint'))
      .map((s) => s.trim())
      .filter((s) => s.startsWith('INSERT INTO'));
    expect(backfill).toHaveLength(4);
    expect(c.prepare('select distinct span from run_counts order by span').pluck().all()).toEqual([
      HOUR,
      6 * HOUR,
      DAY,
    ]);
    c.exec('delete from run_counts; delete from run_latency;');
    for (const statement of backfill) c.exec(statement);
    expect(snapshot()).toEqual(kept);
  });
});

describe('pruning on SQLite', () => {
  it('reads by index and yields between batches, the driver being synchronous: a large prune does not hold the service', async () => {
    const plan = (q: string) => JSON.stringify(h.db.$client.prepare(`explain query plan ${q}`).all('x'));
    expect(plan('select * from messages where run_id = ?')).toContain('messages_run_idx'); // the cascade from runs, turnOf
    expect(plan('select id from sessions where updated_at < ?')).toContain('sessions_updated_idx');
    for (let i = 0; i < 3; i++)
      await seedSession(h.database, { at: NOW - 50 * DAY, turns: [{ prompt: 'p', reply: 'r' }] });
    const stale = () =>
      (
        h.db.$client.prepare('select count(*) as n from sessions where updated_at < ?').get(NOW - 45 * DAY) as {
          n: number;
        }
      ).n;
    let seenBetween: number | undefined;
    setImmediate(() => (seenBetween = stale()));
    expect(await pruneSessions(h.db, 45, NOW, { batch: 1 })).toBe(3);
    expect(seenBetween).toBe(2); // after the first batch, before the second
  });
});
