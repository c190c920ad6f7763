import { OpenAPIHono } from '@hono/zod-openapi';
import { HTTPException } from 'hono/http-exception';
import type { Logger } from 'pino';
import type { ServiceConfig } from './config/env.js';
import type { ProfileSet } from './config/profiles.js';
import type { Db } from './db/open.js';
import { ApiKeyStore } from './db/api-keys.js';
import { SessionQueries } from './db/session-queries.js';
import { InstanceStore } from './db/instances.js';
import { TranscriptStore } from './db/transcripts.js';
import { AppError } from './errors.js';
import { errorResponse } from './http/errors.js';
import { authenticate, type AuthEnv } from './http/middleware/auth.js';
import { mountOpenApi } from './http/openapi.js';
import { requestLogging } from './http/middleware/request-log.js';
import { healthRoutes } from './http/routes/health.js';
import { Metrics } from './observability/metrics.js';
import { sessionRoutes } from './http/routes/sessions.js';
import { runRoutes } from './http/routes/runs.js';
import { geminiGateway } from './gateway/gemini-gateway.js';
import { ModelGatewayServer } from './gateway/server.js';
import { RunTokens } from './gateway/run-tokens.js';
import { Admission, admissionLimits } from './runner/admission.js';
import { Reaper } from './runner/reaper.js';
import { RunService, type RunServiceConfig } from './runner/run-service.js';
import type { agentFor } from './runner/agents/index.js';
import type { ContainerRuntime } from './runner/runtime.js';

export type AppConfig = RunServiceConfig & Pick<ServiceConfig, 'host' | 'allowedHosts' | 'maxBodyBytes' | 'reapIntervalMs' | 'modelGateway'>;

export interface AppDeps {
  db: Db;
  runtime: ContainerRuntime;
  config: AppConfig;
  profiles: ProfileSet;
  logger: Logger;
  /** Which Agent runs a profile (default: the real ones); tests pass one that fails on purpose. */
  agents?: typeof agentFor;
}

/** An instance whose heartbeat is this old is gone; its runs and containers are orphans. */
const heartbeatStaleMs = (config: AppConfig) => Math.max(5 * config.reapIntervalMs, 10_000);

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}

/** Builds the HTTP app from the parts it is given; src/index.ts passes the real ones. */
export function createApp(deps: AppDeps) {
  const { config, logger } = deps;
  const store = new TranscriptStore(deps.db);
  const instances = new InstanceStore(deps.db);
  const keys = new ApiKeyStore(deps.db);
  const sessionQueries = new SessionQueries(deps.db);
  const admission = new Admission(admissionLimits(config));
  const metrics = new Metrics(admission);
  const tokens = new RunTokens();
  const gateway = new ModelGatewayServer(
    geminiGateway({ tokens, upstream: config.modelGateway.geminiUpstream, apiKey: config.secrets.geminiApiKey, logger }),
  );
  const registry = metrics.registry;
  const runs = new RunService({
    store,
    runtime: deps.runtime,
    profiles: deps.profiles,
    config,
    logger,
    admission,
    metrics,
    ...(deps.agents && { agents: deps.agents }),
    gateway: { tokens, url: () => gateway.url },
  });
  const reaper = new Reaper({
    runtime: deps.runtime,
    instanceId: config.instanceId,
    liveRunIds: () => runs.liveRunIds(),
    staleInstances: () => instances.staleInstances(Date.now(), heartbeatStaleMs(config)),
    logger,
  });

  const app = new OpenAPIHono<AuthEnv>();
  app.use('*', ...requestLogging(logger));
  app.use('/v1/*', authenticate({ keys, listenHost: config.host, allowedHosts: config.allowedHosts }));
  app.route('/', healthRoutes(deps));
  app.get('/metrics', async (c) => c.body(await registry.metrics(), 200, { 'Content-Type': registry.contentType }));
  app.route('/', runRoutes({ runs, maxBodyBytes: config.maxBodyBytes, onRefused: () => metrics.refused.inc() }));
  app.route('/', sessionRoutes({ queries: sessionQueries, transcripts: store }));
  mountOpenApi(app);

  app.notFound((c) => errorResponse(c, 'NOT_FOUND', `no route for ${c.req.method} ${c.req.path}`));
  app.onError((err, c) => {
    if (err instanceof AppError) return errorResponse(c, err.code, err.message);
    if (err instanceof HTTPException && err.status < 500) {
      return errorResponse(c, err.status === 413 ? 'PAYLOAD_TOO_LARGE' : 'INVALID_BODY', err.message || 'bad request');
    }
    (c.get('logger') ?? logger).error({ err, method: c.req.method, path: c.req.path }, 'unhandled error');
    return errorResponse(c, 'INTERNAL', 'internal error');
  });

  let heartbeat: NodeJS.Timeout | undefined;
  const beat = () => {
    try {
      instances.heartbeat(config.instanceId, process.pid, Date.now());
    } catch (err) {
      logger.error({ err }, 'heartbeat failed');
    }
  };

  return Object.assign(app, {
    store,
    keys,
    sessionQueries,
    runs,
    metrics,
    reaper,
    /** The model gateway's listener: agent containers reach their model only through it. */
    gateway,
    /** The tokens of the runs in progress that may call their model. */
    modelTokens: tokens,
    /**
     * Another live process on this host serving as this instance (same database, same
     * INSTANCE_ID), if any. Two would take each other's containers for orphans and mark
     * each other's runs interrupted, so the second must not start.
     */
    instanceTakenBy(isAlive: (pid: number) => boolean = processAlive): number | undefined {
      const last = instances.recentHeartbeat(config.instanceId, Date.now(), heartbeatStaleMs(config));
      return last && last.pid !== process.pid && isAlive(last.pid) ? last.pid : undefined;
    },
    /**
     * Recovery and background work for a serving process: runs a dead process left
     * `running` become `interrupted`, orphaned containers are reaped now and then
     * every reapIntervalMs, and a heartbeat tells other instances this one is alive.
     */
    startBackground() {
      beat();
      const interrupted = instances.interruptLeftoverRuns(config.instanceId, Date.now(), heartbeatStaleMs(config));
      if (interrupted > 0) logger.warn({ interrupted }, 'runs left running by a stopped process marked interrupted');
      heartbeat = setInterval(beat, config.reapIntervalMs);
      heartbeat.unref();
      reaper.start(config.reapIntervalMs);
    },
    /** Stops new runs, drains in-flight ones (killing what outlives the grace), stops background work. */
    async shutdown(graceMs: number) {
      await runs.drain(graceMs);
      await gateway.close();
      clearInterval(heartbeat);
      await reaper.stop();
    },
  });
}
