import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { ProfileSet } from '../../config/profiles.js';
import { submitHttpTurn, type HttpTurnDeps } from '../submit-turn.js';
import { errorResponse } from '../errors.js';
import { idempotencyKeyOf } from '../idempotency.js';
import { parseJsonAs } from '../json-input.js';
import type { AuthEnv } from '../middleware/auth.js';
import { ChatRequestSchema, chatTurn } from './chat-request.js';
import { respondCompletion, respondStoredCompletion, streamCompletion } from './completion.js';
import type { z } from 'zod';
import type { OpenAiModel } from './shapes.js';

interface OpenAiRouteDeps extends HttpTurnDeps {
  profiles: ProfileSet;
  maxBodyBytes: number;
}

/**
 * The OpenAI-compatible API: each profile is a model; a chat completion is one turn.
 *
 * Which session a completion continues: the one named by the `X-Session-Id` header (every
 * reply carries it, and `ephemera.session_id` in the body). The session's own transcript is
 * then the history the agent sees, and the messages before the last are not read again:
 * the stored turns are what really ran, while clients trim and reformat what they send back.
 * Without the header, a new session starts, and the messages before the last become its
 * stored, replayed history. OpenAI's `user` field is left to what it means there (an end
 * user's id for abuse tracking), not overloaded with a session.
 *
 * `Idempotency-Key` works as on /v1/run (src/runner/run/previous-run.ts): a retried completion is
 * answered from the store, never run twice; its prompt is the last user message.
 */
export function openAiRoutes(deps: OpenAiRouteDeps) {
  const started = Math.floor(Date.now() / 1000);
  // `ephemera.available`: whether the model runs now; when not, `reason` says why (a missing key, say).
  const model = (id: string, unavailable: ReadonlyMap<string, string>) => {
    const reason = unavailable.get(id);
    return {
      id,
      object: 'model',
      created: started,
      owned_by: 'ephemera',
      ephemera: { available: reason === undefined, ...(reason !== undefined && { reason }) },
    } satisfies z.input<typeof OpenAiModel>;
  };
  const limit = bodyLimit({
    maxSize: deps.maxBodyBytes,
    onError: (c) => errorResponse(c, 'PAYLOAD_TOO_LARGE', `the request body is over ${deps.maxBodyBytes} bytes`),
  });
  return new Hono<AuthEnv>()
    .get('/v1/models', (c) => {
      const unavailable = deps.runs.unavailableAgents(); // once per listing, not once per model
      return c.json({ object: 'list', data: [...deps.profiles.profiles.keys()].map((id) => model(id, unavailable)) });
    })
    .get('/v1/models/:id', (c) =>
      deps.profiles.profiles.has(c.req.param('id'))
        ? c.json(model(c.req.param('id'), deps.runs.unavailableAgents()))
        : errorResponse(c, 'NOT_FOUND', `the model "${c.req.param('id')}" does not exist; GET /v1/models lists them`),
    )
    .post('/v1/chat/completions', limit, (c) => complete(deps, c));
}

async function complete(deps: OpenAiRouteDeps, c: Context<AuthEnv>) {
  const receivedAt = performance.now();
  const req = await readChatRequest(c);
  const turn = chatTurn(req);
  if (!deps.profiles.profiles.has(req.model)) {
    return errorResponse(c, 'NOT_FOUND', `the model "${req.model}" does not exist; GET /v1/models lists them`);
  }
  const sessionId = c.req.header('x-session-id');
  const stream = req.stream === true;
  const includeUsage = req.stream_options?.include_usage === true;
  const idempotencyKey = idempotencyKeyOf(c);
  const submitted = await submitHttpTurn(deps, c, {
    prompt: turn.prompt,
    agent: req.model,
    receivedAt,
    keepOutput: !stream,
    ...(sessionId === undefined ? { earlier: turn.earlier } : { sessionId }),
    ...(idempotencyKey !== undefined && { idempotencyKey }),
  });
  if (submitted instanceof Response) return submitted;
  if (submitted.kind === 'ended')
    return respondStoredCompletion(c, submitted.run, submitted.reply, stream, includeUsage);
  const handle = submitted.handle;
  return stream ? streamCompletion(c, handle, includeUsage) : respondCompletion(c, handle);
}

async function readChatRequest(c: Context) {
  return parseJsonAs(await c.req.text(), ChatRequestSchema);
}
