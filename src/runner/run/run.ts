import type { Logger } from 'pino';
import { AppError } from '../../errors.js';
import type { RunGrant } from '../../gateway/run-tokens.js';
import { EMPTY_RUN_METRICS, type RunMetrics } from '../../run-metrics.js';
import type { Agent, AgentEvent, OutputParser, PreparedTurn, ToolCall, Usage } from '../agents/agent.js';
import { asRuntimeError, endingOfExit, endingOfFault, withStopError, type Ending } from './ending.js';
import type { RunError, EndStatus } from './run-status.js';
import { containerSpec } from './container-spec.js';
import { Deferred } from './deferred.js';
import { EventChannel } from './event-channel.js';
import { OutputBuffer } from './output-buffer.js';
import { OutputMeter } from './output-meter.js';
import type { PlannedRun } from './planned-run.js';
import { runEnd, SERVICE_FAULT, tokenMetrics, type RunRecord } from './run-record.js';
import { RunStopped } from './run-stopped.js';
import { EventTyper } from '../events/event-typer.js';
import { RunEventLog } from '../events/event-log.js';
import type { RunEventSignals } from '../events/event-signals.js';
import type { NumberedEvent } from '../events/typed-event.js';
import type { RunEventStore } from '../../db/contract.js';
import {
  RuntimeError,
  type ContainerExit,
  type ContainerRuntime,
  type ContainerSpec,
  type OutputSink,
} from '../runtime.js';
import type { Workspace, WorkspaceBounds } from '../../workspace/archive.js';
import { keptWorkspace } from '../../workspace/kept.js';

/**
 * What a run hands its client as it happens: its typed events, numbered as its log keeps them,
 * and the reply's bytes as the container printed them (a plain-text answer sends those untouched).
 */
export interface RunOutput {
  events: NumberedEvent[];
  reply?: Buffer;
}

export interface RunResult {
  sessionId: string;
  runId: string;
  agent: string;
  status: EndStatus;
  exitCode: number | null;
  error: RunError | null;
  /** The reply: stdout for commands, the model's text for Gemini; whole only with `keepOutput` (built on access). */
  readonly output: string;
  /** Whole only with `keepOutput` (built on access). */
  readonly stderr: string;
  toolCalls: ToolCall[];
  usage: Usage | null;
  metrics: RunMetrics;
}

export interface RunHandle {
  sessionId: string;
  runId: string;
  agent: string;
  timeoutMs: number;
  /** SSE name of the reply's text events, and whether stderr is streamed. */
  textEvent: Agent['textEvent'];
  streamsStderr: boolean;
  /** Output as it arrives, from the `run` event to `done`; `batches()` gives what queued up at once. */
  events: EventChannel<RunOutput>;
  /**
   * Resolves once the container has started (or the run ended without reaching the
   * engine's fault, e.g. it was cancelled). Rejects with an AppError when the engine
   * failed before anything ran, so the caller can still answer with an error status.
   */
  ready: Promise<void>;
  result: Promise<RunResult>;
  /**
   * The client went away: kill the container, keep what was seen. A client that asked for the
   * cancel and still reads (`stillReading`) gets the rest of the events, `done` last.
   */
  cancel(opts?: { stillReading?: boolean }): void;
  /**
   * The run goes on without its client (an Idempotency-Key's retry comes back for its end):
   * from now on `cancel()` only stops the reading; the deadline and the service's `stop` still end it.
   */
  detach(): void;
  /** The service stops it (shutdown). */
  stop(status: 'interrupted'): void;
  /** Its reader takes the reply's bytes only (plain text): output the log no longer keeps need not be typed. */
  readsBytesOnly(): void;
}

/** What a run uses of the service that starts it. */
export interface RunParts {
  runtime: ContainerRuntime;
  record: RunRecord;
  /** Where the run's event log goes, and who is told when more of it is written. */
  log: { store: RunEventStore; signals?: RunEventSignals; flushMs?: number };
  config: {
    instanceId: string;
    maxOutputBytes: number;
    maxStoredOutputBytes: number;
    eventLogMaxBytes: number;
    workspace: WorkspaceBounds;
  };
  logger: Logger;
  /** Told of every run's end, after it is stored. */
  metrics?: { runEnded(result: RunResult): void };
}

/** The run's way to its model, if it has one: the gateway's count of its calls, and the end of its token. */
export interface ModelLease {
  grant: RunGrant | undefined;
  endGrant(): void;
}

/**
 * One run, from its container's start to its stored end: built, then `start()`ed. It
 * owns its stop (deadline, output cap, model budget, client gone, shutdown: the first
 * reason stands), `ready` and `result`, and its output on the way to the client.
 */
export class Run implements RunHandle {
  readonly sessionId: string;
  readonly runId: string;
  readonly agent: string;
  readonly timeoutMs: number;
  readonly textEvent: Agent['textEvent'];
  readonly streamsStderr: boolean;
  readonly events = new EventChannel<RunOutput>(outputSize);
  readonly ready: Promise<void>;
  readonly result: Promise<RunResult>;

  private readonly ended = new Deferred<RunResult>();
  /** Its client's leaving only stops the reading (detach()). */
  private detached = false;
  private readonly turn: PreparedTurn;
  private deadline: NodeJS.Timeout | undefined;
  private readonly stopper = new AbortController();
  private readonly started = new Deferred<void>();
  /** The engine refused the run before its container started: the caller is told once its end is stored. */
  private refusal: AppError | undefined;
  private readonly metrics: RunMetrics = { ...EMPTY_RUN_METRICS };
  private readonly parser: OutputParser;
  private readonly typer: EventTyper;
  /** The closing events are built (and logged): nothing more is. */
  private closed = false;
  /** Its reader needs no typed events (readsBytesOnly). */
  private bytesOnly = false;
  private readonly log: RunEventLog;
  private readonly meter: OutputMeter;
  private readonly reply: OutputBuffer;
  private readonly stderr: OutputBuffer;
  /** The workspace the run left, checked; stored with its end (undefined: none kept). */
  private workspaceOut: Workspace | undefined;

  constructor(
    private readonly planned: PlannedRun,
    /** How this agent's CLI is driven (src/runner/agents). */
    private readonly driver: Agent,
    private readonly model: ModelLease,
    private readonly parts: RunParts,
  ) {
    ({ sessionId: this.sessionId, runId: this.runId, agentName: this.agent, timeoutMs: this.timeoutMs } = planned);
    ({ textEvent: this.textEvent, streamsStderr: this.streamsStderr } = driver);
    this.turn = driver.prepare({
      prompt: planned.prompt,
      history: planned.replay.messages,
      omitted: planned.replay.omitted,
      steps: planned.steps,
    });
    this.parser = driver.parser();
    this.typer = new EventTyper(driver.textEvent);
    this.log = new RunEventLog(
      planned.runId,
      parts.log.store,
      {
        maxBytes: parts.config.eventLogMaxBytes,
        maxEventBytes: parts.config.maxStoredOutputBytes,
        ...(parts.log.flushMs !== undefined && { flushMs: parts.log.flushMs }),
      },
      { logger: parts.logger, ...(parts.log.signals && { signals: parts.log.signals }) },
    );
    // A stopped run (deadline, shutdown, output cap) ends even if its client stopped reading:
    // otherwise a paused reader would hold the run, and its slot, for good.
    this.stopper.signal.addEventListener('abort', () => this.events.stopWaiting(), { once: true });
    const { maxOutputBytes, maxStoredOutputBytes } = parts.config;
    this.meter = new OutputMeter(this.metrics, maxOutputBytes, planned.receivedAt, () =>
      this.stopFor(new RunStopped('output_limit')),
    );
    this.reply = new OutputBuffer(maxStoredOutputBytes, planned.keepOutput);
    this.stderr = new OutputBuffer(maxStoredOutputBytes, planned.keepOutput);
    this.ready = this.started.promise;
    this.ready.catch(() => {}); // callers that stream may never await it
    this.result = this.ended.promise;
  }

  /** Starts the deadline and the container; `ready` and `result` tell how it goes. */
  start(): this {
    const { planned, parts } = this;
    const spec = containerSpec(planned, this.turn, parts.config.instanceId, Date.now(), parts.config.workspace);
    this.deadline = setTimeout(() => this.stopFor(new RunStopped('timeout')), planned.timeoutMs);
    void this.output({ events: [this.typer.opening(this)] });
    void this.live(spec)
      .catch((err: unknown) => this.failedInService(err))
      .then(this.ended.resolve, this.ended.reject);
    return this;
  }

  cancel(opts: { stillReading?: boolean } = {}): void {
    if (this.detached) {
      this.events.abandon();
      return;
    }
    this.stopFor(new RunStopped('cancelled'));
    if (!opts.stillReading) this.events.abandon();
  }

  detach(): void {
    this.detached = true;
  }

  readsBytesOnly(): void {
    this.bytesOnly = true;
  }

  stop(why: 'interrupted'): void {
    this.stopFor(new RunStopped(why));
  }

  /** Stops the run, unless something stopped it already: the first reason is the run's. */
  stopFor(reason: RunStopped): void {
    if (!this.stopper.signal.aborted) this.stopper.abort(reason);
  }

  /** The run's life: its container to the end, then its end stored, reported and announced. */
  private async live(spec: ContainerSpec): Promise<RunResult> {
    this.metrics.queuedMs = this.sinceReceived();
    const { timeoutMs } = this.planned;
    const ended = withStopError(await this.runContainer(spec), this.stopped(), {
      timeoutMs,
      maxOutputBytes: this.parts.config.maxOutputBytes,
    });
    this.metrics.totalMs = this.sinceReceived();
    if (!this.refusal) this.started.resolve();
    Object.assign(this.metrics, tokenMetrics(this.parser.parsed.usage, this.model.grant?.usage));
    const result = this.resultOf(ended);
    // The log up to `done` is written before the end is stored, `done` after: a reader who finds the run
    // ended reads all of it (but `done`, which the stored end stands in for), and one who reads `done` finds
    // the run ended, as a live client does.
    const closing = this.close(result);
    await this.log.end();
    const printed = { reply: this.reply, stderr: this.stderr };
    await this.parts.record.storeEnd(
      this.runId,
      this.sessionId,
      runEnd(this.planned, ended, printed, this.metrics, this.workspaceOut),
    );
    await this.logDone(closing);
    // Told once its end is stored: a client that reads the run after the error finds it ended.
    if (this.refusal) this.started.reject(this.refusal);
    this.announce(result);
    await this.events.push({ events: closing });
    this.events.close();
    return result;
  }

  /** Runs the container to its end and says how the run ended, whatever happened to it. */
  private async runContainer(spec: ContainerSpec): Promise<Ending & { exitCode: number | null }> {
    let exitCode: number | null = null;
    try {
      const exit = await this.parts.runtime.run(spec, this.sink(), this.stopper.signal);
      exitCode = exit.exitCode;
      await this.emit(this.parser.end());
      const judge = () => this.driver.judge(exit.exitCode, this.parser.parsed);
      return {
        exitCode,
        ...(await this.keepWorkspace(
          exit,
          endingOfExit(exit, this.stopped(), this.planned.profile.limits.memoryBytes, judge),
        )),
      };
    } catch (err) {
      return { exitCode, ...this.faulted(err) };
    } finally {
      clearTimeout(this.deadline);
      this.model.endGrant(); // the container is gone: its token is worth nothing from now on
    }
  }

  /** Where the container's output goes: through the meter, to the parser, the buffers and the client. */
  private sink(): OutputSink {
    return {
      started: (t) => {
        this.metrics.createMs = Math.round(t.createMs);
        this.metrics.startMs = Math.round(t.startMs);
        this.started.resolve();
      },
      stdout: async (raw) => {
        const chunk = this.meter.stdout(raw);
        if (chunk.length === 0) return;
        await this.emit(this.parser.push(chunk));
      },
      stderr: async (raw) => {
        const chunk = this.meter.stderr(raw);
        if (chunk.length === 0) return;
        this.stderr.append(chunk);
        if (this.streamsStderr) await this.output({ events: this.typer.of({ type: 'stderr', data: chunk }) });
      },
    };
  }

  /** Passes the agent's events on, typed, to the client and the log; the reply's text is also kept. */
  private async emit(events: AgentEvent[]): Promise<void> {
    for (const e of events) {
      if (e.type === 'text') {
        this.meter.replyText();
        this.reply.append(e.data);
      }
      await this.output({ events: this.typed(e), ...(e.type === 'text' && { reply: e.data }) });
    }
  }

  /**
   * An event typed and numbered, unless nobody would read it: its text, when the log is past its
   * bound and the client takes bytes only or has gone (decoding a long reply costs the stream).
   */
  private typed(e: AgentEvent): NumberedEvent[] {
    const unread = this.log.full && (this.bytesOnly || this.events.isAbandoned);
    return unread && e.type === 'text' ? [] : this.typer.of(e);
  }

  /** The run's last events (error, done): built once, whoever ends the run; all but `done` go to the log. */
  private close(result: RunResult): NumberedEvent[] {
    this.closed = true;
    const closing = this.typer.closing(result, this.metrics);
    this.log.add(closing.slice(0, -1));
    return closing;
  }

  /** `done` to the log, once the run's end is stored. */
  private logDone(closing: NumberedEvent[]): Promise<void> {
    this.log.add(closing.slice(-1));
    return this.log.end();
  }

  /** To the log, then to the client (who may make the run wait: see EventChannel). */
  private output(o: RunOutput): Promise<void> {
    if (o.events.length === 0 && !o.reply) return Promise.resolve();
    this.log.add(o.events);
    return this.events.push(o);
  }

  /**
   * The workspace the container handed back, kept when the run ended by itself (any exit
   * code: its files are as it left them); a run stopped or killed (deadline, cancel, output
   * limit, OOM, shutdown) hands none back, and its session keeps the workspace it had. A
   * workspace over the bounds, or unsafe, is not kept, and fails a run that had succeeded.
   */
  private async keepWorkspace(exit: ContainerExit, ended: Ending): Promise<Ending> {
    if (!exit.capture || this.stopped() || exit.oomKilled) return ended;
    const kept = await keptWorkspace(exit.capture, this.parts.config.workspace);
    if ('workspace' in kept) {
      this.workspaceOut = kept.workspace;
      return ended;
    }
    (this.planned.logger ?? this.parts.logger).warn(
      { runId: this.runId, ...kept.error },
      'the workspace a run left was not kept',
    );
    // Over its bound, the container was killed while it handed the workspace back (its command
    // had ended): the exit code is the kill's, and the workspace is the reason.
    const killedForIt = 'problem' in exit.capture && exit.capture.problem === 'TOO_LARGE';
    return ended.status === 'succeeded' || killedForIt ? { status: 'failed', error: kept.error } : ended;
  }

  /** The container's run threw: the service stopped it, or the engine (or a bug) failed it. */
  private faulted(err: unknown): Ending {
    if (err instanceof RunStopped) return { status: err.status, error: null };
    if (!(err instanceof RuntimeError)) this.parts.logger.error({ err, runId: this.runId }, 'unexpected run failure');
    const fault = asRuntimeError(err);
    // Nothing ran: the caller can still answer with the engine's error and its status.
    if (this.metrics.startMs === null) this.refusal = new AppError(fault.code, fault.message);
    return endingOfFault(fault);
  }

  private stopped(): RunStopped | undefined {
    return this.stopper.signal.aborted ? (this.stopper.signal.reason as RunStopped) : undefined;
  }

  private sinceReceived(): number {
    return Math.round(performance.now() - this.planned.receivedAt);
  }

  private resultOf(ended: Ending & { exitCode: number | null }): RunResult {
    const { reply, stderr } = this;
    const parsed = this.parser.parsed;
    return {
      sessionId: this.sessionId,
      runId: this.runId,
      agent: this.agent,
      status: ended.status,
      exitCode: ended.exitCode,
      error: ended.error,
      get output() {
        return reply.text();
      },
      get stderr() {
        return stderr.text();
      },
      toolCalls: parsed.toolCalls,
      usage: parsed.usage,
      metrics: this.metrics,
    };
  }

  /** Logs the run's end and tells the metrics. */
  private announce(r: RunResult): void {
    const { runId, sessionId, agent } = this;
    (this.planned.logger ?? this.parts.logger).info(
      { runId, sessionId, agent, status: r.status, exitCode: r.exitCode, errorCode: r.error?.code, ...this.metrics },
      'run ended',
    );
    try {
      this.parts.metrics?.runEnded(r);
    } catch (err) {
      this.parts.logger.error({ err }, 'run-end observer failed');
    }
  }

  /** A fault in the service itself, past the run's own error handling: the run still ends, as failed. */
  private async failedInService(err: unknown): Promise<RunResult> {
    this.model.endGrant();
    this.parts.logger.error({ err, runId: this.runId }, 'unexpected failure while ending a run');
    const error = { ...SERVICE_FAULT };
    this.started.reject(new AppError('INTERNAL', error.message));
    const result: RunResult = {
      sessionId: this.sessionId,
      runId: this.runId,
      agent: this.agent,
      status: 'failed',
      exitCode: null,
      error,
      output: '',
      stderr: '',
      toolCalls: [],
      usage: null,
      metrics: this.metrics,
    };
    // As in live(), and once (live() may have got that far): the log, the stored end, then `done`.
    const closing = this.closed ? [] : this.close(result);
    await this.log.end();
    await this.parts.record.recordUnexpectedEnd(this.runId, this.sessionId, this.planned.receivedAt, this.metrics);
    if (closing.length > 0) await this.logDone(closing);
    void this.events.push({ events: closing }).finally(() => this.events.close());
    return result;
  }
}

/** How much an output holds back in the channel: the reply's bytes, or the stderr's characters. */
function outputSize(o: RunOutput): number {
  if (o.reply) return o.reply.length;
  let n = 0;
  for (const e of o.events) if (e.event === 'stderr') n += e.data.data.length;
  return n;
}
