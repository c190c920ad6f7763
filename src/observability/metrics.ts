import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RunResult } from '../runner/run/run.js';
import type { StandbyStats } from '../runner/docker/standby/pool.js';

// Buckets in seconds: container start is ~0.1-0.3 s here, agent runs go to minutes.
const FAST = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const RUN = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900];

/**
 * Prometheus metrics, one registry per app instance (tests build many apps). Labels are
 * bounded: agent names come from the profiles file, statuses and codes from fixed lists;
 * never a session, run or key id.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly runs = new Counter({
    name: 'ephemera_runs_total',
    help: 'Runs ended, by agent and status',
    labelNames: ['agent', 'status'],
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: 'ephemera_run_duration_seconds',
    help: 'Request arrival to run end',
    labelNames: ['agent'],
    buckets: RUN,
    registers: [this.registry],
  });
  private readonly firstByte = new Histogram({
    name: 'ephemera_run_first_byte_seconds',
    help: 'Request arrival to the first byte of the reply',
    labelNames: ['agent'],
    buckets: RUN,
    registers: [this.registry],
  });
  private readonly create = new Histogram({
    name: 'ephemera_container_create_seconds',
    help: 'Container create (and replay files copied in)',
    buckets: FAST,
    registers: [this.registry],
  });
  private readonly start = new Histogram({
    name: 'ephemera_container_start_seconds',
    help: 'Container attach and start',
    buckets: FAST,
    registers: [this.registry],
  });
  private readonly queueWait = new Histogram({
    name: 'ephemera_queue_wait_seconds',
    help: 'Request arrival to container create (admission queue included)',
    buckets: [0.001, ...FAST, 10, 30],
    registers: [this.registry],
  });
  private readonly bytes = new Counter({
    name: 'ephemera_stream_bytes_total',
    help: 'Bytes the containers printed, by stream',
    labelNames: ['stream'],
    registers: [this.registry],
  });
  private readonly engineErrors = new Counter({
    name: 'ephemera_engine_errors_total',
    help: 'Runs that failed on the container engine, by code',
    labelNames: ['code'],
    registers: [this.registry],
  });
  private readonly modelCalls = new Counter({
    name: 'ephemera_model_calls_total',
    help: 'Model calls the gateway forwarded, by agent',
    labelNames: ['agent'],
    registers: [this.registry],
  });
  private readonly modelErrors = new Counter({
    name: 'ephemera_model_errors_total',
    help: 'Model calls answered with an error or not answered, by agent',
    labelNames: ['agent'],
    registers: [this.registry],
  });
  private readonly modelTokens = new Counter({
    name: 'ephemera_model_tokens_total',
    help: 'Model tokens counted by the gateway, by agent and kind',
    labelNames: ['agent', 'kind'],
    registers: [this.registry],
  });
  readonly refused = new Counter({
    name: 'ephemera_admission_refused_total',
    help: 'Requests refused with 429 CAPACITY',
    registers: [this.registry],
  });

  /** `admission` is read when scraped: its runs in flight and its queue. */
  constructor(admission: { readonly inFlight: number; readonly queued: number }) {
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'ephemera_runs_in_flight',
      help: 'Containers running now',
      registers: [this.registry],
      collect() {
        this.set(admission.inFlight);
      },
    });
    new Gauge({
      name: 'ephemera_queue_depth',
      help: 'Requests waiting for a run slot',
      registers: [this.registry],
      collect() {
        this.set(admission.queued);
      },
    });
  }

  private readonly refill = new Histogram({
    name: 'ephemera_standby_refill_seconds',
    help: 'Time to create, attach and start one standby container',
    labelNames: ['agent'],
    buckets: FAST,
    registers: [this.registry],
  });

  /** Standby containers per profile, read when scraped: ready now, and runs that found one or not. */
  watchStandby(stats: () => Map<string, StandbyStats>): void {
    const registers = [this.registry];
    new Gauge({
      name: 'ephemera_standby_ready',
      help: 'Standby containers waiting for a run, by agent',
      labelNames: ['agent'],
      registers,
      collect() {
        for (const [agent, s] of stats()) this.set({ agent }, s.ready);
      },
    });
    const counted = (name: string, help: string, of: (s: StandbyStats) => number) =>
      new Counter({
        name,
        help,
        labelNames: ['agent'],
        registers,
        collect() {
          this.reset();
          for (const [agent, s] of stats()) this.inc({ agent }, of(s));
        },
      });
    counted('ephemera_standby_hits_total', 'Runs served by a standby container, by agent', (s) => s.hits);
    counted(
      'ephemera_standby_misses_total',
      'Runs of a standby profile that found none ready and started their own, by agent',
      (s) => s.misses,
    );
  }

  standbyRefilled(agent: string, ms: number): void {
    this.refill.observe({ agent }, ms / 1000);
  }

  /** Called when a run has ended (not when its headers went out). */
  runEnded(r: RunResult): void {
    const m = r.metrics;
    this.runs.inc({ agent: r.agent, status: r.status });
    this.duration.observe({ agent: r.agent }, m.totalMs / 1000);
    if (m.firstByteMs !== null) this.firstByte.observe({ agent: r.agent }, m.firstByteMs / 1000);
    if (m.createMs !== null) this.create.observe(m.createMs / 1000);
    if (m.startMs !== null) this.start.observe(m.startMs / 1000);
    if (m.queuedMs !== null) this.queueWait.observe(m.queuedMs / 1000);
    this.bytes.inc({ stream: 'stdout' }, m.bytesOut);
    this.bytes.inc({ stream: 'stderr' }, m.bytesErr);
    if (r.error && /^RUNTIME_|^IMAGE_NOT_FOUND$/.test(r.error.code)) this.engineErrors.inc({ code: r.error.code });
    if (m.modelCalls !== null) {
      this.modelCalls.inc({ agent: r.agent }, m.modelCalls);
      this.modelErrors.inc({ agent: r.agent }, m.modelErrors ?? 0);
      this.modelTokens.inc({ agent: r.agent, kind: 'input' }, m.inputTokens ?? 0);
      this.modelTokens.inc({ agent: r.agent, kind: 'output' }, m.outputTokens ?? 0);
    }
  }
}
