import type { Logger } from 'pino';
import type { ServiceConfig } from '../../config/env.js';
import type { AgentProfile, ProfileSet } from '../../config/profiles.js';
import { canSee, type Principal } from '../../auth/principal.js';
import { newId } from '../../db/ids.js';
import type { MessageRole, SessionRow } from '../../db/rows.js';
import { NO_REPLAY } from '../../db/shared/replay.js';
import { replayWithSteps } from './replay-steps.js';
import { webhookUrlRefusal } from '../../webhooks/allowed.js';
import type { TranscriptStore } from '../../db/contract.js';
import { AppError } from '../../errors.js';
import { agentFor } from '../agents/index.js';
import { definitionOf, modelKeyOf } from '../agents/registry.js';
import type { RunGrant, RunTokens } from '../../gateway/run-tokens.js';
import type { Admission } from './admission.js';
import type { WebhookStore, WorkspaceStore } from '../../db/contract.js';
import { editWorkspace, entriesOf, type GivenFile, type WorkspaceEdit } from '../../workspace/edit.js';
import { WorkspaceError } from '../../workspace/archive.js';
import type { PlannedRun } from './planned-run.js';
import { Run, type RunHandle, type RunParts } from './run.js';
import { RunRecord } from './run-record.js';
import { RunStopped } from './run-stopped.js';
import { previousRun, type PreviousRun } from './previous-run.js';
import type { ContainerRuntime } from '../runtime.js';

export interface RunRequest {
  prompt: string;
  /** Who asks: owns a new session, and may continue only a session it can see. */
  principal: Principal;
  /** Continue this session; a new one is opened when absent. */
  sessionId?: string;
  agent?: string;
  timeoutMs?: number;
  /** The request's Idempotency-Key, stored with its run (submit() decides what a repeat gets). */
  idempotencyKey?: string;
  /** Run this stored turn again (the run of that id never reached its container): the prompt is not stored twice. */
  retryOf?: string;
  /** A new session's history, stored before the prompt and replayed to it (ignored when continuing a session). */
  earlier?: { role: MessageRole; content: string }[];
  /** Files added to the session's workspace before the turn (a keeping profile only). */
  files?: Record<string, GivenFile>;
  /** Called when the run ends (an origin of WEBHOOK_ALLOWED_ORIGINS only). */
  webhookUrl?: string;
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

/** What submit() decided for a request: a run started, or the earlier run of its Idempotency-Key. */
export type Submitted =
  | { kind: 'started'; handle: RunHandle }
  | Extract<PreviousRun, { kind: 'running' } | { kind: 'ended' }>;

/** The settings a RunService reads. */
export type RunServiceConfig = Pick<
  ServiceConfig,
  | 'maxTimeoutMs'
  | 'instanceId'
  | 'secrets'
  | 'maxOutputBytes'
  | 'maxStoredOutputBytes'
  | 'eventLogMaxBytes'
  | 'replayMaxBytes'
  | 'workspace'
  | 'maxConcurrentRuns'
  | 'maxQueuedRuns'
  | 'maxRunsPerKey'
  | 'maxQueuedPerKey'
  | 'queueTimeoutMs'
  | 'webhooks'
>;

/** A turn that passed its checks: what begin() found, start() records. */
interface TurnPlan {
  session: SessionRow | undefined;
  agentName: string;
  profile: AgentProfile;
  timeoutMs: number;
}

/** What a RunService is made of. */
export interface RunServiceDeps {
  store: TranscriptStore;
  /** Sessions' workspaces: restored into a keeping profile's runs. */
  workspaces: WorkspaceStore;
  /** Each run's event log, and who is told when more of it is written. */
  events: RunParts['log'];
  /** Runs' webhooks: a run that names one has it registered with its turn. */
  webhooks?: WebhookStore;
  runtime: ContainerRuntime;
  profiles: ProfileSet;
  config: RunServiceConfig;
  logger: Logger;
  /** The run slots, shared fairly between callers (its gauges are scraped as metrics). */
  admission: Admission;
  /** Told of every run's end, after it is stored. */
  metrics?: RunParts['metrics'];
  /** Which Agent runs a profile; tests pass one that fails on purpose. */
  agents?: typeof agentFor;
  /** The model gateway: its per-run tokens, and the URL containers reach it at (undefined: not serving). */
  gateway?: { tokens: RunTokens; url: () => string | undefined };
}

/** Turns a prompt into a recorded run in a fresh container, replaying the session's history. */
export class RunService {
  readonly admission: Admission;
  private readonly inFlight = new Set<RunHandle>();
  /** Turns being recorded, not yet in flight: a drain waits for them first. */
  private readonly starting = new Set<Promise<RunHandle>>();
  private readonly record: RunRecord;
  private closed = false;
  /** The agents refused from now on, with their reasons. */
  private readonly disabled = new Map<string, string[]>();

  constructor(private readonly deps: RunServiceDeps) {
    this.admission = deps.admission;
    this.record = new RunRecord(deps.store, deps.logger);
  }

  /** Refuses runs of an agent from now on (503 AGENT_UNAVAILABLE), saying why; an agent may have several reasons. */
  disableAgent(name: string, why: string): void {
    const reasons = this.disabled.get(name) ?? [];
    if (!reasons.includes(why)) this.disabled.set(name, [...reasons, why]);
  }

  /** The agents refused from now on, each with why: what GET /v1/models and the start-up log say. */
  unavailableAgents(): Map<string, string> {
    return new Map([...this.disabled].map(([name, reasons]) => [name, reasons.join('; ')]));
  }

  /** The error a run of this agent gets now, if it is disabled. */
  unavailableError(agentName: string): AppError | undefined {
    const reasons = this.disabled.get(agentName);
    return reasons && new AppError('AGENT_UNAVAILABLE', `agent "${agentName}" is not available: ${reasons.join('; ')}`);
  }

  /** The runs in progress, by id: the reaper leaves their containers alone. */
  liveRunIds(): Set<string> {
    return new Set([...this.inFlight].map((h) => h.runId));
  }

  get runningCount(): number {
    return this.inFlight.size;
  }

  /**
   * What a request to run a turn gets: a run started for it, or, when its Idempotency-Key
   * came before, that run (still running, or ended: answered from the store), or the same
   * stored turn run again when the engine refused it before (src/runner/run/previous-run.ts).
   * The routes only parse the request and render what this decides.
   */
  async submit(req: Omit<RunRequest, 'retryOf'>, signal?: AbortSignal): Promise<Submitted> {
    if (req.idempotencyKey !== undefined) {
      const previous = await previousRun(this.deps.store, req.principal, req.idempotencyKey, req);
      if (previous.kind === 'running' || previous.kind === 'ended') return previous;
      if (previous.kind === 'retry') {
        const { id: retryOf, sessionId } = previous.run;
        return { kind: 'started', handle: await this.begin({ ...req, sessionId, retryOf }, signal) };
      }
    }
    return { kind: 'started', handle: await this.begin(req, signal) };
  }

  /**
   * Validates the turn, waits for a free slot (429 CAPACITY when none frees in time),
   * and records it; the container starts in the background. Nothing is stored for a
   * request refused here.
   */
  async begin(req: RunRequest, signal?: AbortSignal): Promise<RunHandle> {
    this.refuseWhenClosed();
    const plan = await this.plan(req); // fail fast on bad input before queueing
    const files = req.files && (await this.filesEdit(req.files, plan));
    const release = await this.admission.acquire(req.principal.keyId, signal);
    try {
      this.refuseWhenClosed();
      const starting = this.start(req, plan, files);
      this.starting.add(starting);
      const handle = await starting.finally(() => this.starting.delete(starting));
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

  /**
   * Refuses new runs, lets in-flight ones finish for up to `graceMs`, then kills the
   * rest (status `interrupted`, INTERRUPTED.byShutdown) and waits until their ends are stored.
   */
  async drain(graceMs: number): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.starting]);
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

  private refuseWhenClosed(): void {
    if (this.closed)
      throw new AppError('SHUTTING_DOWN', 'the service is shutting down; retry on another instance or later');
  }

  private async plan(req: RunRequest): Promise<TurnPlan> {
    const { store, profiles, config } = this.deps;
    const found = req.sessionId === undefined ? undefined : await store.getSession(req.sessionId);
    // Another owner's session answers exactly as a missing one.
    const session = found && canSee(req.principal, found) ? found : undefined;
    if (req.sessionId !== undefined && !session) throw new AppError('NOT_FOUND', `session ${req.sessionId} not found`);

    const agentName = req.agent ?? session?.agent ?? profiles.defaultAgent;
    const profile = profiles.profiles.get(agentName);
    if (!profile) {
      throw new AppError(
        'UNKNOWN_AGENT',
        `unknown agent "${agentName}"; known: ${[...profiles.profiles.keys()].join(', ')}`,
      );
    }
    this.refuseWhenUnavailable(agentName);
    if (session && session.agent !== agentName) {
      throw new AppError('AGENT_MISMATCH', `session ${session.id} runs agent "${session.agent}", not "${agentName}"`);
    }
    // A request may shorten its deadline, never lengthen it past what its profile allows.
    const maxTimeoutMs = Math.min(profile.maxTimeoutMs, config.maxTimeoutMs);
    if (req.timeoutMs !== undefined && req.timeoutMs > maxTimeoutMs) {
      throw new AppError(
        'INVALID_BODY',
        `timeout_ms ${req.timeoutMs} is over the ${maxTimeoutMs} ms agent "${agentName}" allows`,
      );
    }
    const timeoutMs = Math.min(req.timeoutMs ?? profile.timeoutMs, maxTimeoutMs);
    const refused =
      req.webhookUrl === undefined ? undefined : webhookUrlRefusal(req.webhookUrl, config.webhooks.allowedOrigins);
    if (refused !== undefined || (req.webhookUrl !== undefined && !this.deps.webhooks))
      throw new AppError('WEBHOOK_NOT_ALLOWED', refused ?? 'this service calls no webhooks');
    return { session, agentName, profile, timeoutMs };
  }

  private refuseWhenUnavailable(agentName: string): void {
    const refused = this.unavailableError(agentName);
    if (refused) throw refused;
  }

  /**
   * Records the turn and starts its run. Of what plan() checked before the admission
   * queue, only two things can change while the request waits there: its agent can be
   * disabled, and its session deleted (a session's agent and owner, and the profiles,
   * never change). The first is looked up again; the second beginTurn tells, in the
   * transaction that records the turn, so the session is not fetched twice.
   */
  private async start(req: RunRequest, plan: TurnPlan, files: WorkspaceEdit | undefined): Promise<RunHandle> {
    const { store, config, workspaces } = this.deps;
    const { session, agentName, profile, timeoutMs } = plan;
    this.refuseWhenUnavailable(agentName);
    const sessionId = session?.id ?? newId('ses');
    const runId = newId('run');
    const turn = {
      sessionId,
      runId,
      agent: agentName,
      image: profile.image,
      instanceId: config.instanceId,
      keyId: req.principal.keyId,
      timeoutMs,
      // Stored with the turn, in its transaction, if the workspace is still the one they were laid over.
      ...(files && { files: { workspace: files.workspace, basedOn: files.basedOn } }),
      now: Date.now(),
    };
    const { idempotencyKey, retryOf } = req;
    const begun =
      retryOf !== undefined && idempotencyKey !== undefined
        ? await store.retryTurn({ ...turn, previousRunId: retryOf, idempotencyKey })
        : await store.beginTurn({
            ...turn,
            ...(session ? {} : { newSessionAgent: agentName }),
            prompt: req.prompt,
            ...(req.earlier && { earlier: req.earlier }),
            ...(idempotencyKey !== undefined && { idempotencyKey }),
          });
    if (begun === 'gone') throw new AppError('NOT_FOUND', `session ${sessionId} not found`);
    if (begun === 'duplicate') {
      throw new AppError(
        'RUN_IN_PROGRESS',
        `a request with this Idempotency-Key began a run a moment ago; retry to get its outcome`,
      );
    }
    if (begun === 'busy') {
      throw new AppError('SESSION_BUSY', `session ${sessionId} has a run in progress; send the next turn when it ends`);
    }
    if (begun === 'stale') {
      throw new AppError(
        'SESSION_BUSY',
        `session ${sessionId}'s workspace changed while this turn waited; send it again`,
      );
    }
    // The turn has begun: from here on, whatever happens must end its run, or the
    // session stays busy for good.
    try {
      if (req.webhookUrl !== undefined) await this.deps.webhooks!.add(runId, req.webhookUrl, Date.now());
      return this.execute({
        sessionId,
        runId,
        agentName,
        profile,
        timeoutMs,
        prompt: req.prompt,
        receivedAt: req.receivedAt,
        ...(profile.replay === 'none'
          ? { replay: NO_REPLAY, steps: new Map() }
          : await replayWithSteps(
              await store.replayBefore(sessionId, begun.userMessageId, config.replayMaxBytes),
              this.deps.events.store,
              config.replayMaxBytes,
            )),
        workspace: profile.keepWorkspace ? (files?.workspace ?? (await workspaces.get(sessionId))) : undefined,
        ...(req.logger && { logger: req.logger }),
        keepOutput: req.keepOutput === true,
      });
    } catch (err) {
      this.deps.logger.error({ err, runId }, 'a run failed before its container was asked for');
      await this.record.recordUnexpectedEnd(runId, sessionId, req.receivedAt);
      throw new AppError('INTERNAL', `run ${runId} could not be prepared; it was recorded as failed`);
    }
  }

  /** The request's files laid over the session's workspace, checked; stored once the turn begins. */
  private async filesEdit(files: Record<string, GivenFile>, plan: TurnPlan): Promise<WorkspaceEdit> {
    if (!plan.profile.keepWorkspace) {
      throw new AppError(
        'WORKSPACE_NOT_KEPT',
        `agent ${plan.agentName} keeps no workspace (its profile has no workdir, or keep_workspace: false): files cannot be given`,
      );
    }
    try {
      const current = plan.session && (await this.deps.workspaces.get(plan.session.id));
      return await editWorkspace(current, { add: entriesOf(files) }, this.deps.config.workspace);
    } catch (err) {
      if (!(err instanceof WorkspaceError)) throw err;
      throw new AppError(err.code, err.message);
    }
  }

  /** Starts a recorded turn's run, with its agent and, for a model agent, its model grant. */
  private execute(planned: PlannedRun): Run {
    const { config, gateway } = this.deps;
    let run: Run | undefined;
    // Only a model call can go over the budget, and none comes before the run exists.
    const grant = this.modelGrant(planned, (why) => run?.stopFor(new RunStopped('budget', why)));
    const endGrant = () => grant && gateway!.tokens.revoke(grant);
    try {
      const access = grant && { token: grant.token, baseUrl: gateway!.url()! };
      const agent = (this.deps.agents ?? agentFor)(
        planned.profile,
        access,
        modelKeyOf(config, planned.profile.kind) !== undefined,
      );
      run = new Run(planned, agent, { grant, endGrant }, this.runParts()).start();
      return run;
    } catch (err) {
      endGrant();
      throw err;
    }
  }

  /**
   * A model agent's token for the gateway, while the gateway serves; going over the
   * profile's budget stops the run. Revoked when the run's container is gone (see Run).
   */
  private modelGrant(run: PlannedRun, overBudget: (why: string) => void): RunGrant | undefined {
    const gateway = this.deps.gateway;
    const model = definitionOf(run.profile.kind).model;
    if (!model || !gateway || gateway.url() === undefined) return undefined;
    return gateway.tokens.issue(run.runId, model.budget(run.profile.options), overBudget, run.profile.kind);
  }

  private runParts(): RunParts {
    const { runtime, config, logger, metrics, events } = this.deps;
    return { runtime, record: this.record, log: events, config, logger, ...(metrics && { metrics }) };
  }
}
