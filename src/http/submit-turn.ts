import type { Context } from 'hono';
import { AppError } from '../errors.js';
import type { RunRequest, RunService, Submitted } from '../runner/run/run-service.js';
import { errorResponse } from './errors.js';
import { runInProgress } from './idempotency.js';
import type { AuthEnv } from './middleware/auth.js';
import type { RunRow } from '../db/rows.js';

export interface HttpTurnDeps {
  runs: RunService;
  /** Told of each request refused for capacity (a metric). */
  onRefused?: () => void;
}

export interface HttpTurnOptions {
  /** The run goes on without its client (Prefer: respond-async): its leaving cancels nothing. */
  detached?: boolean;
  /** The answer while the Idempotency-Key's earlier run goes on (default: 409 RUN_IN_PROGRESS). */
  whileRunning?: (c: Context, run: RunRow) => Response | Promise<Response>;
}

/** What a route renders: a run started for its request, or the earlier run of its Idempotency-Key, ended. */
export type HttpTurn = Extract<Submitted, { kind: 'started' } | { kind: 'ended' }>;

/**
 * Submits an HTTP request's turn (RunService.submit decides: a new run, a repeat's stored end,
 * a retry) and waits until its container runs: the run, with X-Session-Id and X-Run-Id set on
 * the response, or the stored end of the key's earlier run, or the response that refuses it
 * (429 with Retry-After on capacity; 409 while the key's earlier run goes on; an engine failure
 * with its own status, the ids included). The client leaving, before or after, cancels the run,
 * unless the request has an Idempotency-Key or is detached. The headers wait for the container, so an engine
 * failure can still get its own status.
 */
export async function submitHttpTurn(
  deps: HttpTurnDeps,
  c: Context<AuthEnv>,
  req: Omit<RunRequest, 'principal' | 'logger' | 'retryOf'>,
  opts: HttpTurnOptions = {},
): Promise<HttpTurn | Response> {
  const signal = c.req.raw.signal;
  let submitted: Submitted;
  try {
    const logger = c.get('logger');
    submitted = await deps.runs.submit({ ...req, principal: c.get('principal'), ...(logger && { logger }) }, signal);
  } catch (err) {
    return refusal(deps, c, err);
  }
  if (submitted.kind === 'running') return (opts.whileRunning ?? runInProgress)(c, submitted.run);
  if (submitted.kind === 'ended') return submitted;
  const handle = submitted.handle;
  const ids = { 'X-Session-Id': handle.sessionId, 'X-Run-Id': handle.runId };
  // A keyed run (Idempotency-Key) goes on when its client leaves: the client's retry comes back for its end.
  if (req.idempotencyKey !== undefined || opts.detached) handle.detach();
  // The client may leave before the response starts (while the container starts).
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
  return submitted;
}

/** A request refused before its run began; nothing was stored. */
function refusal(deps: HttpTurnDeps, c: Context<AuthEnv>, err: unknown): Response {
  // The client left while its request waited for a slot: nobody reads.
  if (c.req.raw.signal.aborted) return c.body(null, 499 as never);
  if (err instanceof AppError && err.code === 'CAPACITY') {
    deps.onRefused?.();
    return errorResponse(c, err.code, err.message, { 'Retry-After': String(deps.runs.admission.retryAfterSeconds) });
  }
  // A twin request with the same Idempotency-Key began its run a moment ago.
  if (err instanceof AppError && err.code === 'RUN_IN_PROGRESS')
    return errorResponse(c, err.code, err.message, { 'Retry-After': '1' });
  throw err;
}
