import { afterEach, describe, expect, it } from 'vitest';
import { createHarness, jsonOf, post, type Harness, type HarnessOptions } from './helpers/harness.js';

let h: Harness | undefined;
afterEach(async () => {
  if (!h) return;
  expect(await h.leftovers()).toEqual([]);
  await h.close();
  h = undefined;
});

const count = async (hh: Harness, table: string) =>
  (await hh.rows<{ n: number }>(`select count(*) as n from ${table}`))[0]!.n;
/** A harness whose store is made and migrated (on Postgres that takes a moment) before the timings start. */
const ready = async (o: HarnessOptions) => {
  const made = createHarness(o);
  await made.rows('select 1');
  return made;
};

describe('admission', () => {
  it('queues over the cap, then refuses with 429 CAPACITY and Retry-After when the queue is full', async () => {
    h = await ready({ maxConcurrentRuns: 2, maxQueuedRuns: 1, queueTimeoutMs: 10_000 });
    const app = h.app;
    const a = app.request(post('/v1/run', 'sleep 1.5; echo a', { accept: 'application/json' }));
    const b = app.request(post('/v1/run', 'sleep 1.5; echo b', { accept: 'application/json' }));
    await new Promise((r) => setTimeout(r, 300));
    const c = app.request(post('/v1/run', 'echo c', { accept: 'application/json' })); // waits in the queue
    await new Promise((r) => setTimeout(r, 100));
    expect(h.service.runs.admission.queued).toBe(1);
    const before = [await count(h, 'sessions'), await count(h, 'messages')];
    const refused = await app.request(post('/v1/run', 'echo d'));
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await jsonOf(refused)).toMatchObject({ error: { code: 'CAPACITY' } });
    expect([await count(h, 'sessions'), await count(h, 'messages')]).toEqual(before);
    const [ra, rb, rc] = await Promise.all([jsonOf(a), jsonOf(b), jsonOf(c)]);
    expect([ra.output, rb.output, rc.output]).toEqual(['a\n', 'b\n', 'c\n']);
    // c waited for a slot: its queue time is part of its metrics.
    expect(rc.metrics.queued_ms).toBeGreaterThan(800);
    expect(ra.metrics.queued_ms).toBeLessThan(500);
  });

  it("gives each key a share: one key's long runs leave a slot for another key", async () => {
    h = await ready({
      maxConcurrentRuns: 2,
      maxRunsPerKey: 1,
      maxQueuedRuns: 8,
      maxQueuedPerKey: 1,
      queueTimeoutMs: 10_000,
    });
    const [batch, other] = [
      (await h.service.keys.create('batch', 'user')).key,
      (await h.service.keys.create('other', 'user')).key,
    ];
    const as = (key: string, prompt: string) =>
      h!.app.request(post('/v1/run', prompt, { accept: 'application/json', authorization: `Bearer ${key}` }));
    const long = as(batch, 'sleep 2; echo long');
    await new Promise((r) => setTimeout(r, 300));
    const queued = as(batch, 'echo queued'); // over the key's share: waits, though a slot is free
    await new Promise((r) => setTimeout(r, 100));
    const refused = await as(batch, 'echo refused'); // past its share of the queue
    expect(refused.status).toBe(429);
    expect(await jsonOf(refused)).toMatchObject({
      error: { code: 'CAPACITY', message: expect.stringContaining('this API key') },
    });

    const t0 = performance.now();
    const served = await jsonOf(as(other, 'echo other'));
    expect(served.output).toBe('other\n');
    expect(performance.now() - t0).toBeLessThan(1500); // it did not wait for the long run
    const [l, q] = await Promise.all([jsonOf(long), jsonOf(queued)]);
    expect([l.output, q.output]).toEqual(['long\n', 'queued\n']);
    expect(q.metrics.queued_ms).toBeGreaterThan(1000); // it waited for its own key's slot
  });

  it('refuses with 429 when no slot frees within the queue timeout', async () => {
    h = await ready({ maxConcurrentRuns: 1, maxQueuedRuns: 10, queueTimeoutMs: 400 });
    const a = h.app.request(post('/v1/run', 'sleep 2', { accept: 'application/json' }));
    await new Promise((r) => setTimeout(r, 200));
    const t0 = performance.now();
    const refused = await h.app.request(post('/v1/run', 'echo late'));
    expect(refused.status).toBe(429);
    expect(performance.now() - t0).toBeGreaterThan(350);
    expect((await jsonOf(a)).status).toBe('succeeded');
  });
});
