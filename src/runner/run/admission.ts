import type { ServiceConfig } from '../../config/env.js';
import { AppError } from '../../errors.js';

export interface AdmissionLimits {
  maxConcurrent: number;
  maxQueued: number;
  queueTimeoutMs: number;
  /** Slots one caller (API key) may hold at once: the rest stay for the others. */
  maxPerKey: number;
  /** Queue places one caller may hold at once. */
  maxQueuedPerKey: number;
}

/** The admission limits the service's settings give. */
export function admissionLimits(
  config: Pick<
    ServiceConfig,
    'maxConcurrentRuns' | 'maxQueuedRuns' | 'queueTimeoutMs' | 'maxRunsPerKey' | 'maxQueuedPerKey'
  >,
): AdmissionLimits {
  return {
    maxConcurrent: config.maxConcurrentRuns,
    maxQueued: config.maxQueuedRuns,
    queueTimeoutMs: config.queueTimeoutMs,
    maxPerKey: config.maxRunsPerKey,
    maxQueuedPerKey: config.maxQueuedPerKey,
  };
}

interface Waiter {
  key: string | null;
  grant: () => void;
}

/**
 * A global cap on containers in flight, shared fairly between callers. Each caller
 * (API key) holds at most `maxPerKey` slots; requests over either cap wait in a
 * bounded queue for up to `queueTimeoutMs`, and a freed slot goes to the first waiter
 * whose caller is under its share, so one busy key cannot starve another. A full
 * queue, a caller's full share of it, or a wait that runs out are refused with
 * CAPACITY (429), and nothing about the request is stored.
 */
export class Admission {
  private active = 0;
  private readonly activeByKey = new Map<string, number>();
  private readonly waiting: Waiter[] = [];

  constructor(private readonly limits: AdmissionLimits) {}

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

  /**
   * Resolves with a release function once `key` may have a slot; rejects with CAPACITY or
   * the signal's reason. A null key (the keyless operator, the only possible caller then)
   * has no share to keep to.
   */
  acquire(key: string | null, signal?: AbortSignal): Promise<() => void> {
    if (this.canTake(key)) return Promise.resolve(this.take(key));
    const refusal = this.queueRefusal(key);
    if (refusal) return Promise.reject(refusal);
    return new Promise((resolve, reject) => {
      const entry: Waiter = {
        key,
        grant: () => {
          cleanup();
          resolve(this.take(key));
        },
      };
      const drop = (err: unknown) => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        cleanup();
        reject(err);
      };
      const timer = setTimeout(() => drop(this.timeoutRefusal(key)), this.limits.queueTimeoutMs);
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

  private canTake(key: string | null): boolean {
    if (this.active >= this.limits.maxConcurrent) return false;
    return key === null || (this.activeByKey.get(key) ?? 0) < this.limits.maxPerKey;
  }

  private queueRefusal(key: string | null): AppError | undefined {
    if (this.waiting.length >= this.limits.maxQueued) return this.refusal('the queue is full');
    if (key === null) return undefined;
    const mine = this.waiting.filter((w) => w.key === key).length;
    if (mine >= this.limits.maxQueuedPerKey) {
      return new AppError(
        'CAPACITY',
        `this API key already has ${this.activeByKey.get(key) ?? 0} run(s) in progress and ${mine} waiting, its share; retry after ${this.retryAfterSeconds} s`,
      );
    }
    return undefined;
  }

  private take(key: string | null): () => void {
    this.active++;
    if (key !== null) this.activeByKey.set(key, (this.activeByKey.get(key) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      if (key !== null) {
        const left = this.activeByKey.get(key)! - 1;
        if (left === 0) this.activeByKey.delete(key);
        else this.activeByKey.set(key, left);
      }
      this.grantWaiters();
    };
  }

  /** Hands free slots to the first waiters whose callers are under their share, in arrival order. */
  private grantWaiters(): void {
    for (let i = 0; i < this.waiting.length && this.active < this.limits.maxConcurrent; ) {
      const w = this.waiting[i]!;
      if (!this.canTake(w.key)) {
        i++;
        continue;
      }
      this.waiting.splice(i, 1);
      w.grant();
    }
  }

  private timeoutRefusal(key: string | null): AppError {
    const mine = key === null ? 0 : (this.activeByKey.get(key) ?? 0);
    if (mine >= this.limits.maxPerKey) {
      return new AppError(
        'CAPACITY',
        `this API key's ${mine} run(s) in progress are its share of the slots, and none ended within ${this.limits.queueTimeoutMs} ms; retry after ${this.retryAfterSeconds} s`,
      );
    }
    return this.refusal(`no slot freed within ${this.limits.queueTimeoutMs} ms`);
  }

  private refusal(why: string): AppError {
    return new AppError(
      'CAPACITY',
      `all ${this.limits.maxConcurrent} run slots are busy and ${why}; retry after ${this.retryAfterSeconds} s`,
    );
  }
}
