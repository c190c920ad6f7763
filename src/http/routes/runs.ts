import { Hono, type Context } from 'hono';
import type { AuthEnv } from '../middleware/auth.js';
import { bodyLimit } from 'hono/body-limit';
import { AppError } from '../../errors.js';
import type { RunService } from '../../runner/run-service.js';
import { errorResponse } from '../errors.js';
import { negotiateMode } from '../negotiate.js';
import { readRunInput } from '../read-run-input.js';
import { respondJson } from '../respond/json.js';
import { respondSse } from '../respond/sse.js';
import { respondText } from '../respond/text.js';

interface RunRouteDeps {
  runs: RunService;
  maxBodyBytes: number;
  onRefused?: () => void;
}

/** POST /v1/run (a new session) and POST /v1/sessions/:id/messages (its next turn). */
export function runRoutes(deps: RunRouteDeps) {
  const limit = bodyLimit({
    maxSize: deps.maxBodyBytes,
    onError: (c) => errorResponse(c, 'PAYLOAD_TOO_LARGE', `the request body is over ${deps.maxBodyBytes} bytes`),
  });

  const onlyPost = (c: Context<AuthEnv>) =>
    errorResponse(c, 'METHOD_NOT_ALLOWED', `${c.req.method} is not allowed here; use POST`, { Allow: 'POST' });

  return new Hono<AuthEnv>()
    .post('/v1/run', limit, (c) => runTurn(deps, c, undefined))
    .post('/v1/sessions/:id/messages', limit, (c) => runTurn(deps, c, c.req.param('id')))
    .all('/v1/run', onlyPost)
    .all('/v1/sessions/:id/messages', onlyPost);
}

/** One turn: begun (or refused), then answered in the mode the client accepts, once its container runs. */
async function runTurn(deps: RunRouteDeps, c: Context<AuthEnv>, sessionId: string | undefined) {
  const receivedAt = performance.now();
  const input = await readRunInput(c);
  const signal = c.req.raw.signal;
  const mode = negotiateMode(c.req.header('accept'));
  let handle;
  try {
    const principal = c.get('principal');
    const logger = c.get('logger');
    handle = await deps.runs.begin(
      {
        ...input,
        principal,
        receivedAt,
        keepOutput: mode === 'json', // only a JSON answer carries the whole output
        ...(logger && { logger }),
        ...(sessionId === undefined ? {} : { sessionId }),
      },
      signal,
    );
  } catch (err) {
    // The client left while its request waited for a slot: nothing was stored, nobody reads.
    if (signal.aborted) return c.body(null, 499 as never);
    if (err instanceof AppError && err.code === 'CAPACITY') {
      deps.onRefused?.();
      return errorResponse(c, err.code, err.message, { 'Retry-After': String(deps.runs.admission.retryAfterSeconds) });
    }
    throw err;
  }
  const ids = { 'X-Session-Id': handle.sessionId, 'X-Run-Id': handle.runId };

  // The client may leave before the response starts (while the container starts).
  if (signal.aborted) handle.cancel();
  else signal.addEventListener('abort', () => handle.cancel(), { once: true });

  // Hold the headers until the container runs, so an engine failure still gets its own status.
  try {
    await handle.ready;
  } catch (err) {
    if (err instanceof AppError) return errorResponse(c, err.code, err.message, ids);
    throw err;
  }
  for (const [k, v] of Object.entries(ids)) c.header(k, v);
  c.header('Cache-Control', 'no-store');
  switch (mode) {
    case 'json':
      return respondJson(c, handle);
    case 'sse':
      return respondSse(c, handle);
    case 'text':
      return respondText(c, handle);
  }
}
