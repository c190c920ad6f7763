import type { Logger } from 'pino';
import type { ServiceConfig } from '../config/env.js';
import type { AgentProfile, ProfileSet } from '../config/profiles.js';
import { canSee, type Principal } from '../auth/principal.js';
import { newId } from '../db/ids.js';
import type { RunStatus } from '../db/schema.js';
import { NO_REPLAY, type Replay, type RunEnd, type TranscriptStore } from '../db/transcripts.js';
import { AppError, INTERRUPTED } from '../errors.js';
import { EMPTY_RUN_METRICS, type RunMetrics } from '../run-metrics.js';
import type { Agent, AgentEvent, OutputParser, PreparedTurn, ToolCall, Usage } from './agents/agent.js';
import { agentFor } from './agents/index.js';
import type { RunGrant, RunTokens } from '../gateway/run-tokens.js';
import { Admission } from './admission.js';
import { EventChannel } from './event-channel.js';
import { OutputBuffer } from './output-buffer.js';
import { RuntimeError, type ContainerRuntime, type ContainerSpec } from './runtime.js';

export interface RunRequest {
  prompt: string;
  /** Who asks: owns a new session, and may continue only a session it can see. */
  principal: Principal;
  /** Continue this session; a new one is opened when absent. */
  sessionId?: string;
  agent?: string;
  timeoutMs?: number;
  /** performance.now() when the request arrived; run timings count from it. */
  receivedAt: number;
  /** The request's logger (it carries the request id). */
  logger?: Logger;
  /**
   * Keep the whole output for `RunResult.output`/`stderr` (a JSON answer carries it);
   * otherwise only what the transcript stores is held while the run streams.
   */
  keepOutput?: boolean;
}

export type RunEvent = AgentEvent | { type: 'stderr'; data: Buffer } | { type: 'done'; result: RunResult };

export interface RunResult {
  sessionId: string;
  runId: string;
  agent: string;
  status: Exclude<RunStatus, 'running'>;
  exitCode: number | null;
  error: { code: string; message: string } | null;
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
  /** Output as it arrives, then one `done`; `batches()` gives what queued up at once. */
  events: EventChannel<RunEvent>;
  /**
   * Resolves once the container has started (or the run ended without reaching the
   * engine's fault, e.g. it was cancelled). Rejects with an AppError when the engine
   * failed before anything ran, so the caller can still answer with an error status.
   */
  ready: Promise<void>;
  result: Promise<RunResult>;
  /** The client went away: kill the container, keep what was seen. */
  cancel(): void;
  /** The service stops it (shutdown). */
  stop(status: 'interrupted'): void;
}

/** The settings a RunService reads. */
export type RunServiceConfig = Pick<
  ServiceConfig,
  | 'maxTimeoutMs'
  | 'instanceId'
  | 'secrets'
  | 'maxOutputBytes'
  | 'maxStoredOutputBytes'
  | 'replayMaxBytes'
  | 'maxConcurrentRuns'
  | 'maxQueuedRuns'
  | 'maxRunsPerKey'
  | 'maxQueuedPerKey'
  | 'queueTimeoutMs'
>;

type StopReason = 'timeout' | 'cancelled' | 'output_limit' | 'interrupted' | 'budget';

/** Why the service stopped a run before its process ended. */
class RunStopped extends Error {
  constructor(
    readonly reason: StopReason,
    /** What the reason's error message says, where it needs more than the run (budget). */
    readonly detail = '',
  ) {
    super(reason);
  }

  /** The run's status: a run over its model budget has failed. */
  get status(): RunResult['status'] {
    return this.reason === 'budget' ? 'failed' : this.reason;
  }
}

const STOP_ERRORS: Record<StopReason, (run: PlannedRun, maxOutputBytes: number, stopped: RunStopped) => { code: string; message: string }> = {
  budget: (_r, _m, stopped) => ({ code: 'BUDGET_EXCEEDED', message: stopped.detail }),
  timeout: (r) => ({ code: 'TIMEOUT', message: `the run exceeded its ${r.timeoutMs} ms deadline` }),
  cancelled: () => ({ code: 'CANCELLED', message: 'the client went away before the run ended' }),
  output_limit: (_r, max) => ({ code: 'OUTPUT_LIMIT', message: `the run printed more than ${max} bytes; output kept up to that` }),
  interrupted: () => ({ ...INTERRUPTED.byShutdown }),
};

const STORE_END_ATTEMPTS = 4;

/** The error of a run the service itself failed (a bug, a broken database). */
const SERVICE_FAULT = { code: 'INTERNAL', message: 'the service failed while handling this run' } as const;

/** A container may outlive its deadline by this much (kill and removal) before any instance reaps it. */
const DEADLINE_SLACK_MS = 60_000;
/**
 * The container's own deadline comes this long after the service's timer, which therefore
 * fires first while the service lives (the run ends as `timeout`); the container's only
 * matters when the service is gone.
 */
const OWN_DEADLINE_AFTER_MS = 5_000;

interface PlannedRun {
  sessionId: string;
  runId: string;
  agentName: string;
  profile: AgentProfile;
  timeoutMs: number;
  prompt: string;
  receivedAt: number;
  replay: Replay;
  logger?: Logger;
  keepOutput: boolean;
}

/** Turns a prompt into a recorded run in a fresh container, replaying the session's history. */
export class RunService {
  private readonly inFlight = new Set<RunHandle>();

  constructor(
    private readonly deps: {
      store: TranscriptStore;
      runtime: ContainerRuntime;
      profiles: ProfileSet;
      config: RunServiceConfig;
      logger: Logger;
      /** Told of every run's end, after it is stored (metrics). */
      onRunEnd?: (result: RunResult) => void;
      /** Which Agent runs a profile; tests pass one that fails on purpose. */
      agents?: typeof agentFor;
      /** The model gateway: its per-run tokens, and the URL containers reach it at (undefined: not serving). */
      gateway?: { tokens: RunTokens; url: () => string | undefined };
    },
  ) {
    this.admission = new Admission({
      maxConcurrent: deps.config.maxConcurrentRuns,
      maxQueued: deps.config.maxQueuedRuns,
      queueTimeoutMs: deps.config.queueTimeoutMs,
      maxPerKey: deps.config.maxRunsPerKey,
      maxQueuedPerKey: deps.config.maxQueuedPerKey,
    });
  }

  readonly admission: Admission;
  private closed = false;
  private readonly unavailable = new Map<string, string>();

  /** Refuses runs of an agent from now on (503 AGENT_UNAVAILABLE), saying why. */
  disableAgent(name: string, why: string): void {
    this.unavailable.set(name, why);
  }

  /** The runs in progress, by id: the reaper leaves their containers alone. */
  liveRunIds(): Set<string> {
    return new Set([...this.inFlight].map((h) => h.runId));
  }

  /**
   * Validates the turn, waits for a free slot (429 CAPACITY when none frees in time),
   * and records it; the container starts in the background. Nothing is stored for a
   * request refused here.
   */
  async begin(req: RunRequest, signal?: AbortSignal): Promise<RunHandle> {
    if (this.closed) throw new AppError('SHUTTING_DOWN', 'the service is shutting down; retry on another instance or later');
    this.plan(req); // fail fast on bad input before queueing
    const release = await this.admission.acquire(req.principal.keyId, signal);
    try {
      if (this.closed) throw new AppError('SHUTTING_DOWN', 'the service is shutting down; retry on another instance or later');
      const handle = this.start(req);
      this.inFlight.add(handle);
      void handle.result.finally(() => {
        this.inFlight.delete(handle);
        release();
      });
      return handle;
    } catch (err) {
      release();
      throw err;
    }
  }

  private plan(req: RunRequest) {
    const { store, profiles, config } = this.deps;
    const found = req.sessionId === undefined ? undefined : store.getSession(req.sessionId);
    // Another owner's session answers exactly as a missing one.
    const session = found && canSee(req.principal, found) ? found : undefined;
    if (req.sessionId !== undefined && !session) throw new AppError('NOT_FOUND', `session ${req.sessionId} not found`);

    const agentName = req.agent ?? session?.agent ?? profiles.defaultAgent;
    const profile = profiles.profiles.get(agentName);
    if (!profile) {
      throw new AppError('UNKNOWN_AGENT', `unknown agent "${agentName}"; known: ${[...profiles.profiles.keys()].join(', ')}`);
    }
    const unavailable = this.unavailable.get(agentName);
    if (unavailable) throw new AppError('AGENT_UNAVAILABLE', `agent "${agentName}" is not available: ${unavailable}`);
    if (session && session.agent !== agentName) {
      throw new AppError('AGENT_MISMATCH', `session ${session.id} runs agent "${session.agent}", not "${agentName}"`);
    }
    // A request may shorten its deadline, never lengthen it past what its profile allows.
    const maxTimeoutMs = Math.min(profile.maxTimeoutMs, config.maxTimeoutMs);
    if (req.timeoutMs !== undefined && req.timeoutMs > maxTimeoutMs) {
      throw new AppError('INVALID_BODY', `timeout_ms ${req.timeoutMs} is over the ${maxTimeoutMs} ms agent "${agentName}" allows`);
    }
    const timeoutMs = Math.min(req.timeoutMs ?? profile.timeoutMs, maxTimeoutMs);
    return { session, agentName, profile, timeoutMs };
  }

  private start(req: RunRequest): RunHandle {
    const { store, config } = this.deps;
    // Planned again: the session may have changed while the request waited for a slot.
    const { session, agentName, profile, timeoutMs } = this.plan(req);
    const sessionId = session?.id ?? newId('ses');
    const runId = newId('run');
    const begun = store.beginTurn({
      sessionId,
      ...(session ? {} : { newSessionAgent: agentName }),
      runId,
      agent: agentName,
      image: profile.image,
      instanceId: config.instanceId,
      keyId: req.principal.keyId,
      timeoutMs,
      prompt: req.prompt,
      now: Date.now(),
    });
    if (begun === 'busy') {
      throw new AppError('SESSION_BUSY', `session ${sessionId} has a run in progress; send the next turn when it ends`);
    }
    // The turn has begun: from here on, whatever happens must end its run, or the
    // session stays busy for good.
    try {
      return this.execute({
        sessionId,
        runId,
        agentName,
        profile,
        timeoutMs,
        prompt: req.prompt,
        receivedAt: req.receivedAt,
        replay: profile.replay === 'none' ? NO_REPLAY : store.replayBefore(sessionId, begun.userMessageId, config.replayMaxBytes),
        ...(req.logger && { logger: req.logger }),
        keepOutput: req.keepOutput === true,
      });
    } catch (err) {
      this.deps.logger.error({ err, runId }, 'a run failed before its container was asked for');
      this.recordUnexpectedEnd(runId, sessionId, req.receivedAt);
      throw new AppError('INTERNAL', `run ${runId} could not be prepared; it was recorded as failed`);
    }
  }

  /**
   * Stores a run's end. A failed write (the database locked past its busy timeout) is
   * tried again, since a run left `running` keeps its session busy; finishRun is one
   * transaction and ends only a running run, so a retry never stores the reply twice.
   */
  private async storeEnd(runId: string, sessionId: string, end: RunEnd): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        this.deps.store.finishRun(runId, sessionId, end);
        return;
      } catch (err) {
        this.deps.logger.error({ err, runId, attempt }, 'could not record the end of a run');
        if (attempt === STORE_END_ATTEMPTS) return; // left `running`: the next start marks it interrupted
        await new Promise((r) => setTimeout(r, 250 * attempt));
      }
    }
  }

  /**
   * Ends a run that failed in the service itself (a bug, a broken database), so that its
   * session does not stay busy. Never throws: there is nobody left to tell.
   */
  private recordUnexpectedEnd(runId: string, sessionId: string, receivedAt: number, metrics?: RunMetrics): void {
    try {
      // finishRun ends only a running run: an end stored after all is left as it is.
      this.deps.store.finishRun(runId, sessionId, {
        status: 'failed',
        exitCode: null,
        errorCode: SERVICE_FAULT.code,
        errorMessage: SERVICE_FAULT.message,
        stderr: '',
        output: null,
        metrics: metrics ?? { ...EMPTY_RUN_METRICS, totalMs: Math.round(performance.now() - receivedAt) },
        replay: null,
        now: Date.now(),
      });
    } catch (err) {
      this.deps.logger.error({ err, runId }, 'could not record the end of a run');
    }
  }

  /**
   * A model agent's token for the gateway, while the gateway serves; going over the
   * profile's budget stops the run. Revoked when the run ends (see execute).
   */
  private modelGrant(run: PlannedRun, stop: AbortController): RunGrant | undefined {
    const gateway = this.deps.gateway;
    if (run.profile.kind !== 'gemini' || !gateway || gateway.url() === undefined) return undefined;
    return gateway.tokens.issue(run.runId, run.profile.gemini?.budget ?? {}, (why) => {
      if (!stop.signal.aborted) stop.abort(new RunStopped('budget', why));
    });
  }

  get runningCount(): number {
    return this.inFlight.size;
  }

  /**
   * Refuses new runs, lets in-flight ones finish for up to `graceMs`, then kills the
   * rest (status `interrupted`, SHUTDOWN) and waits until their ends are stored.
   */
  async drain(graceMs: number): Promise<void> {
    this.closed = true;
    const all = () => Promise.allSettled([...this.inFlight].map((h) => h.result));
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), graceMs)));
    const outcome = await Promise.race([all(), graceOver]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      for (const h of this.inFlight) h.stop('interrupted');
      await all();
    }
  }

  private execute(run: PlannedRun): RunHandle {
    const { store, runtime, config, logger } = this.deps;
    const stop = new AbortController();
    const grant = this.modelGrant(run, stop);
    const endGrant = () => grant && this.deps.gateway!.tokens.revoke(grant);
    let agent: Agent, turn: PreparedTurn, parser: OutputParser;
    try {
      const access = grant && { token: grant.token, baseUrl: this.deps.gateway!.url()! };
      agent = (this.deps.agents ?? agentFor)(run.profile, access, config.secrets.geminiApiKey !== undefined);
      turn = agent.prepare({ prompt: run.prompt, history: run.replay.messages, omitted: run.replay.omitted });
      parser = agent.parser();
    } catch (err) {
      endGrant();
      throw err;
    }
    const channel = new EventChannel<RunEvent>((e) => ('data' in e ? e.data.length : 0));
    // A stopped run (deadline, shutdown, output cap) ends even if its client stopped reading:
    // otherwise a paused reader would hold the run, and its slot, for good.
    stop.signal.addEventListener('abort', () => channel.stopWaiting(), { once: true });
    const deadline = setTimeout(() => stop.abort(new RunStopped('timeout')), run.timeoutMs);

    const reply = new OutputBuffer(config.maxStoredOutputBytes, run.keepOutput);
    const stderr = new OutputBuffer(config.maxStoredOutputBytes, run.keepOutput);
    let printed = 0;
    /** Passes on what fits under the output cap; past it, kills the run. */
    const withinCap = (chunk: Buffer): Buffer => {
      const room = config.maxOutputBytes - printed;
      printed += chunk.length;
      if (chunk.length <= room) return chunk;
      if (!stop.signal.aborted) stop.abort(new RunStopped('output_limit'));
      return chunk.subarray(0, Math.max(0, room));
    };
    const metrics: RunMetrics = { ...EMPTY_RUN_METRICS };
    const since = (t: number) => Math.round(performance.now() - t);
    const emit = async (events: AgentEvent[]) => {
      for (const e of events) {
        if (e.type === 'text') {
          if (metrics.firstByteMs === null) metrics.firstByteMs = since(run.receivedAt);
          reply.append(e.data);
        }
        await channel.push(e);
      }
    };

    let markReady!: () => void;
    let failReady!: (err: AppError) => void;
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failReady = reject;
    });
    ready.catch(() => {}); // callers that stream may never await it

    const spec: ContainerSpec = {
      image: run.profile.image,
      command: turn.command,
      env: { ...run.profile.env, ...turn.env },
      user: run.profile.user,
      workdir: run.profile.workdir,
      network: run.profile.network,
      limits: run.profile.limits,
      readOnlyRoot: run.profile.readOnlyRoot,
      tmpfs: run.profile.tmpfs,
      labels: {
        'ephemera.managed': 'true',
        'ephemera.instance': config.instanceId,
        'ephemera.session': run.sessionId,
        'ephemera.run': run.runId,
        'ephemera.agent': run.agentName,
        // Past this, the container belongs to no live run, whoever started it.
        'ephemera.deadline': String(Date.now() + run.timeoutMs + DEADLINE_SLACK_MS),
      },
      files: turn.files,
      stdin: turn.stdin,
      ownDeadlineAt: run.profile.ownDeadline ? Date.now() + run.timeoutMs + OWN_DEADLINE_AFTER_MS : undefined,
    };

    const result = (async (): Promise<RunResult> => {
      let status: RunResult['status'];
      let exitCode: number | null = null;
      let error: RunResult['error'] = null;
      metrics.queuedMs = since(run.receivedAt);
      try {
        const exit = await runtime.run(
          spec,
          {
            started: (t) => {
              metrics.createMs = Math.round(t.createMs);
              metrics.startMs = Math.round(t.startMs);
              markReady();
            },
            stdout: async (raw) => {
              const chunk = withinCap(raw);
              if (chunk.length === 0) return;
              metrics.bytesOut += chunk.length;
              await emit(parser.push(chunk));
            },
            stderr: async (raw) => {
              const chunk = withinCap(raw);
              if (chunk.length === 0) return;
              metrics.bytesErr += chunk.length;
              stderr.append(chunk);
              if (agent.streamsStderr) await channel.push({ type: 'stderr', data: chunk });
            },
          },
          stop.signal,
        );
        exitCode = exit.exitCode;
        await emit(parser.end());
        if (stop.signal.aborted) {
          status = (stop.signal.reason as RunStopped).status;
        } else if (exit.oomKilled) {
          status = 'oom';
          error = { code: 'OOM', message: `the run went over its ${run.profile.limits.memoryBytes / 1048576} MiB memory limit` };
        } else {
          ({ status, error } = agent.conclude(exitCode, parser.parsed));
        }
      } catch (err) {
        if (err instanceof RunStopped) {
          status = err.status;
        } else {
          status = 'failed';
          const e = err instanceof RuntimeError ? err : new RuntimeError('RUNTIME_ERROR', 'the run failed unexpectedly');
          if (!(err instanceof RuntimeError)) logger.error({ err, runId: run.runId }, 'unexpected run failure');
          error = { code: e.code, message: e.message };
          if (metrics.startMs === null) failReady(new AppError(e.code, e.message));
        }
      } finally {
        clearTimeout(deadline);
        endGrant(); // the container is gone: its token is worth nothing from now on
      }
      const stopped = stop.signal.aborted ? (stop.signal.reason as RunStopped) : undefined;
      if (stopped && status === stopped.status) error = STOP_ERRORS[stopped.reason](run, config.maxOutputBytes, stopped);
      metrics.totalMs = since(run.receivedAt);
      markReady();

      const parsed = parser.parsed;
      if (parsed.usage) {
        metrics.inputTokens = parsed.usage.inputTokens;
        metrics.outputTokens = parsed.usage.outputTokens;
        metrics.totalTokens = parsed.usage.totalTokens;
        metrics.toolCalls = parsed.usage.toolCalls;
      }
      if (grant) {
        // The gateway saw every call, whatever the CLI reports (or fails to, if it crashed).
        metrics.inputTokens = grant.usage.inputTokens;
        metrics.outputTokens = grant.usage.outputTokens;
        metrics.totalTokens = grant.usage.totalTokens;
        metrics.modelCalls = grant.usage.calls;
        metrics.modelErrors = grant.usage.errors;
      }
      const containerRan = metrics.startMs !== null;
      await this.storeEnd(run.runId, run.sessionId, {
        status,
        exitCode,
        errorCode: error?.code ?? null,
        errorMessage: error?.message ?? null,
        stderr: stderr.stored().text,
        output: containerRan ? reply.stored() : null,
        metrics,
        replay: run.replay.kept ? { messages: run.replay.messages.length, omitted: run.replay.omitted, bytes: run.replay.bytes } : null,
        now: Date.now(),
      });
      const res: RunResult = {
        sessionId: run.sessionId,
        runId: run.runId,
        agent: run.agentName,
        status,
        exitCode,
        error,
        get output() {
          return reply.text();
        },
        get stderr() {
          return stderr.text();
        },
        toolCalls: parsed.toolCalls,
        usage: parsed.usage,
        metrics,
      };
      (run.logger ?? logger).info(
        { runId: run.runId, sessionId: run.sessionId, agent: run.agentName, status, exitCode, errorCode: error?.code, ...metrics },
        'run ended',
      );
      try {
        this.deps.onRunEnd?.(res);
      } catch (err) {
        logger.error({ err }, 'run-end observer failed');
      }
      await channel.push({ type: 'done', result: res });
      channel.close();
      return res;
    })().catch((err: unknown) => {
      // A fault in the service itself, past the run's own error handling.
      endGrant();
      logger.error({ err, runId: run.runId }, 'unexpected failure while ending a run');
      this.recordUnexpectedEnd(run.runId, run.sessionId, run.receivedAt, metrics);
      const error = { ...SERVICE_FAULT };
      failReady(new AppError('INTERNAL', error.message));
      const res: RunResult = {
        sessionId: run.sessionId,
        runId: run.runId,
        agent: run.agentName,
        status: 'failed',
        exitCode: null,
        error,
        output: '',
        stderr: '',
        toolCalls: [],
        usage: null,
        metrics,
      };
      void channel.push({ type: 'done', result: res }).finally(() => channel.close());
      return res;
    });

    return {
      sessionId: run.sessionId,
      runId: run.runId,
      agent: run.agentName,
      timeoutMs: run.timeoutMs,
      textEvent: agent.textEvent,
      streamsStderr: agent.streamsStderr,
      events: channel,
      ready,
      result,
      cancel: () => {
        if (!stop.signal.aborted) stop.abort(new RunStopped('cancelled'));
        channel.abandon();
      },
      stop: (why: 'interrupted') => {
        if (!stop.signal.aborted) stop.abort(new RunStopped(why));
      },
    };
  }
}
