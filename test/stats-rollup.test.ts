import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHistogram, planWindow } from '../src/db/shared/stats.js';
import { newId } from '../src/db/ids.js';
import { createHarness, jsonOf, type Harness } from './helpers/harness.js';
import { seedSession } from './helpers/seed.js';

// /v1/stats over windows holding whole hours reads hourly roll-ups kept by triggers; the
// oracle here is the exact computation straight from `runs` (a window inside one hour). On both
// stores; the SQLite migrations' backfills are tested in sqlite-file.test.ts.
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const H0 = Math.floor(Date.UTC(2026, 10, 2) / HOUR) * HOUR;
let h: Harness;
const sessionsByHour: string[][] = [];

beforeAll(async () => {
  h = createHarness();
  // 6 hours, 12 sessions an hour 5 minutes apart, 2 runs each; latencies spread 3 ms .. ~30 s.
  for (let hour = 0; hour < 6; hour++) {
    sessionsByHour.push([]);
    for (let i = 0; i < 12; i++) {
      const k = hour * 12 + i;
      const { sessionId } = await seedSession(h.database, {
        agent: ['shell', 'cat', 'gemini'][k % 3]!,
        at: H0 + hour * HOUR + i * 5 * 60_000,
        turns: [
          { prompt: 'a', reply: 'b', firstByteMs: 3 + ((k * 37) % 200), totalMs: 50 + ((k * 7919) % 30_000) },
          {
            prompt: 'c',
            reply: 'd',
            status: k % 7 === 0 ? 'timeout' : k % 4 === 0 ? 'failed' : 'succeeded',
            firstByteMs: k % 10,
            totalMs: 900 + k * 13,
          },
        ],
      });
      sessionsByHour[hour]!.push(sessionId);
    }
  }
  // Days 1-3: a few sessions at 00:xx, 07:xx, 13:xx and 23:xx.
  for (let day = 1; day <= 3; day++) {
    for (const hour of [0, 7, 13, 23]) {
      for (let i = 0; i < 2; i++) {
        const k = day * 100 + hour * 2 + i;
        await seedSession(h.database, {
          agent: i === 0 ? 'shell' : 'cat',
          at: H0 + day * DAY + hour * HOUR + (10 + i * 30) * 60_000,
          turns: [
            {
              prompt: 'e',
              reply: 'f',
              status: k % 3 === 0 ? 'failed' : 'succeeded',
              firstByteMs: 20 + (k % 50),
              totalMs: 200 + k * 11,
            },
          ],
        });
      }
    }
  }
});
afterAll(() => h.close());

const stats = (from: number, to: number) => jsonOf(h.app.request(`/v1/stats?from=${from}&to=${to}`));

/** The exact figures for [from, to), from `runs` alone, as the pre-roll-up code computed them. */
async function exact(from: number, to: number) {
  const runs = await h.rows<{
    status: string;
    agent: string;
    fb: number | null;
    total: number | null;
  }>(
    'select status, agent, first_byte_ms as fb, total_ms as total from runs where created_at >= ? and created_at < ?',
    from,
    to,
  );
  const count = (key: 'status' | 'agent') => {
    const n = new Map<string, number>();
    for (const r of runs) n.set(r[key], (n.get(r[key]) ?? 0) + 1);
    return [...n.keys()].sort().map((k) => ({ [key]: k, runs: n.get(k) }));
  };
  const pct = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const at = (p: number) => s[Math.ceil((s.length * p) / 100) - 1]!;
    return { n: s.length, p50: at(50), p95: at(95) };
  };
  return {
    by_status: count('status'),
    by_agent: count('agent'),
    first_byte_ms: pct(runs.flatMap((r) => (r.fb === null ? [] : [r.fb]))),
    total_ms: pct(runs.flatMap((r) => (r.total === null ? [] : [r.total]))),
  };
}

const within2pct = (got: { n: number; p50: number; p95: number }, want: { n: number; p50: number; p95: number }) => {
  expect(got.n).toBe(want.n);
  for (const p of ['p50', 'p95'] as const) expect(Math.abs(got[p] - want[p])).toBeLessThanOrEqual(want[p] * 0.02 + 1);
};

/** Asserts /v1/stats over [from, to) gives the exact counts and percentiles within 2%; returns the exact figures. */
async function agreesWithExact(from: number, to: number) {
  const got = await stats(from, to);
  const want = await exact(from, to);
  expect(got.by_status).toEqual(want.by_status);
  expect(got.by_agent).toEqual(want.by_agent);
  within2pct(got.first_byte_ms, want.first_byte_ms);
  within2pct(got.total_ms, want.total_ms);
  return want;
}

describe('GET /v1/stats over whole hours (roll-ups)', () => {
  it('gives exact counts and percentiles within 2%, edges included', async () => {
    const from = H0 + 30 * 60_000; // half of hour 0, hours 1-4 whole, 20 minutes of hour 5
    const to = H0 + 5 * HOUR + 20 * 60_000;
    await agreesWithExact(from, to);
    // Exact below 10 ms: a window of only such first-byte values gives them as they are.
    expect(
      fromHistogram([
        { bucket: 3, runs: 1 },
        { bucket: 9, runs: 1 },
      ]),
    ).toEqual({ n: 2, p50: 3, p95: 9 });
  });

  it('reads whole days and quarter days from their roll-ups, and agrees with the exact figures', async () => {
    for (const [from, to] of [
      [H0 + 30 * 60_000, H0 + 3 * DAY + 13 * HOUR + 20 * 60_000], // edge, hours, days 1-2, hours, edge
      [H0, H0 + 4 * DAY], // whole days only
      [H0 + 23 * HOUR, H0 + DAY + 8 * HOUR], // hours across midnight, no whole day
    ] as const) {
      await agreesWithExact(from, to);
    }
    expect(planWindow(H0 + 30 * 60_000, H0 + 3 * DAY + 13 * HOUR + 20 * 60_000)).toEqual({
      rolled: [
        { span: HOUR, from: H0 + HOUR, to: H0 + 6 * HOUR },
        { span: 6 * HOUR, from: H0 + 6 * HOUR, to: H0 + DAY },
        { span: DAY, from: H0 + DAY, to: H0 + 3 * DAY },
        { span: 6 * HOUR, from: H0 + 3 * DAY, to: H0 + 3 * DAY + 12 * HOUR },
        { span: HOUR, from: H0 + 3 * DAY + 12 * HOUR, to: H0 + 3 * DAY + 13 * HOUR },
      ],
      edges: [
        { from: H0 + 30 * 60_000, to: H0 + HOUR },
        { from: H0 + 3 * DAY + 13 * HOUR, to: H0 + 3 * DAY + 13 * HOUR + 20 * 60_000 },
      ],
    });
    expect(planWindow(H0 + 10 * 60_000, H0 + 50 * 60_000)).toEqual({
      rolled: [],
      edges: [{ from: H0 + 10 * 60_000, to: H0 + 50 * 60_000 }],
    });
  });

  it('counts a run still running, and forgets the runs of a deleted session', async () => {
    const store = h.database.transcripts;
    const sessionId = newId('ses');
    await store.beginTurn({
      sessionId,
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
    const doomed = sessionsByHour[3]![0]!;
    expect((await h.app.request(`/v1/sessions/${doomed}`, { method: 'DELETE' })).status).toBe(204);

    const from = H0;
    const to = H0 + 6 * HOUR; // all whole hours
    const want = await agreesWithExact(from, to);
    expect(want.by_status).toContainEqual({ status: 'running', runs: 1 });
  });
});
