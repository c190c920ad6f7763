import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { Logger } from 'pino';
import type { ServiceConfig } from './config/env.js';
import type { ProfileSet } from './config/profiles.js';
import type { Db } from './db/open.js';
import { TranscriptStore } from './db/transcripts.js';
import { AppError } from './errors.js';
import { errorResponse } from './http/errors.js';
import { healthRoutes } from './http/routes/health.js';
import { runRoutes } from './http/routes/runs.js';
import { RunService } from './runner/run-service.js';
import type { ContainerRuntime } from './runner/runtime.js';

export interface AppDeps {
  db: Db;
  runtime: ContainerRuntime;
  config: Pick<ServiceConfig, 'maxBodyBytes' | 'maxTimeoutMs' | 'instanceId' | 'secrets'>;
  profiles: ProfileSet;
  logger: Logger;
}

/** Builds the HTTP app from the parts it is given; src/index.ts passes the real ones. */
export function createApp(deps: AppDeps) {
  const store = new TranscriptStore(deps.db);
  const runs = new RunService({ store, runtime: deps.runtime, profiles: deps.profiles, config: deps.config, logger: deps.logger });

  const app = new Hono()
    .route('/', healthRoutes(deps))
    .route('/', runRoutes({ runs, maxBodyBytes: deps.config.maxBodyBytes }));

  app.notFound((c) => errorResponse(c, 'NOT_FOUND', `no route for ${c.req.method} ${c.req.path}`));
  app.onError((err, c) => {
    if (err instanceof AppError) return errorResponse(c, err.code, err.message);
    if (err instanceof HTTPException && err.status < 500) {
      return errorResponse(c, err.status === 413 ? 'PAYLOAD_TOO_LARGE' : 'INVALID_BODY', err.message || 'bad request');
    }
    deps.logger.error({ err, method: c.req.method, path: c.req.path }, 'unhandled error');
    return errorResponse(c, 'INTERNAL', 'internal error');
  });
  return Object.assign(app, { store, runs });
}
