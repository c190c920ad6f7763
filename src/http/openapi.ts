import { z, type OpenAPIHono } from '@hono/zod-openapi';
import { ERROR_CODES } from '../errors.js';
import { STATUS_OF } from './errors.js';
import { mountApiDocs } from './api-docs.js';
import { withOperations } from './operations.js';
import { ErrorSchema, RunRequestSchema } from './schemas.js';
import { AcceptedRunSchema, RunEndErrorSchema, RunEventSchema, RunResultSchema } from './run-shapes.js';
import { ChatRequestSchema } from './openai/chat-request.js';
import { ChatCompletion, OpenAiModel, OpenAiModelList } from './openai/shapes.js';

const runErrors = [
  'EMPTY_PROMPT',
  'INVALID_BODY',
  'INVALID_JSON',
  'INVALID_UTF8',
  'UNKNOWN_AGENT',
  'UNAUTHORIZED',
  'NOT_FOUND',
  'SESSION_BUSY',
  'RUN_IN_PROGRESS',
  'IDEMPOTENCY_KEY_REUSED',
  'AGENT_MISMATCH',
  'PAYLOAD_TOO_LARGE',
  'CAPACITY',
  'RUNTIME_ERROR',
  'RUNTIME_UNAVAILABLE',
  'IMAGE_NOT_FOUND',
  'SHUTTING_DOWN',
  'AGENT_UNAVAILABLE',
] as const;

const runEndResponses = {
  502: {
    description: `RUNTIME_ERROR (the engine refused the container); in text/plain, also a run that failed before printing anything (a non-zero exit, a crash, its model's error, out of memory): RunEndError`,
    content: { 'application/json': { schema: z.union([ErrorSchema, RunEndErrorSchema]) } },
  },
  504: {
    description: 'text/plain: the run timed out before printing anything (TIMEOUT)',
    content: { 'application/json': { schema: RunEndErrorSchema } },
  },
};

/** Error responses grouped by status, each naming its codes. */
function errorResponses(codes: readonly (typeof ERROR_CODES)[number][]) {
  const byStatus = new Map<number, string[]>();
  for (const code of codes) byStatus.set(STATUS_OF[code], [...(byStatus.get(STATUS_OF[code]) ?? []), code]);
  return Object.fromEntries(
    [...byStatus].map(([status, list]) => [
      status,
      { description: list.join(', '), content: { 'application/json': { schema: ErrorSchema } } },
    ]),
  );
}

/**
 * /openapi.json: the typed session routes describe themselves; the streaming run routes
 * are registered here with the same request schema that validates their JSON bodies.
 */
// biome-ignore lint/suspicious/noExplicitAny: mounted on the app whatever its bindings
export function mountOpenApi(app: OpenAPIHono<any>) {
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  const runRoute = (path: string, summary: string, params?: z.ZodObject) => ({
    method: 'post' as const,
    path,
    summary,
    security: [{ bearer: [] }],
    request: {
      ...(params && { params }),
      query: z.object({ agent: z.string().optional(), timeout_ms: z.string().optional() }),
      headers: z.object({
        'idempotency-key': z.string().optional().openapi({
          description:
            "Repeat it on retries: the turn is stored once; while the first run goes on (it is not cancelled when its client leaves) a retry gets 409 RUN_IN_PROGRESS, or with Accept: text/event-stream the run's events from the start as they come, or with Prefer: respond-async 202 again; then its outcome (Idempotent-Replayed: true)",
        }),
        prefer: z.string().optional().openapi({
          description:
            'respond-async: answer 202 Accepted once the container runs, and let the run go on with no client (Location: /v1/runs/{id}; follow it at /v1/runs/{id}/events)',
        }),
      }),
      body: {
        content: {
          'application/json': { schema: RunRequestSchema },
          'text/plain': {
            schema: z.string().openapi({ description: 'The prompt itself, byte for byte (curl -d works too)' }),
          },
          'multipart/form-data': {
            schema: z
              .object({ prompt: z.string(), agent: z.string().optional(), timeout_ms: z.string().optional() })
              .openapi({ description: 'curl -F prompt=... (or -F prompt=@file): the prompt field is the prompt' }),
          },
        },
      },
    },
    responses: {
      200: {
        description:
          'By Accept: text/plain streams the reply; text/event-stream streams typed events (run, stdout, stderr, delta, tool_use, tool_result, warning, error, done); application/json answers at the end. Headers X-Session-Id and X-Run-Id. ' +
          'text/plain sends its status line with the first byte of the reply: a run that ends before printing answers with its own status (502 failed, 504 timeout, 503 interrupted) and a JSON error; one that fails after printing ends with a line "ephemera: the run ended …", or, for a client that sent TE: trailers, with the trailers Ephemera-Status, Ephemera-Exit-Code, Ephemera-Error-Code.',
        content: {
          'text/plain': { schema: z.string() },
          'text/event-stream': { schema: RunEventSchema },
          'application/json': { schema: RunResultSchema },
        },
      },
      202: {
        description:
          'Prefer: respond-async: the run goes on detached. Location: /v1/runs/{id}; Preference-Applied: respond-async; X-Session-Id, X-Run-Id',
        content: { 'application/json': { schema: AcceptedRunSchema } },
      },
      ...errorResponses(runErrors),
      ...runEndResponses,
    },
  });
  app.openAPIRegistry.registerPath(runRoute('/v1/run', 'Run a prompt in a new session, in a fresh container'));
  app.openAPIRegistry.registerPath(
    runRoute(
      '/v1/sessions/{id}/messages',
      'Run the next turn of a session, replaying its history into a fresh container',
      z.object({ id: z.string() }),
    ),
  );
  registerOpenAiPaths(app);
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/v1/ws',
    summary:
      'A WebSocket conversation (Upgrade: websocket): client messages {type:"prompt",prompt,agent?,timeout_ms?} and {type:"cancel"}; server messages are the SSE events with a type field, and seq (the event’s place in the run’s log, for GET /v1/runs/{id}/events?after=seq). ?session_id= continues a session, ?agent= picks the agent. A browser passes its key as the subprotocol ephemera.bearer.<key>, offered with ephemera.',
    security: [{ bearer: [] }],
    request: { query: z.object({ session_id: z.string().optional(), agent: z.string().optional() }) },
    responses: {
      101: { description: 'switched to the WebSocket protocol' },
      ...errorResponses([
        'UNAUTHORIZED',
        'CROSS_SITE',
        'NOT_FOUND',
        'UNKNOWN_AGENT',
        'UPGRADE_REQUIRED',
        'AGENT_MISMATCH',
        'AGENT_UNAVAILABLE',
      ]),
    },
  });
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/readyz',
    summary: 'Ready: the engine and the database answer',
    responses: { 200: { description: 'ready' }, 503: { description: 'not ready' } },
  });
  const info = {
    openapi: '3.1.0',
    info: {
      title: 'Ephemera',
      version: '0.1.0',
      description: `Per-request containers for agent CLIs. Every error is {"error": {"code", "message"}}; the codes: ${ERROR_CODES.join(', ')}.`,
    },
  };
  app.get('/openapi.json', (c) => c.json(withOperations(app.getOpenAPI31Document(info))));
  mountApiDocs(app);
}

/** The OpenAI-compatible paths (src/http/openai): what the service reads of a request, and what it answers. */
// biome-ignore lint/suspicious/noExplicitAny: registered on the app whatever its bindings
function registerOpenAiPaths(app: OpenAPIHono<any>) {
  registerChatCompletionPath(app);
  registerModelPaths(app);
}

// biome-ignore lint/suspicious/noExplicitAny: registered on the app whatever its bindings
function registerChatCompletionPath(app: OpenAPIHono<any>) {
  app.openAPIRegistry.registerPath({
    method: 'post',
    path: '/v1/chat/completions',
    summary:
      "OpenAI-compatible chat completion: the model is an agent profile, the last (user) message the prompt. X-Session-Id continues a session (its transcript is the history); without it the earlier messages become a new session's history.",
    security: [{ bearer: [] }],
    request: {
      headers: z.object({
        'x-session-id': z.string().optional(),
        'idempotency-key': z.string().optional().openapi({
          description:
            'As on /v1/run: repeat it on retries; the completion runs once, and a retry gets its outcome (Idempotent-Replayed: true) or 409 RUN_IN_PROGRESS while it runs',
        }),
      }),
      body: { required: true, content: { 'application/json': { schema: ChatRequestSchema } } },
    },
    responses: {
      200: {
        description:
          'A chat.completion (or, with stream: true, text/event-stream of chat.completion.chunk then [DONE]); headers X-Session-Id and X-Run-Id.',
        content: {
          'application/json': { schema: ChatCompletion },
          'text/event-stream': { schema: z.string() },
        },
      },
      502: { description: 'the run ended failed or out of memory (OpenAI error shape)' },
      504: { description: 'the run timed out' },
      ...errorResponses([
        'INVALID_BODY',
        'INVALID_JSON',
        'EMPTY_PROMPT',
        'UNAUTHORIZED',
        'NOT_FOUND',
        'SESSION_BUSY',
        'RUN_IN_PROGRESS',
        'IDEMPOTENCY_KEY_REUSED',
        'AGENT_MISMATCH',
        'PAYLOAD_TOO_LARGE',
        'CAPACITY',
      ]),
      503: {
        description:
          'the run was interrupted, the engine is away, or the model is unavailable (AGENT_UNAVAILABLE: no key for it, say)',
      },
    },
  });
}

// biome-ignore lint/suspicious/noExplicitAny: registered on the app whatever its bindings
function registerModelPaths(app: OpenAPIHono<any>) {
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/v1/models',
    summary: 'OpenAI-compatible: every agent profile, as a model',
    security: [{ bearer: [] }],
    responses: {
      200: {
        description: 'the models',
        content: { 'application/json': { schema: OpenAiModelList } },
      },
    },
  });
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/v1/models/{id}',
    summary: 'OpenAI-compatible: one agent profile, as a model',
    security: [{ bearer: [] }],
    request: { params: z.object({ id: z.string() }) },
    responses: {
      200: { description: 'the model', content: { 'application/json': { schema: OpenAiModel } } },
      ...errorResponses(['NOT_FOUND']),
    },
  });
}
