import { Hono } from 'hono';
import type { Logger } from 'pino';
import type { ServiceConfig } from '../config/env.js';
import { MODEL_AGENTS } from '../runner/agents/registry.js';
import type { RunTokens } from './run-tokens.js';

/**
 * The model gateway's routes: each model agent's API (from its definition), each with its
 * upstream and real key, on one listener; every other path is refused.
 */
export function modelGateway(opts: {
  tokens: RunTokens;
  logger: Logger;
  config: Pick<ServiceConfig, 'modelGateway' | 'secrets'>;
}): Hono {
  const app = new Hono();
  for (const { kind, model } of MODEL_AGENTS) {
    const upstream = opts.config.modelGateway.upstreams[kind] ?? model.defaultUpstream;
    app.route(
      '/',
      model.gateway({
        kind,
        tokens: opts.tokens,
        upstream,
        apiKey: opts.config.secrets[model.keyEnv],
        logger: opts.logger,
      }),
    );
  }
  app.all('*', (c) =>
    c.json(
      {
        error: {
          code: 404,
          status: 'NOT_FOUND',
          message: "the model gateway forwards only its agents' model API calls",
        },
      },
      404,
    ),
  );
  return app;
}
