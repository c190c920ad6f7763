import { AppError } from '../errors.js';

/**
 * A global cap on containers in flight. Requests over the cap wait in a bounded FIFO
 * queue for up to `queueTimeoutMs`; when the queue is full or the wait runs out they
 * are refused with CAPACITY (429), and nothing about them is stored.
 */
export class Admission {
  private active = 0;
  private readonly waiting: Array<{ grant: () => void }> = [];

  constructor(
    private readonly limits: { maxConcurrent: number; maxQueued: number; queueTimeoutMs: number },
  ) {}

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Seconds a refused client should wait before trying again. */
  get retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(this.limits.queueTimeoutMs / 1000 / 2));
  }

  /** Resolves with a release function once a slot is free; rejects with CAPACITY or the signal's reason. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.active < this.limits.maxConcurrent && this.waiting.length === 0) return Promise.resolve(this.take());
    if (this.waiting.length >= this.limits.maxQueued) return Promise.reject(this.refusal('the queue is full'));
    return new Promise((resolve, reject) => {
      const entry = {
        grant: () => {
          cleanup();
          resolve(this.take());
        },
      };
      const drop = (err: unknown) => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        cleanup();
        reject(err);
      };
      const timer = setTimeout(() => drop(this.refusal(`no slot freed within ${this.limits.queueTimeoutMs} ms`)), this.limits.queueTimeoutMs);
      const onAbort = () => drop(signal?.reason ?? new Error('aborted'));
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  private take(): () => void {
    this.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      this.waiting.shift()?.grant();
    };
  }

  private refusal(why: string): AppError {
    return new AppError('CAPACITY', `all ${this.limits.maxConcurrent} run slots are busy and ${why}; retry after ${this.retryAfterSeconds} s`);
  }
}
