import type { MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import { RUN_END_FIELD_NAMES } from '../ended-run.js';

/**
 * CORS for the origins the operator names (CORS_ORIGINS), and for no other: a page there
 * may send its key (`Authorization`) and read the answers, the run's ids included. Without
 * any, no CORS header is sent and a browser keeps every other site's page out.
 * A preflight is answered before authentication: it carries no key.
 */
export function corsFor(origins: readonly string[]): MiddlewareHandler | undefined {
  if (origins.length === 0) return undefined;
  return cors({
    origin: (origin) => (origins.includes(origin) ? origin : null),
    allowMethods: ['GET', 'POST', 'PUT', 'DELETE'],
    allowHeaders: ['Authorization', 'Content-Type', 'Accept', 'X-Session-Id', 'Idempotency-Key'],
    exposeHeaders: [
      'X-Session-Id',
      'X-Run-Id',
      'X-Request-Id',
      'Retry-After',
      'WWW-Authenticate',
      'Idempotent-Replayed',
      ...RUN_END_FIELD_NAMES,
    ],
    maxAge: 600,
  });
}
