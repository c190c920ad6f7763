import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { Admission, type AdmissionLimits } from '../../src/runner/run/admission.js';

const admission = (limits: Partial<AdmissionLimits>) =>
  new Admission({
    maxConcurrent: 2,
    maxQueued: 2,
    queueTimeoutMs: 1000,
    maxPerKey: 100,
    maxQueuedPerKey: 100,
    ...limits,
  });

describe('Admission', () => {
  it('grants up to the cap, queues in order, and hands a released slot to the first waiter', async () => {
    const a = admission({});
    const r1 = await a.acquire('k');
    await a.acquire('k');
    const order: number[] = [];
    const w1 = a.acquire('k').then((rel) => {
      order.push(1);
      return rel;
    });
    const w2 = a.acquire('k').then((rel) => {
      order.push(2);
      return rel;
    });
    expect(a.queued).toBe(2);
    r1();
    r1(); // releasing twice frees one slot only
    await w1;
    expect(a.inFlight).toBe(2);
    expect(a.queued).toBe(1);
    (await w1)();
    await w2;
    expect(order).toEqual([1, 2]);
  });

  it('refuses with CAPACITY when the queue is full, and when the wait runs out', async () => {
    const a = admission({ maxConcurrent: 1, maxQueued: 1, queueTimeoutMs: 50 });
    await a.acquire('k');
    const waiting = a.acquire('k');
    await expect(a.acquire('k')).rejects.toMatchObject({ code: 'CAPACITY' });
    await expect(waiting).rejects.toBeInstanceOf(AppError);
    expect(a.queued).toBe(0);
  });

  it('drops a waiter whose client left', async () => {
    const a = admission({ maxConcurrent: 1, maxQueued: 5, queueTimeoutMs: 10_000 });
    await a.acquire('k');
    const ac = new AbortController();
    const waiting = a.acquire('k', ac.signal);
    ac.abort(new Error('gone'));
    await expect(waiting).rejects.toThrow('gone');
    expect(a.queued).toBe(0);
  });
});

describe('Admission shares between keys', () => {
  it('keeps slots for another key while one key holds its share', async () => {
    const a = admission({ maxConcurrent: 4, maxQueued: 8, maxPerKey: 2 });
    const busy = [await a.acquire('batch'), await a.acquire('batch')];
    const third = a.acquire('batch'); // over its share: waits although slots are free
    expect(a.queued).toBe(1);
    expect(a.inFlight).toBe(2);
    await a.acquire('other'); // served at once
    expect(a.inFlight).toBe(3);
    busy[0]!();
    await third; // its own release lets it in
    expect(a.inFlight).toBe(3);
  });

  it('hands a freed slot to the first waiter under its share, not to the head of the queue', async () => {
    const a = admission({ maxConcurrent: 2, maxQueued: 8, maxPerKey: 1 });
    const heavy = await a.acquire('heavy');
    const light = await a.acquire('light');
    const order: string[] = [];
    const h2 = a.acquire('heavy').then((r) => {
      order.push('heavy');
      return r;
    });
    const l2 = a.acquire('light').then((r) => {
      order.push('light');
      return r;
    });
    light(); // heavy is still at its share: light's waiter goes first
    await l2;
    expect(order).toEqual(['light']);
    heavy();
    await h2;
    expect(order).toEqual(['light', 'heavy']);
  });

  it("says so when a waiter timed out on its own key's share, not on the whole service", async () => {
    const a = admission({ maxConcurrent: 4, maxPerKey: 1, queueTimeoutMs: 30 });
    await a.acquire('batch');
    await expect(a.acquire('batch')).rejects.toMatchObject({
      code: 'CAPACITY',
      message: expect.stringContaining("this API key's 1 run(s)"),
    });
  });

  it('keeps no share for the keyless operator, the only caller there can be', async () => {
    const a = admission({ maxConcurrent: 3, maxPerKey: 1 });
    await Promise.all([a.acquire(null), a.acquire(null), a.acquire(null)]);
    expect(a.inFlight).toBe(3);
  });

  it("refuses a key's request past its share of the queue, while others may still queue", async () => {
    const a = admission({ maxConcurrent: 1, maxQueued: 4, maxPerKey: 1, maxQueuedPerKey: 1, queueTimeoutMs: 10_000 });
    await a.acquire('batch');
    const queued = a.acquire('batch');
    queued.catch(() => {});
    await expect(a.acquire('batch')).rejects.toMatchObject({
      code: 'CAPACITY',
      message: expect.stringContaining('this API key'),
    });
    const other = a.acquire('other');
    other.catch(() => {});
    expect(a.queued).toBe(2);
  });
});
