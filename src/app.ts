import { OpenAPIHono } from '@hono/zod-openapi';
import { HTTPException } from 'hono/http-exception';
import { AppError } from './errors.js';
import { errorResponse } from './http/errors.js';
import { authenticate, type AuthEnv } from './http/middleware/auth.js';
import { corsFor } from './http/middleware/cors.js';
import { requestLogging } from './http/middleware/request-log.js';
import { mountOpenApi } from './http/openapi.js';
import { healthRoutes } from './http/routes/health.js';
import { runRoutes } from './http/routes/runs.js';
import { runEventRoutes } from './http/routes/run-events.js';
import { sessionRoutes } from './http/routes/sessions.js';
import { workspaceRoutes } from './http/routes/workspace.js';
import { wsRoutes } from './http/ws/route.js';
import { openAiRoutes } from './http/openai/route.js';
import type { Service } from './service.js';

/** The HTTP app: the service's routes, behind logging and authentication. */
export function createApp(service: Service) {
  const { config, logger, runs, metrics } = service;
  const app = new OpenAPIHono<AuthEnv>();
  app.use('*', ...requestLogging(logger));
  const cors = corsFor(config.corsOrigins);
  if (cors) app.use('/v1/*', cors);
  app.use('/v1/*', authenticate({ keys: service.keys, listenHost: config.host, allowedHosts: config.allowedHosts }));
  app.route('/', healthRoutes(service));
  app.get('/metrics', async (c) =>
    c.body(await metrics.registry.metrics(), 200, { 'Content-Type': metrics.registry.contentType }),
  );
  app.route(
    '/',
    runRoutes({
      runs,
      profiles: service.profiles,
      maxBodyBytes: config.maxBodyBytes,
      onRefused: () => metrics.refused.inc(),
      following: service.logFollowing(),
    }),
  );
  app.route(
    '/',
    sessionRoutes({
      queries: service.sessionQueries,
      transcripts: service.transcripts,
      events: service.database.events,
      webhooks: service.database.webhooks,
    }),
  );
  app.route('/', runEventRoutes({ transcripts: service.transcripts, following: service.logFollowing() }));
  app.route(
    '/',
    openAiRoutes({
      runs,
      profiles: service.profiles,
      maxBodyBytes: config.maxBodyBytes,
      onRefused: () => metrics.refused.inc(),
    }),
  );
  app.route(
    '/',
    wsRoutes({
      runs,
      transcripts: service.transcripts,
      keys: service.keys,
      profiles: service.profiles,
      corsOrigins: config.corsOrigins,
      ...config.websocket,
    }),
  );
  app.route(
    '/',
    workspaceRoutes({
      transcripts: service.transcripts,
      workspaces: service.workspaces,
      profiles: service.profiles,
      bounds: config.workspace,
    }),
  );
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
  return app;
}
