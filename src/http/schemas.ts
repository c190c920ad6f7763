import { z } from '@hono/zod-openapi';
import { ERROR_CODES } from '../errors.js';
import { RUN_STATUSES } from '../db/rows.js';
import { METRIC_NAMES, RUN_METRICS, type RunMetricName } from '../run-metrics.js';

/** The schemas that validate requests and describe responses, shared with /openapi.json. */

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.enum(ERROR_CODES).openapi({ description: 'Every code the API can answer with.' }),
      message: z.string(),
    }),
  })
  .openapi('Error');

export const RunRequestSchema = z
  .object({
    prompt: z.string().openapi({ description: 'The prompt, handed to the agent on stdin. Must not be blank.' }),
    agent: z.string().min(1).max(64).optional().openapi({ description: 'Agent profile; the session keeps its own.' }),
    timeout_ms: z.number().int().positive().max(2_147_483_647).optional().openapi({
      description: "Deadline in ms; at most the agent profile's max_timeout_ms (and MAX_TIMEOUT_MS), else 400.",
    }),
    files: z
      .record(z.string(), z.union([z.string(), z.object({ base64: z.string() }).strict()]))
      .optional()
      .openapi({
        description:
          'Files added to the session\'s workspace before this turn runs, by path (relative): text as UTF-8, or `{ "base64": ... }` for any bytes.',
        example: { 'src/app.py': 'print(42)\n' },
      }),
    webhook_url: z.string().max(2048).optional().openapi({
      description:
        "Called (POST, the run's JSON, signed in Ephemera-Signature) when the run ends; its origin must be in WEBHOOK_ALLOWED_ORIGINS, else 400 WEBHOOK_NOT_ALLOWED.",
    }),
  })
  .strict()
  .openapi('RunRequest');

const isoTime = z.string().openapi({ example: '2026-11-25T16:45:06.514Z' });

type MetricsShape = {
  [K in RunMetricName as (typeof RUN_METRICS)[K]['json']]: (typeof RUN_METRICS)[K]['null'] extends 'never'
    ? z.ZodNumber
    : z.ZodNullable<z.ZodNumber>;
};

function metricSchema(name: RunMetricName) {
  const declared: { null: string; description?: string } = RUN_METRICS[name];
  const schema = declared.null === 'never' ? z.number() : z.number().nullable();
  return declared.description === undefined ? schema : schema.openapi({ description: declared.description });
}

/** Every run metric (src/run-metrics.ts); a run's own answer reports part of them. */
export const MetricsSchema = z
  .object(Object.fromEntries(METRIC_NAMES.map((k) => [RUN_METRICS[k].json, metricSchema(k)])) as MetricsShape)
  .openapi('RunMetrics');

export const RunSchema = z
  .object({
    id: z.string(),
    session_id: z.string(),
    agent: z.string(),
    image: z.string(),
    key_id: z.string().nullable(),
    status: z.enum(RUN_STATUSES),
    exit_code: z.number().nullable(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
    stderr: z.string(),
    timeout_ms: z.number(),
    created_at: isoTime,
    ended_at: isoTime.nullable(),
    replay: z
      .object({ messages: z.number().int(), omitted_messages: z.number().int(), bytes: z.number().int() })
      .nullable()
      .openapi({
        description:
          'What the run replayed of its session: the newest messages that fit REPLAY_MAX_BYTES, how many older ones were left out, and their size. Null for runs that ended before it was built.',
      }),
    metrics: MetricsSchema,
  })
  .openapi('Run');

export const SessionSummarySchema = z
  .object({
    id: z.string(),
    owner: z.string().nullable().openapi({ description: 'Id of the API key that opened it.' }),
    agent: z.string(),
    created_at: isoTime,
    updated_at: isoTime,
    turns: z.number(),
    last_status: z.enum(RUN_STATUSES).nullable(),
    totals: z.object({ total_ms: z.number(), total_tokens: z.number() }),
  })
  .openapi('SessionSummary');

export const MessageSchema = z
  .object({
    id: z.number(),
    role: z.enum(['user', 'assistant']),
    content: z.string(),
    omitted_bytes: z.number().int().openapi({
      description:
        'Bytes of a long reply left out of `content`, which keeps its head and tail (MAX_STORED_OUTPUT_BYTES)',
    }),
    run_id: z.string(),
    created_at: isoTime,
    tool_calls: z
      .array(
        z.object({
          id: z.string(),
          name: z.string(),
          input: z.unknown(),
          status: z.string().nullable().openapi({ description: 'null: the run ended before the tool answered' }),
          result_bytes: z.number().int().nullable().openapi({ description: "the size of the tool's output" }),
        }),
      )
      .optional()
      .openapi({ description: "A reply's tool calls, in order, from its run's event log (GET /v1/runs/{id}/events)" }),
  })
  .openapi('Message');

export const WebhookSchema = z
  .object({
    url: z.string(),
    state: z.enum(['pending', 'delivered', 'failed']),
    attempts: z.number().int(),
    next_attempt_at: isoTime
      .nullable()
      .openapi({ description: 'when it is tried next (pending only; once the run has ended)' }),
    last_attempt_at: isoTime.nullable(),
    last_status: z.number().int().nullable().openapi({ description: "the last answer's HTTP status; null: none came" }),
    last_error: z.string().nullable(),
  })
  .openapi('Webhook');

export const SessionDetailSchema = SessionSummarySchema.extend({ messages: z.array(MessageSchema) }).openapi(
  'SessionDetail',
);

const timeParam = z
  .string()
  .optional()
  .openapi({ description: 'ISO 8601 time or epoch milliseconds' })
  .transform((v, ctx) => {
    if (v === undefined) return undefined;
    const ms = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
    // JavaScript's own range of dates: past it, Postgres's bigint would refuse the query (a 500).
    if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) {
      ctx.addIssue({ code: 'custom', message: `not a time: ${v}` });
      return z.NEVER;
    }
    return ms;
  });

export const SessionListQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
  agent: z.string().max(64).optional(),
  status: z.enum(RUN_STATUSES).optional().openapi({ description: 'Status of the last run' }),
  owner: z.string().max(64).optional().openapi({ description: 'API key id (admins only; users always see their own)' }),
  from: timeParam,
  to: timeParam,
  q: z.string().min(1).max(200).optional().openapi({
    description:
      'Full-text search in the messages, as one phrase (FTS5 syntax is plain text). A request reads at most 10,000 matching messages; a page that needs more gets 400 INVALID_QUERY: narrow the search.',
  }),
});

export const SessionListSchema = z
  .object({ items: z.array(SessionSummarySchema), next_cursor: z.string().nullable() })
  .openapi('SessionList');

export const StatsQuerySchema = z.object({ from: timeParam, to: timeParam });

const Percentiles = z.object({ n: z.number(), p50: z.number().nullable(), p95: z.number().nullable() });
export const StatsSchema = z
  .object({
    from: isoTime,
    to: isoTime,
    by_status: z.array(z.object({ status: z.string(), runs: z.number() })),
    by_agent: z.array(z.object({ agent: z.string(), runs: z.number() })),
    first_byte_ms: Percentiles,
    total_ms: Percentiles,
  })
  .openapi('Stats');

export const IdParamSchema = z.object({
  id: z
    .string()
    .max(100)
    .openapi({ param: { name: 'id', in: 'path' } }),
});
