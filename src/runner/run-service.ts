import type { Logger } from 'pino';
import type { ServiceConfig } from '../config/env.js';
import type { AgentProfile, ProfileSet } from '../config/profiles.js';
import { newId } from '../db/ids.js';
import type { MessageRow, RunStatus } from '../db/schema.js';
import type { RunEnd, TranscriptStore } from '../db/transcripts.js';
import { AppError } from '../errors.js';
import type { Agent, AgentEvent, ToolCall, Usage } from './agents/agent.js';
import { agentFor } from './agents/index.js';
import { EventChannel } from './event-channel.js';
import { RuntimeError, type ContainerRuntime, type ContainerSpec } from './runtime.js';

export interface RunRequest {
  prompt: string;
  /** Continue this session; a new one is opened when absent. */
  sessionId?: string;
  agent?: string;
  timeoutMs?: number;
  /** performance.now() when the request arrived; run timings count from it. */
  receivedAt: number;
}

export type RunEvent = AgentEvent | { type: 'stderr'; data: Buffer } | { type: 'done'; result: RunResult };

export interface RunResult {
  sessionId: string;
  runId: string;
  agent: string;
  status: Exclude<RunStatus, 'running'>;
  exitCode: number | null;
  error: { code: string; message: string } | null;
  /** The reply: stdout for commands, the model's text for Gemini. */
  output: string;
  stderr: string;
  toolCalls: ToolCall[];
  usage: Usage | null;
  metrics: RunEnd['metrics'];
}

export interface RunHandle {
  sessionId: string;
  runId: string;
  agent: string;
  timeoutMs: number;
  /** SSE name of the reply's text events, and whether stderr is streamed. */
  textEvent: Agent['textEvent'];
  streamsStderr: boolean;
  /** Output as it arrives, then one `done`. */
  events: AsyncIterable<RunEvent>;
  /**
   * Resolves once the container has started (or the run ended without reaching the
   * engine's fault, e.g. it was cancelled). Rejects with an AppError when the engine
   * failed before anything ran, so the caller can still answer with an error status.
   */
  ready: Promise<void>;
  result: Promise<RunResult>;
  /** The client went away: kill the container, keep what was seen. */
  cancel(): void;
}

class RunStopped extends Error {
  constructor(readonly status: 'timeout' | 'cancelled') {
    super(status);
  }
}

interface PlannedRun {
  sessionId: string;
  runId: string;
  agentName: string;
  profile: AgentProfile;
  timeoutMs: number;
  prompt: string;
  receivedAt: number;
  history: MessageRow[];
}

/** Turns a prompt into a recorded run in a fresh container, replaying the session's history. */
export class RunService {
  private readonly inFlight = new Set<RunHandle>();

  constructor(
    private readonly deps: {
      store: TranscriptStore;
      runtime: ContainerRuntime;
      profiles: ProfileSet;
      config: Pick<ServiceConfig, 'maxTimeoutMs' | 'instanceId' | 'secrets'>;
      logger: Logger;
    },
  ) {}

  /** Validates the turn and records it; the container starts in the background. */
  begin(req: RunRequest): RunHandle {
    const { store, profiles, config } = this.deps;
    const session = req.sessionId === undefined ? undefined : store.getSession(req.sessionId);
    if (req.sessionId !== undefined && !session) throw new AppError('NOT_FOUND', `session ${req.sessionId} not found`);

    const agentName = req.agent ?? session?.agent ?? profiles.defaultAgent;
    const profile = profiles.profiles.get(agentName);
    if (!profile) {
      throw new AppError('UNKNOWN_AGENT', `unknown agent "${agentName}"; known: ${[...profiles.profiles.keys()].join(', ')}`);
    }
    if (session && session.agent !== agentName) {
      throw new AppError('AGENT_MISMATCH', `session ${session.id} runs agent "${session.agent}", not "${agentName}"`);
    }
    const timeoutMs = Math.min(req.timeoutMs ?? profile.timeoutMs, config.maxTimeoutMs);

    const sessionId = session?.id ?? newId('ses');
    const runId = newId('run');
    const begun = store.beginTurn({
      sessionId,
      ...(session ? {} : { newSessionAgent: agentName }),
      runId,
      agent: agentName,
      image: profile.image,
      timeoutMs,
      prompt: req.prompt,
      now: Date.now(),
    });
    if (begun === 'busy') {
      throw new AppError('SESSION_BUSY', `session ${sessionId} has a run in progress; send the next turn when it ends`);
    }
    const history = store.historyBefore(sessionId, begun.userMessageId);
    const handle = this.execute({ sessionId, runId, agentName, profile, timeoutMs, prompt: req.prompt, receivedAt: req.receivedAt, history });
    this.inFlight.add(handle);
    void handle.result.finally(() => this.inFlight.delete(handle));
    return handle;
  }

  get runningCount(): number {
    return this.inFlight.size;
  }

  /** Lets in-flight runs finish for up to `graceMs`, then cancels the rest and waits for their end. */
  async drain(graceMs: number): Promise<void> {
    const all = () => Promise.allSettled([...this.inFlight].map((h) => h.result));
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), graceMs)));
    const outcome = await Promise.race([all(), graceOver]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      for (const h of this.inFlight) h.cancel();
      await all();
    }
  }

  private execute(run: PlannedRun): RunHandle {
    const { store, runtime, config, logger } = this.deps;
    const agent = agentFor(run.profile, config.secrets);
    const turn = agent.prepare({ prompt: run.prompt, history: run.history });
    const parser = agent.parser();
    const channel = new EventChannel<RunEvent>((e) => ('data' in e ? e.data.length : 0));
    const stop = new AbortController();
    const deadline = setTimeout(() => stop.abort(new RunStopped('timeout')), run.timeoutMs);

    const stderr: Buffer[] = [];
    const metrics: RunEnd['metrics'] = {
      queuedMs: null,
      createMs: null,
      startMs: null,
      firstByteMs: null,
      totalMs: 0,
      bytesOut: 0,
      bytesErr: 0,
      inputTokens: null,
      outputTokens: null,
      totalTokens: null,
      toolCalls: null,
    };
    const since = (t: number) => Math.round(performance.now() - t);
    const emit = async (events: AgentEvent[]) => {
      for (const e of events) {
        if (e.type === 'text' && metrics.firstByteMs === null) metrics.firstByteMs = since(run.receivedAt);
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
      env: run.profile.env,
      user: run.profile.user,
      workdir: run.profile.workdir,
      network: run.profile.network,
      limits: run.profile.limits,
      tmpfs: run.profile.tmpfs,
      labels: {
        'ephemera.managed': 'true',
        'ephemera.instance': config.instanceId,
        'ephemera.session': run.sessionId,
        'ephemera.run': run.runId,
        'ephemera.agent': run.agentName,
      },
      files: turn.files,
      stdin: turn.stdin,
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
            stdout: async (chunk) => {
              metrics.bytesOut += chunk.length;
              await emit(parser.push(chunk));
            },
            stderr: async (chunk) => {
              metrics.bytesErr += chunk.length;
              stderr.push(chunk);
              if (agent.streamsStderr) await channel.push({ type: 'stderr', data: chunk });
            },
          },
          stop.signal,
        );
        exitCode = exit.exitCode;
        await emit(parser.end());
        if (stop.signal.aborted) {
          status = (stop.signal.reason as RunStopped).status;
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
      }
      if (status === 'timeout') error = { code: 'TIMEOUT', message: `the run exceeded its ${run.timeoutMs} ms deadline` };
      if (status === 'cancelled') error = { code: 'CANCELLED', message: 'the client went away before the run ended' };
      metrics.totalMs = since(run.receivedAt);
      markReady();

      const parsed = parser.parsed;
      if (parsed.usage) {
        metrics.inputTokens = parsed.usage.inputTokens;
        metrics.outputTokens = parsed.usage.outputTokens;
        metrics.totalTokens = parsed.usage.totalTokens;
        metrics.toolCalls = parsed.usage.toolCalls;
      }
      const stderrText = Buffer.concat(stderr).toString('utf8');
      const containerRan = metrics.startMs !== null;
      try {
        store.finishRun(run.runId, run.sessionId, {
          status,
          exitCode,
          errorCode: error?.code ?? null,
          errorMessage: error?.message ?? null,
          stderr: stderrText,
          output: containerRan ? parsed.reply : null,
          metrics,
          now: Date.now(),
        });
      } catch (err) {
        logger.error({ err, runId: run.runId }, 'could not record the end of a run');
      }
      const res: RunResult = {
        sessionId: run.sessionId,
        runId: run.runId,
        agent: run.agentName,
        status,
        exitCode,
        error,
        output: parsed.reply,
        stderr: stderrText,
        toolCalls: parsed.toolCalls,
        usage: parsed.usage,
        metrics,
      };
      logger.info(
        { runId: run.runId, sessionId: run.sessionId, agent: run.agentName, status, exitCode, errorCode: error?.code, ...metrics },
        'run ended',
      );
      await channel.push({ type: 'done', result: res });
      channel.close();
      return res;
    })();

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
    };
  }
}
