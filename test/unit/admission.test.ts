import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { Admission } from '../../src/runner/admission.js';

describe('Admission', () => {
  it('grants up to the cap, queues in order, and hands a released slot to the first waiter', async () => {
    const a = new Admission({ maxConcurrent: 2, maxQueued: 2, queueTimeoutMs: 1000 });
    const r1 = await a.acquire();
    await a.acquire();
    const order: number[] = [];
    const w1 = a.acquire().then((rel) => (order.push(1), rel));
    const w2 = a.acquire().then((rel) => (order.push(2), rel));
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
    const a = new Admission({ maxConcurrent: 1, maxQueued: 1, queueTimeoutMs: 50 });
    await a.acquire();
    const waiting = a.acquire();
    await expect(a.acquire()).rejects.toMatchObject({ code: 'CAPACITY' });
    await expect(waiting).rejects.toBeInstanceOf(AppError);
    expect(a.queued).toBe(0);
  });

  it('drops a waiter whose client left', async () => {
    const a = new Admission({ maxConcurrent: 1, maxQueued: 5, queueTimeoutMs: 10_000 });
    await a.acquire();
    const ac = new AbortController();
    const waiting = a.acquire(ac.signal);
    ac.abort(new Error('gone'));
    await expect(waiting).rejects.toThrow('gone');
    expect(a.queued).toBe(0);
  });
});
