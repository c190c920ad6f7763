import { RunEventSignals } from './runner/events/event-signals.js';
import { WebhookDispatcher } from './webhooks/dispatcher.js';
import type { RunResult } from './runner/run/run.js';
import type { LogFollowing } from './runner/events/follow-log.js';
import { doneData } from './runner/events/done-data.js';
import { storedResult } from './http/stored-result.js';
import type { Logger } from 'pino';
import type { ServiceConfig } from './config/env.js';
import type { ProfileSet } from './config/profiles.js';
import type {
  ApiKeyStore,
  InstanceStore,
  SessionQueries,
  Store,
  TranscriptStore,
  WorkspaceStore,
} from './db/contract.js';
import { modelGateway } from './gateway/model-gateway.js';
import { RunTokens } from './gateway/run-tokens.js';
import { ModelGatewayServer } from './gateway/server.js';
import { Metrics } from './observability/metrics.js';
import { Admission, admissionLimits } from './runner/run/admission.js';
import type { agentFor } from './runner/agents/index.js';
import { Reaper } from './runner/reaper.js';
import { missingModelKeys } from './runner/run/missing-model-keys.js';
import { RunService, type RunServiceConfig } from './runner/run/run-service.js';
import type { ContainerRuntime } from './runner/runtime.js';
import { standbySpec } from './runner/run/container-spec.js';
import { hasStandby } from './runner/docker/standby/engine.js';
import { MAX_IDLE_MS, StandbyPool } from './runner/docker/standby/pool.js';

/** The settings the service and its HTTP app read. */
export type ServiceSettings = RunServiceConfig &
  Pick<
    ServiceConfig,
    | 'host'
    | 'allowedHosts'
    | 'corsOrigins'
    | 'websocket'
    | 'retentionDays'
    | 'maxBodyBytes'
    | 'reapIntervalMs'
    | 'modelGateway'
  >;

export interface ServiceDeps {
  /** Where everything is kept: SQLite or Postgres (src/db/open-store.ts). */
  database: Store;
  runtime: ContainerRuntime;
  config: ServiceSettings;
  profiles: ProfileSet;
  logger: Logger;
  /** Which Agent runs a profile (default: the real ones); tests pass one that fails on purpose. */
  agents?: typeof agentFor;
}

/** The pool of standby containers, when a profile asks for one and the runtime can keep them. */
function standbyPool(deps: ServiceDeps, metrics: Metrics): StandbyPool | undefined {
  const profiles = [...deps.profiles.profiles.values()];
  if (!profiles.some((p) => p.standby > 0) || !hasStandby(deps.runtime)) return undefined;
  const pool = new StandbyPool({
    runtime: deps.runtime,
    engine: deps.runtime.standby,
    profiles,
    baseSpec: (p, label) => standbySpec(p, label, deps.config.instanceId, Date.now(), MAX_IDLE_MS),
    logger: deps.logger,
    onRefill: (agent, ms) => metrics.standbyRefilled(agent, ms),
  });
  metrics.watchStandby(() => pool.stats());
  return pool;
}

/** RETENTION_DAYS: how often old sessions are looked for. */
const PRUNE_INTERVAL_MS = 60 * 60 * 1000;

/** An instance whose heartbeat is this old is gone; its runs and containers are orphans. */
// Three missed beats: a survivor, checking as it beats, ends a killed replica's runs within ~8 s
// at the default 2 s interval (docs/scaling.md promises it within 10).
const heartbeatStaleMs = (config: ServiceSettings) => Math.max(3 * config.reapIntervalMs, 6_000);

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}

/**
 * The service, wired from the parts it is given (src/index.ts passes the real ones, tests
 * their own): its stores, the run service with its admission and metrics, the model
 * gateway, the reaper; its start-up checks, background work and shutdown. The HTTP app
 * is built from it (src/app.ts).
 */
export class Service {
  readonly config: ServiceSettings;
  readonly logger: Logger;
  readonly database: Store;
  readonly runtime: ContainerRuntime;
  readonly profiles: ProfileSet;
  readonly transcripts: TranscriptStore;
  readonly workspaces: WorkspaceStore;
  readonly keys: ApiKeyStore;
  readonly sessionQueries: SessionQueries;
  readonly instances: InstanceStore;
  readonly metrics: Metrics;
  readonly runs: RunService;
  readonly reaper: Reaper;
  /** The model gateway's listener: agent containers reach their model only through it. */
  readonly gateway: ModelGatewayServer;
  /** The tokens of the runs in progress that may call their model. */
  readonly modelTokens: RunTokens;
  /** Wakes the readers of a run's log in this process when more of it is written. */
  readonly eventSignals = new RunEventSignals();
  /** Calls runs' webhooks when they end (undefined: WEBHOOK_ALLOWED_ORIGINS is not set). */
  readonly webhooks: WebhookDispatcher | undefined;
  /** Containers started ahead of their runs, for the profiles that ask (undefined: none does). */
  readonly standby: StandbyPool | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private beating = false;
  /** When this instance's beats began to go through (undefined: the last one failed). */
  private beatingSince: number | undefined;
  private pruner: NodeJS.Timeout | undefined;
  private pruning: Promise<void> | undefined;

  constructor(deps: ServiceDeps) {
    const { config, logger } = deps;
    ({
      config: this.config,
      logger: this.logger,
      database: this.database,
      runtime: this.runtime,
      profiles: this.profiles,
    } = deps);
    ({
      transcripts: this.transcripts,
      workspaces: this.workspaces,
      keys: this.keys,
      sessions: this.sessionQueries,
      instances: this.instances,
    } = deps.database);
    const admission = new Admission(admissionLimits(config));
    this.metrics = new Metrics(admission);
    const tokens = new RunTokens();
    const gateway = new ModelGatewayServer(modelGateway({ tokens, logger, config }));
    this.modelTokens = tokens;
    this.gateway = gateway;
    this.standby = standbyPool(deps, this.metrics);
    this.webhooks =
      config.webhooks.allowedOrigins.length === 0
        ? undefined
        : new WebhookDispatcher({
            webhooks: deps.database.webhooks,
            transcripts: this.transcripts,
            config: config.webhooks,
            logger,
          });
    this.runs = new RunService({
      store: this.transcripts,
      workspaces: this.workspaces,
      events: { store: deps.database.events, signals: this.eventSignals },
      runtime: this.standby ?? deps.runtime,
      profiles: deps.profiles,
      config,
      logger,
      admission,
      metrics: { runEnded: (r) => this.runEnded(r) },
      ...(this.webhooks && { webhooks: deps.database.webhooks }),
      ...(deps.agents && { agents: deps.agents }),
      gateway: { tokens, url: () => gateway.url },
    });
    // A model agent without its key could only fail at its first call: refused before any container.
    for (const [agent, why] of missingModelKeys(deps.profiles, config)) {
      this.disableAgent(agent, why);
      logger.warn({ agent, why }, 'agent unavailable');
    }
    this.reaper = new Reaper({
      runtime: deps.runtime,
      instanceId: config.instanceId,
      liveRunIds: () => new Set([...this.runs.liveRunIds(), ...(this.standby?.liveLabels() ?? [])]),
      staleInstances: () => this.staleInstances(),
      logger,
    });
  }

  /** How a reader follows a run's log: the store, this process's wake-ups, and the run's row for its end. */
  logFollowing(): LogFollowing {
    const { transcripts } = this;
    return {
      events: this.database.events,
      signals: this.eventSignals,
      endOf: async (runId) => {
        const run = await transcripts.getRun(runId);
        if (!run) return { done: undefined };
        if (run.status !== 'running') return { done: doneData(storedResult(run, undefined), run) };
        // A row left `running` by a fault it never recovered from: stop following, a minute past its deadline.
        return Date.now() > run.createdAt + run.timeoutMs + 60_000 ? { done: undefined } : undefined;
      },
    };
  }

  /**
   * Another live process on this host serving as this instance (same database, same
   * INSTANCE_ID), if any. Two would take each other's containers for orphans and mark
   * each other's runs interrupted, so the second must not start.
   */
  async instanceTakenBy(isAlive: (pid: number) => boolean = processAlive): Promise<number | undefined> {
    const last = await this.instances.recentHeartbeat(
      this.config.instanceId,
      await this.database.now(),
      heartbeatStaleMs(this.config),
    );
    return last && last.pid !== process.pid && isAlive(last.pid) ? last.pid : undefined;
  }

  /**
   * Recovery and background work for a serving process: runs a dead process left
   * `running` become `interrupted`, orphaned containers are reaped now and then
   * every reapIntervalMs, and a heartbeat tells other instances this one is alive.
   */
  async startBackground(): Promise<void> {
    const { config, logger } = this;
    await this.beat();
    const interrupted = await this.instances.interruptLeftoverRuns(
      config.instanceId,
      await this.database.now(),
      heartbeatStaleMs(config),
    );
    if (interrupted > 0) logger.warn({ interrupted }, 'runs left running by a stopped process marked interrupted');
    this.heartbeat = setInterval(() => void this.beat(), config.reapIntervalMs);
    this.heartbeat.unref();
    this.reaper.start(config.reapIntervalMs);
    this.standby?.start();
    this.webhooks?.start();
    if (config.retentionDays !== undefined) {
      this.prune();
      this.pruner = setInterval(() => this.prune(), PRUNE_INTERVAL_MS);
      this.pruner.unref();
    }
  }

  /** A run's end is stored: counted, and its webhook (if any) called. */
  private runEnded(r: RunResult): void {
    this.metrics.runEnded(r);
    this.webhooks?.nudge();
  }

  /** RETENTION_DAYS: old sessions go, with everything they own (src/db/shared/retention.ts). */
  private prune(): void {
    if (this.pruning) return; // the last one is still going
    this.pruning = this.database
      .prune(this.config.retentionDays!)
      .then(
        (pruned) =>
          void (
            pruned > 0 && this.logger.info({ pruned, retentionDays: this.config.retentionDays }, 'old sessions pruned')
          ),
        (err: unknown) => this.logger.error({ err }, 'pruning old sessions failed'),
      )
      .finally(() => (this.pruning = undefined));
  }

  /** Refuses runs of an agent from now on (503 AGENT_UNAVAILABLE, saying why), and keeps no standby for it. */
  disableAgent(name: string, why: string): void {
    this.runs.disableAgent(name, why);
    this.standby?.disable(name);
  }

  /** Stops new runs, drains in-flight ones (killing what outlives the grace), stops background work. */
  async shutdown(graceMs: number): Promise<void> {
    await this.runs.drain(graceMs);
    await this.standby?.close();
    await this.gateway.close();
    clearInterval(this.heartbeat);
    clearInterval(this.pruner);
    await this.pruning;
    await this.webhooks?.stop();
    await this.reaper.stop();
  }

  private async beat(): Promise<void> {
    if (this.beating) return; // the last one still waits on the database
    this.beating = true;
    try {
      const now = await this.database.now();
      await this.instances.heartbeat(this.config.instanceId, process.pid, now);
      this.beatingSince ??= now;
      // Another instance that stopped beating (a replica killed) left runs that will never end.
      if (this.judgesOthers(now)) {
        const orphaned = await this.instances.interruptLeftoverRuns(
          this.config.instanceId,
          now,
          heartbeatStaleMs(this.config),
          { ownToo: false },
        );
        if (orphaned > 0)
          this.logger.warn({ interrupted: orphaned }, 'runs of an instance that stopped beating marked interrupted');
      }
    } catch (err) {
      this.beatingSince = undefined;
      this.logger.error({ err }, 'heartbeat failed');
    } finally {
      this.beating = false;
    }
  }

  /**
   * Whether this instance may call another gone: only once its own beats have gone through for
   * a whole stale period. After the database was out of reach (a failover), every instance's
   * last beat looks old, and the first to beat again must not take the others for dead.
   */
  private judgesOthers(now: number): boolean {
    return this.beatingSince !== undefined && now - this.beatingSince >= heartbeatStaleMs(this.config);
  }

  /** The instances gone by their heartbeats, whose containers the reaper removes (none while this one cannot judge). */
  private async staleInstances(): Promise<Set<string>> {
    const now = await this.database.now();
    return this.judgesOthers(now) ? this.instances.staleInstances(now, heartbeatStaleMs(this.config)) : new Set();
  }
}
