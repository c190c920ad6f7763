import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { canSee } from '../../auth/principal.js';
import type { Principal } from '../../auth/principal.js';
import { decodeCursor } from '../../db/shared/cursor.js';
import type { SessionFilter } from '../../db/contract.js';
import type { SessionQueries } from '../../db/contract.js';
import type { RunEventStore, TranscriptStore, WebhookStore } from '../../db/contract.js';
import { errorResponse } from '../errors.js';

// A typed route's handler must return its declared responses; our errors are declared per route.
const fail = (...args: Parameters<typeof errorResponse>) => errorResponse(...args) as never;
import { adminOnly, type AuthEnv } from '../middleware/auth.js';
import {
  ErrorSchema,
  IdParamSchema,
  RunSchema,
  SessionDetailSchema,
  SessionListQuerySchema,
  SessionListSchema,
  StatsQuerySchema,
  StatsSchema,
  WebhookSchema,
} from '../schemas.js';
import { messageJson, runJson, sessionJson, toolCallJson, webhookJson } from '../to-json.js';
import { TOOL_EVENT_TYPES, toolCallsByRun } from '../../runner/events/tool-calls.js';
import { validationHook } from '../validation-hook.js';

const err = (description: string) => ({ content: { 'application/json': { schema: ErrorSchema } }, description });
const json = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { 'application/json': { schema } },
  description,
});
const security = [{ bearer: [] }];

const listSessions = createRoute({
  method: 'get',
  path: '/v1/sessions',
  summary: 'List sessions, newest first, with cursor pagination and filters',
  security,
  request: { query: SessionListQuerySchema },
  responses: {
    200: json(SessionListSchema, 'A page of sessions'),
    400: err('INVALID_QUERY'),
    401: err('UNAUTHORIZED'),
  },
});

const getSession = createRoute({
  method: 'get',
  path: '/v1/sessions/{id}',
  summary: 'A session with its whole transcript, in order',
  security,
  request: { params: IdParamSchema },
  responses: {
    200: json(SessionDetailSchema, 'The session'),
    401: err('UNAUTHORIZED'),
    404: err('NOT_FOUND (also for another owner’s session)'),
  },
});

const sessionRuns = createRoute({
  method: 'get',
  path: '/v1/sessions/{id}/runs',
  summary: 'The runs of a session, oldest first, with all their metrics',
  security,
  request: { params: IdParamSchema },
  responses: {
    200: json(z.object({ items: z.array(RunSchema) }), 'The runs'),
    401: err('UNAUTHORIZED'),
    404: err('NOT_FOUND'),
  },
});

const deleteSession = createRoute({
  method: 'delete',
  path: '/v1/sessions/{id}',
  summary: 'Delete a session, its messages and its runs (admin keys)',
  security,
  middleware: [adminOnly] as const,
  request: { params: IdParamSchema },
  responses: {
    204: { description: 'Deleted' },
    401: err('UNAUTHORIZED'),
    403: err('FORBIDDEN'),
    404: err('NOT_FOUND'),
    409: err('SESSION_BUSY'),
  },
});

const getRun = createRoute({
  method: 'get',
  path: '/v1/runs/{id}',
  summary: 'One run with all its metrics',
  security,
  request: { params: IdParamSchema },
  responses: {
    200: json(RunSchema.extend({ webhook: WebhookSchema.optional() }), 'The run, with its webhook if it named one'),
    401: err('UNAUTHORIZED'),
    404: err('NOT_FOUND'),
  },
});

const stats = createRoute({
  method: 'get',
  path: '/v1/stats',
  summary: 'Runs by status and agent, p50/p95 of first-byte and total time (admin keys)',
  security,
  middleware: [adminOnly] as const,
  request: { query: StatsQuerySchema },
  description:
    'Counts are exact. Percentiles are exact for a window holding no whole hour; otherwise whole days, quarter days and hours come from their histograms with 4%-wide buckets (within 2%, ±1 ms).',
  responses: {
    200: json(StatsSchema, 'Stats over [from, to); default the last 24 hours'),
    400: err('INVALID_QUERY'),
    401: err('UNAUTHORIZED'),
    403: err('FORBIDDEN'),
  },
});

/**
 * Sessions (list and search, transcript, runs, deletion), one run, and stats; users see only what their own key
 * created.
 */
export function sessionRoutes(deps: {
  queries: SessionQueries;
  transcripts: TranscriptStore;
  events: RunEventStore;
  webhooks: WebhookStore;
}) {
  const { queries, transcripts, events, webhooks } = deps;
  const app = new OpenAPIHono<AuthEnv>({ defaultHook: validationHook });

  const visibleSession = async (principal: AuthEnv['Variables']['principal'], id: string) => {
    const s = await transcripts.getSession(id);
    return s && canSee(principal, s) ? s : undefined;
  };

  app.openapi(listSessions, async (c) => {
    const q = c.req.valid('query');
    const principal = c.get('principal');
    const cursor = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
    if (q.cursor !== undefined && !cursor) return fail(c, 'INVALID_QUERY', 'cursor: not a cursor this API gave out');
    if (q.owner !== undefined && principal.role !== 'admin')
      return fail(c, 'INVALID_QUERY', 'owner: only admin keys filter by owner');
    const page = await queries.listSessions(sessionFilter(q, principal), q.limit, cursor);
    return c.json({ items: page.items.map(sessionJson), next_cursor: page.nextCursor }, 200);
  });

  app.openapi(getSession, async (c) => {
    const { id } = c.req.valid('param');
    const s = await visibleSession(c.get('principal'), id);
    if (!s) return fail(c, 'NOT_FOUND', `session ${id} not found`);
    const messages = await transcripts.messagesOf(id);
    const replies = messages.filter((m) => m.role === 'assistant').map((m) => m.runId);
    const tools = toolCallsByRun(await events.ofRuns(replies, TOOL_EVENT_TYPES));
    const json = messages.map((m) => {
      const calls = m.role === 'assistant' ? tools.get(m.runId) : undefined;
      return { ...messageJson(m), ...(calls && { tool_calls: calls.map(toolCallJson) }) };
    });
    return c.json({ ...sessionJson(s), messages: json }, 200);
  });

  app.openapi(sessionRuns, async (c) => {
    const { id } = c.req.valid('param');
    if (!(await visibleSession(c.get('principal'), id))) return fail(c, 'NOT_FOUND', `session ${id} not found`);
    return c.json({ items: (await queries.runsOf(id)).map(runJson) }, 200);
  });

  app.openapi(deleteSession, async (c) => {
    const { id } = c.req.valid('param');
    const deleted = await queries.deleteSession(id);
    if (deleted === 'gone') return fail(c, 'NOT_FOUND', `session ${id} not found`);
    if (deleted === 'busy') return fail(c, 'SESSION_BUSY', `session ${id} has a run in progress`);
    return c.body(null, 204);
  });

  app.openapi(getRun, async (c) => {
    const { id } = c.req.valid('param');
    const run = await transcripts.getRun(id);
    if (!run || !(await visibleSession(c.get('principal'), run.sessionId)))
      return fail(c, 'NOT_FOUND', `run ${id} not found`);
    const webhook = await webhooks.get(id);
    return c.json({ ...runJson(run), ...(webhook && { webhook: webhookJson(webhook) }) }, 200);
  });

  app.openapi(stats, async (c) => {
    const q = c.req.valid('query');
    const to = q.to ?? Date.now();
    const from = q.from ?? to - 24 * 3600_000;
    if (from >= to) return fail(c, 'INVALID_QUERY', 'from must be before to');
    return c.json(statsJson(await queries.stats(from, to), from, to), 200);
  });

  return app;
}

/** What a listing asks for; a user's listing is always of their own sessions. */
function sessionFilter(q: z.output<typeof SessionListQuerySchema>, principal: Principal): SessionFilter {
  const ownerKeyId = principal.role === 'admin' ? q.owner : (principal.keyId ?? undefined);
  return {
    ...(q.agent !== undefined && { agent: q.agent }),
    ...(q.status !== undefined && { status: q.status }),
    ...(ownerKeyId !== undefined && { ownerKeyId }),
    ...(q.from !== undefined && { from: q.from }),
    ...(q.to !== undefined && { to: q.to }),
    ...(q.q !== undefined && { q: q.q }),
  };
}

function statsJson(s: Awaited<ReturnType<SessionQueries['stats']>>, from: number, to: number) {
  const pct = (p: { n: number | null; p50: number | null; p95: number | null }) => ({
    n: p.n ?? 0,
    p50: p.p50,
    p95: p.p95,
  });
  return {
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    by_status: s.byStatus,
    by_agent: s.byAgent,
    first_byte_ms: pct(s.firstByteMs),
    total_ms: pct(s.totalMs),
  };
}
