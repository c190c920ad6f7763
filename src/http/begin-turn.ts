import type { Context } from 'hono';
import { AppError } from '../errors.js';
import type { RunRequest, RunService } from '../runner/run/run-service.js';
import type { RunHandle } from '../runner/run/run.js';
import { errorResponse } from './errors.js';
import type { AuthEnv } from './middleware/auth.js';

export interface HttpTurnDeps {
  runs: RunService;
  /** Told of each request refused for capacity (a metric). */
  onRefused?: () => void;
}

/**
 * Begins a turn for an HTTP request and waits until its container runs: the run, with
 * X-Session-Id and X-Run-Id set on the response, or the response that refuses it (429 with
 * Retry-After on capacity; an engine failure with its own status, the ids included). The
 * client leaving, before or after, cancels the run, unless the request has an Idempotency-Key. The headers wait for the container, so
 * an engine failure can still get its own status.
 */
export async function beginHttpTurn(
  deps: HttpTurnDeps,
  c: Context<AuthEnv>,
  req: Omit<RunRequest, 'principal' | 'logger'>,
): Promise<RunHandle | Response> {
  // A keyed run (Idempotency-Key) goes on when its client leaves: the client's retry comes back for its outcome.
  const detached = req.idempotencyKey !== undefined;
  const signal = c.req.raw.signal;
  let handle: RunHandle;
  try {
    const logger = c.get('logger');
    handle = await deps.runs.begin({ ...req, principal: c.get('principal'), ...(logger && { logger }) }, signal);
  } catch (err) {
    // The client left while its request waited for a slot: nothing was stored, nobody reads.
    if (signal.aborted) return c.body(null, 499 as never);
    if (err instanceof AppError && err.code === 'CAPACITY') {
      deps.onRefused?.();
      return errorResponse(c, err.code, err.message, { 'Retry-After': String(deps.runs.admission.retryAfterSeconds) });
    }
    // A twin request with the same Idempotency-Key began its run a moment ago.
    if (err instanceof AppError && err.code === 'RUN_IN_PROGRESS')
      return errorResponse(c, err.code, err.message, { 'Retry-After': '1' });
    throw err;
  }
  const ids = { 'X-Session-Id': handle.sessionId, 'X-Run-Id': handle.runId };
  // The client may leave before the response starts (while the container starts).
  if (detached) handle = unreadWhenLeft(handle);
  else if (signal.aborted) handle.cancel();
  else signal.addEventListener('abort', () => handle.cancel(), { once: true });
  try {
    await handle.ready;
  } catch (err) {
    if (err instanceof AppError) return errorResponse(c, err.code, err.message, ids);
    throw err;
  }
  for (const [k, v] of Object.entries(ids)) c.header(k, v);
  c.header('Cache-Control', 'no-store');
  return handle;
}

/** The run as its responders see it, for a client whose leaving must not end it: "cancel" only stops reading. */
function unreadWhenLeft(run: RunHandle): RunHandle {
  return new Proxy(run, {
    get: (target, prop) => {
      if (prop === 'cancel') return () => target.events.abandon();
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
