import { Hono, type Context } from 'hono';
import type { AuthEnv } from '../middleware/auth.js';
import { bodyLimit } from 'hono/body-limit';
import type { RunService } from '../../runner/run/run-service.js';
import { submitHttpTurn } from '../submit-turn.js';
import type { ProfileSet } from '../../config/profiles.js';
import { callsModel } from '../../runner/agents/registry.js';
import { idempotencyKeyOf, runInProgress } from '../idempotency.js';
import type { RunRow } from '../../db/rows.js';
import type { LogFollowing } from '../../runner/events/follow-log.js';
import { prefersAsync, respondAccepted } from '../respond/accepted.js';
import { followAsSse } from '../respond/logged.js';
import { respondStored } from '../respond/stored.js';
import { errorResponse } from '../errors.js';
import { negotiateMode, type ResponseMode } from '../negotiate.js';
import { readRunInput } from '../read-run-input.js';
import { respondJson } from '../respond/json.js';
import { respondSse } from '../respond/sse.js';
import { respondText } from '../respond/text.js';

interface RunRouteDeps {
  runs: RunService;
  profiles: ProfileSet;
  maxBodyBytes: number;
  onRefused?: () => void;
  /** How a keyed run's retry follows the run's log while it goes on. */
  following: LogFollowing;
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

/** One turn: submitted (or refused), then answered in the mode the client accepts, once its container runs. */
async function runTurn(deps: RunRouteDeps, c: Context<AuthEnv>, sessionId: string | undefined) {
  const receivedAt = performance.now();
  const input = await readRunInput(c);
  const mode = negotiateMode(c.req.header('accept'));
  const idempotencyKey = idempotencyKeyOf(c);
  const detached = prefersAsync(c.req.header('prefer'));
  const turn = await submitHttpTurn(
    deps,
    c,
    {
      ...input,
      receivedAt,
      keepOutput: mode === 'json' && !detached, // only a JSON answer carries the whole output
      ...(sessionId !== undefined && { sessionId }),
      ...(idempotencyKey !== undefined && { idempotencyKey }),
    },
    { detached, whileRunning: (cx, run) => whileRunning(deps, cx, run, detached ? 'async' : mode) },
  );
  if (turn instanceof Response) return turn;
  if (turn.kind === 'ended')
    return respondStored(c, mode, turn.run, turn.reply, textEventOf(deps.profiles, turn.run.agent));
  const handle = turn.handle;
  if (detached) {
    handle.events.abandon(); // nobody reads the live stream: the log has it all
    return respondAccepted(c, { id: handle.runId, sessionId: handle.sessionId });
  }
  switch (mode) {
    case 'json':
      return respondJson(c, handle);
    case 'sse':
      return respondSse(c, handle);
    case 'text':
      return respondText(c, handle);
  }
}

/**
 * A retry of a keyed run that still goes on: a detached retry is accepted again for the same run,
 * an SSE one follows the run's log from its start, the others are told to come back (409).
 */
function whileRunning(deps: RunRouteDeps, c: Context, run: RunRow, mode: ResponseMode | 'async'): Response {
  if (mode === 'async') return respondAccepted(c, run);
  if (mode !== 'sse') return runInProgress(c, run);
  c.header('X-Session-Id', run.sessionId);
  c.header('X-Run-Id', run.id);
  return followAsSse(c, deps.following, run.id, 0);
}

/** How the agent's reply text goes in SSE: a command's stdout, a model's deltas. */
function textEventOf(profiles: ProfileSet, agent: string): 'stdout' | 'delta' {
  const kind = profiles.profiles.get(agent)?.kind;
  return kind !== undefined && callsModel(kind) ? 'delta' : 'stdout';
}
