import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { canSee } from '../../auth/principal.js';
import type { TranscriptStore } from '../../db/contract.js';
import type { LogFollowing } from '../../runner/events/follow-log.js';
import { followAsNdjson, followAsSse, loggedJson } from '../respond/logged.js';
import { errorResponse } from '../errors.js';
import { eventId, resumeAfter } from '../event-id.js';
import type { AuthEnv } from '../middleware/auth.js';
import { pickMedia } from '../negotiate.js';
import { RunEventSchema } from '../run-shapes.js';
import { ErrorSchema, IdParamSchema } from '../schemas.js';
import { validationHook } from '../validation-hook.js';

const fail = (...args: Parameters<typeof errorResponse>) => errorResponse(...args) as never;
const err = (description: string) => ({ content: { 'application/json': { schema: ErrorSchema } }, description });

const LoggedEventSchema = z
  .object({ id: z.string(), seq: z.number().int(), created_at: z.string() })
  .and(RunEventSchema)
  .openapi('LoggedRunEvent');

const EventPageSchema = z
  .object({
    items: z.array(LoggedEventSchema),
    next_after: z.string().nullable().openapi({ description: 'pass as `after` for the next page; null: none yet' }),
    run_status: z.string(),
  })
  .openapi('RunEventPage');

const runEvents = createRoute({
  method: 'get',
  path: '/v1/runs/{id}/events',
  summary: "A run's event log: SSE that follows a live run, or JSON pages",
  description: [
    'Every event the run emitted, in order, each with its id (`<run id>:<seq>`), as its own stream sent it.',
    '`text/event-stream` and `application/x-ndjson` send the log, then follow the run until `done`;',
    '`application/json` (the default) answers one page. `Last-Event-ID` (or `after`) resumes after that event.',
    'Followers on another replica see new events within about 250 ms (the log is polled; this process wakes its own).',
  ].join(' '),
  security: [{ bearer: [] }],
  request: {
    params: IdParamSchema,
    query: z.object({
      after: z.string().max(200).optional().openapi({ description: 'an event id, or a seq: start after it' }),
      limit: z.coerce.number().int().min(1).max(1000).default(500).openapi({ description: 'JSON: events per page' }),
    }),
  },
  responses: {
    200: {
      content: {
        'application/json': { schema: EventPageSchema },
        'text/event-stream': { schema: z.string() },
        'application/x-ndjson': { schema: z.string() },
      },
      description: 'The events',
    },
    400: err('INVALID_QUERY: a malformed event id, or one of another run'),
    401: err('UNAUTHORIZED'),
    404: err('NOT_FOUND (also for another owner’s run)'),
  },
});

const MEDIA = [
  ['text/event-stream', 'sse'],
  ['application/x-ndjson', 'ndjson'],
  ['application/json', 'json'],
] as const;

/** GET /v1/runs/{id}/events: a run's log, paged or followed. */
export function runEventRoutes(deps: { transcripts: TranscriptStore; following: LogFollowing }) {
  const { transcripts, following } = deps;
  const app = new OpenAPIHono<AuthEnv>({ defaultHook: validationHook });
  app.openapi(runEvents, async (c) => {
    const { id } = c.req.valid('param');
    const { after, limit } = c.req.valid('query');
    const run = await transcripts.getRun(id);
    const session = run && (await transcripts.getSession(run.sessionId));
    if (!run || !session || !canSee(c.get('principal'), session)) return fail(c, 'NOT_FOUND', `run ${id} not found`);
    // A reconnecting EventSource sends Last-Event-ID and the URL it first used: the header wins.
    const from = resumeAfter(c.req.header('last-event-id') ?? after, id);
    if (typeof from !== 'number') return fail(c, 'INVALID_QUERY', from.error);
    switch (pickMedia(c.req.header('accept'), MEDIA, 'json')) {
      case 'sse':
        return followAsSse(c, following, id, from) as never;
      case 'ndjson':
        return followAsNdjson(c, following, id, from) as never;
      case 'json': {
        const rows = await following.events.after(id, from, limit);
        const last = rows.length === limit ? rows.at(-1) : undefined;
        const tail = JSON.stringify({ next_after: last ? eventId(id, last.seq) : null, run_status: run.status });
        const body = `{"items":[${rows.map((r) => loggedJson(id, r)).join(',')}],${tail.slice(1)}`;
        return c.body(body, 200, { 'Content-Type': 'application/json' }) as never;
      }
    }
  });
  return app;
}
