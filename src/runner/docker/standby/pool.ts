import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { AgentProfile } from '../../../config/profiles.js';
import type { ContainerExit, ContainerRuntime, ContainerSpec, ManagedContainer, OutputSink } from '../../runtime.js';
import type { StandbyEngine, WaitingContainer } from './engine.js';

/** A waiting container older than this is replaced: its image or the engine may have changed under it. */
export const MAX_IDLE_MS = 10 * 60_000;
/** After a failed start, the next try waits this long, doubling up to a minute. */
const RETRY_MS = 1000;
const MAX_RETRY_MS = 60_000;
/** A start the engine has not finished in this long is given up (the engine hangs): runs go cold meanwhile. */
export const START_TIMEOUT_MS = 30_000;
/** A container that stops waiting this soon after it started cannot run the gate (no `sh`?): not retried at once. */
const DIED_YOUNG_MS = 2000;

/**
 * A refill waits for the run that took a container to answer (or this long, or its end):
 * started at once, the engine's create and start compete with that run for the engine and
 * the CPUs, and its first byte came ~3 ms later (2 cores, `npm run bench -- --only standby`).
 */
const REFILL_AFTER_MS = 50;

interface Waiting {
  container: WaitingContainer;
  startedAt: number;
}

/** What /metrics reads of one profile's standby. */
export interface StandbyStats {
  ready: number;
  hits: number;
  misses: number;
}

class ProfileStandby {
  readonly ready: Waiting[] = [];
  starting = 0;
  hits = 0;
  misses = 0;
  retryMs = RETRY_MS;
  retryTimer: NodeJS.Timeout | undefined;
  constructor(
    readonly profile: AgentProfile,
    readonly size: number,
  ) {}
}

/**
 * Single-use containers started before their request: for each profile with `standby: N`,
 * N containers are created, attached and started, and wait at the gate (../../protocol/go-line.ts) holding
 * nothing of any request. A run takes one (its files, go line and prompt reach it then, and
 * its deadline starts then) or, when none is ready, starts a container of its own at once:
 * it never waits for a refill. Each container serves exactly one run and is removed after;
 * the pool refills in the background.
 *
 * It is a ContainerRuntime around the real one: the run path does not know standby exists.
 */
export class StandbyPool implements ContainerRuntime {
  private readonly byProfile = new Map<string, ProfileStandby>();
  /** Labels of the containers the pool started and not yet removed: live to the reaper. */
  private readonly held = new Set<string>();
  /** Containers being started or removed: close() waits for them, so none is left after it. */
  private readonly pending = new Set<Promise<void>>();
  private closed = true;
  private recycler: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: {
      runtime: ContainerRuntime;
      engine: StandbyEngine;
      profiles: Iterable<AgentProfile>;
      /** The container a profile's runs get, without a run: as the run path would build it. */
      baseSpec: (profile: AgentProfile, label: string) => ContainerSpec;
      logger: Logger;
      /** Told how long each refill took (ms). */
      onRefill?: (profile: string, ms: number) => void;
    },
  ) {
    for (const p of deps.profiles) if (p.standby > 0) this.byProfile.set(p.name, new ProfileStandby(p, p.standby));
  }

  /** Starts filling every profile's standby, and replacing what grows old. */
  start(): void {
    this.closed = false;
    for (const s of this.byProfile.values()) this.fill(s);
    this.recycler = setInterval(() => this.recycle(), Math.min(MAX_IDLE_MS / 4, 60_000));
    this.recycler.unref();
  }

  /** Removes every waiting container; no more are started. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.recycler);
    const all = [...this.byProfile.values()].flatMap((s) => {
      clearTimeout(s.retryTimer);
      return s.ready.splice(0);
    });
    for (const w of all) this.discard(w);
    // Twice: a start that ends now discards what it started.
    await Promise.all([...this.pending]);
    await Promise.all([...this.pending]);
  }

  /** Refuses standby to a profile the service will not run (its network or model is out of reach). */
  disable(name: string): void {
    const s = this.byProfile.get(name);
    if (!s) return;
    this.byProfile.delete(name);
    clearTimeout(s.retryTimer);
    for (const w of s.ready.splice(0)) this.discard(w);
  }

  private track(work: Promise<void>): void {
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work));
  }

  stats(): Map<string, StandbyStats> {
    return new Map(
      [...this.byProfile].map(([name, s]) => [name, { ready: s.ready.length, hits: s.hits, misses: s.misses }]),
    );
  }

  /** Labels of the containers the pool holds or handed to a run still going: the reaper leaves them. */
  liveLabels(): Set<string> {
    return new Set(this.held);
  }

  run(spec: ContainerSpec, sink: OutputSink, signal: AbortSignal): Promise<ContainerExit> {
    const s = this.byProfile.get(spec.labels['ephemera.agent'] ?? '');
    if (!s || this.closed) return this.deps.runtime.run(spec, sink, signal);
    const waiting = this.take(s);
    const refill = refillOnce(() => this.fill(s));
    const assigned = waiting && this.deps.engine.assign(waiting.container, spec, refillOnOutput(sink, refill), signal);
    if (!waiting || !assigned) {
      if (waiting) s.ready.unshift(waiting); // this run could not use it; the next may
      s.misses++;
      return this.deps.runtime.run(spec, sink, signal);
    }
    s.hits++;
    s.retryMs = RETRY_MS; // a container lived to serve a run: its profile starts well again
    const timer = setTimeout(refill, REFILL_AFTER_MS);
    return assigned.finally(() => {
      clearTimeout(timer);
      refill();
      this.held.delete(waiting.container.label);
    });
  }

  ping(): Promise<void> {
    return this.deps.runtime.ping();
  }

  listManaged(): Promise<ManagedContainer[]> {
    return this.deps.runtime.listManaged();
  }

  remove(id: string): Promise<void> {
    return this.deps.runtime.remove(id);
  }

  /** The newest-started ready container that is still young. */
  private take(s: ProfileStandby): Waiting | undefined {
    for (let w = s.ready.pop(); w; w = s.ready.pop()) {
      if (Date.now() - w.startedAt < MAX_IDLE_MS) return w;
      this.discard(w);
    }
    this.fill(s);
    return undefined;
  }

  private fill(s: ProfileStandby): void {
    if (this.closed || s.retryTimer) return;
    while (s.ready.length + s.starting < s.size) {
      this.track(this.startOne(s));
    }
  }

  private async startOne(s: ProfileStandby): Promise<void> {
    s.starting++;
    const label = `standby_${randomBytes(12).toString('hex')}`;
    this.held.add(label); // before it exists, so that no sweep takes it for an orphan
    const t0 = performance.now();
    let waiting: WaitingContainer;
    const starting = this.deps.engine.startWaiting(this.deps.baseSpec(s.profile, label));
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the engine did not start it within ${START_TIMEOUT_MS} ms`)),
        START_TIMEOUT_MS,
      );
    });
    try {
      waiting = await Promise.race([starting, gaveUp]);
    } catch (err) {
      // A start given up may still finish: what it makes is removed, not kept.
      void starting.then(
        (late) => this.deps.engine.discard(late),
        () => {},
      );
      this.held.delete(label);
      s.starting--;
      this.retryLater(s, `could not start a standby container: ${(err as Error).message}`);
      return;
    } finally {
      clearTimeout(timer);
    }
    s.starting--;
    this.deps.onRefill?.(s.profile.name, performance.now() - t0);
    const w: Waiting = { container: waiting, startedAt: Date.now() };
    // Stopped, or its profile disabled, while it started: nobody will take it.
    if (this.closed || this.byProfile.get(s.profile.name) !== s) return this.removeWaiting(w);
    s.ready.push(w);
    void waiting.ended.then(() => this.lost(s, w));
  }

  /** A waiting container stopped by itself (engine restart, killed): drop it and start another. */
  private lost(s: ProfileStandby, w: Waiting): void {
    const i = s.ready.indexOf(w);
    if (i < 0) return; // taken by a run, or discarded
    s.ready.splice(i, 1);
    this.discard(w);
    if (Date.now() - w.startedAt < DIED_YOUNG_MS) {
      this.retryLater(s, 'a standby container stopped right after it started (does its image have sh?)');
      return;
    }
    s.retryMs = RETRY_MS;
    this.fill(s);
  }

  private retryLater(s: ProfileStandby, why: string): void {
    if (this.closed || s.retryTimer) return;
    this.deps.logger.warn(
      { agent: s.profile.name, retryInMs: s.retryMs, why },
      'standby refill failed; runs start their own containers meanwhile',
    );
    s.retryTimer = setTimeout(() => {
      s.retryTimer = undefined;
      this.fill(s);
    }, s.retryMs);
    s.retryTimer.unref();
    s.retryMs = Math.min(s.retryMs * 2, MAX_RETRY_MS);
  }

  private recycle(): void {
    for (const s of this.byProfile.values()) {
      const old = s.ready.filter((w) => Date.now() - w.startedAt >= MAX_IDLE_MS);
      for (const w of old) {
        s.ready.splice(s.ready.indexOf(w), 1);
        this.discard(w);
      }
      this.fill(s);
    }
  }

  /** Removes a waiting container in the background; close() waits for it. */
  private discard(w: Waiting): void {
    this.track(this.removeWaiting(w));
  }

  private async removeWaiting(w: Waiting): Promise<void> {
    try {
      await this.deps.engine.discard(w.container);
    } catch {
      // the reaper finds it by its labels once the pool lets go of it
    } finally {
      this.held.delete(w.container.label);
    }
  }
}

function refillOnce(fill: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fill();
  };
}

/** The sink, with the refill started once the run's first output is on its way. */
function refillOnOutput(sink: OutputSink, refill: () => void): OutputSink {
  return {
    started: (t) => sink.started(t),
    stdout: (chunk) => {
      setImmediate(refill);
      return sink.stdout(chunk);
    },
    stderr: (chunk) => {
      setImmediate(refill);
      return sink.stderr(chunk);
    },
  };
}
