import { createMiddleware } from 'hono/factory';
import { requestId } from 'hono/request-id';
import type { Logger } from 'pino';
import type { AuthEnv } from './auth.js';

/**
 * X-Request-Id on every response (a caller's own id is kept when it is sane), a child
 * logger carrying it for everything the request logs, and one line when the response
 * starts. A streamed run's durations are in its own `run ended` line, written when the
 * stream ends.
 */
export function requestLogging(logger: Logger) {
  const ids = requestId({ headerName: 'X-Request-Id', limitLength: 100 });
  const log = createMiddleware<AuthEnv>(async (c, next) => {
    const started = performance.now();
    const child = logger.child({ requestId: c.get('requestId') });
    c.set('logger', child);
    await next();
    child.info(
      { method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(performance.now() - started) },
      'request',
    );
  });
  return [ids, log] as const;
}
