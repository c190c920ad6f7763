import { z } from '@hono/zod-openapi';
import { MetricsSchema } from './schemas.js';
import type { TypedEvent } from '../runner/events/typed-event.js';

/**
 * A run's answers, declared once: the JSON result, the typed events of SSE and the WebSocket,
 * and the plain-text answer's error. The API description (openapi.ts) shows these; the code
 * that writes each answer (respond/json.ts, respond/stored.ts, respond/run-events.ts,
 * respond/text-ending.ts) is typed from them, so the two cannot drift.
 */

/** Tokens and tool calls, when the agent reports them (model agents); null otherwise. */
const UsageSchema = z
  .object({ input_tokens: z.number(), output_tokens: z.number(), total_tokens: z.number(), tool_calls: z.number() })
  .nullable();

export const RunResultSchema = z
  .object({
    session_id: z.string(),
    run_id: z.string(),
    agent: z.string(),
    status: z.string(),
    exit_code: z.number().nullable(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
    output: z.string(),
    output_omitted_bytes: z.number().int().optional().openapi({
      description:
        'Only in an answer replayed from the store (Idempotency-Key): bytes of a long reply left out of `output` (its head and tail are kept, MAX_STORED_OUTPUT_BYTES)',
    }),
    stderr: z.string(),
    tool_calls: z.array(
      z.object({
        id: z.string(),
        name: z.string(),
        parameters: z.unknown(),
        status: z.string().nullable(),
        output: z.string().nullable(),
      }),
    ),
    usage: UsageSchema,
    metrics: MetricsSchema.partial(),
  })
  .openapi('RunResult');

/**
 * One server-sent event of a run (`event:` is the name, `data:` the JSON); the WebSocket sends the same as {type: name,
 * ...data}.
 */
const sseEvent = <N extends string, D extends z.ZodType>(event: N, data: D, description: string) =>
  z.object({ event: z.literal(event), data }).openapi({ description });
export const RunEventSchema = z
  .union([
    sseEvent(
      'run',
      z.object({ session_id: z.string(), run_id: z.string(), agent: z.string(), timeout_ms: z.number() }),
      'first: the run and its session',
    ),
    sseEvent('stdout', z.object({ data: z.string() }), "a command agent's stdout, as it arrives"),
    sseEvent('stderr', z.object({ data: z.string() }), "a command agent's stderr, as it arrives"),
    sseEvent('delta', z.object({ text: z.string() }), "a model agent's text, as it streams"),
    sseEvent(
      'tool_use',
      z.object({ id: z.string(), name: z.string(), parameters: z.unknown() }),
      'a model agent called a tool',
    ),
    sseEvent(
      'tool_result',
      z.object({ id: z.string(), status: z.string().nullable(), output: z.string().nullable(), error: z.unknown() }),
      "the tool's answer",
    ),
    sseEvent('warning', z.object({ message: z.string() }), 'a non-fatal error the agent reported'),
    sseEvent(
      'error',
      z.object({ error: z.object({ code: z.string(), message: z.string() }) }),
      'the run ended in an error (just before done)',
    ),
    sseEvent(
      'done',
      z.object({
        status: z.string(),
        exit_code: z.number().nullable(),
        error: z.object({ code: z.string(), message: z.string() }).nullable(),
        usage: UsageSchema,
        metrics: MetricsSchema.partial(),
      }),
      'last: how the run ended',
    ),
    sseEvent(
      'cut',
      z.object({ message: z.string() }),
      "only in a run's log (GET /v1/runs/{id}/events): the log reached its bound here; what followed, up to error and done, was not kept",
    ),
  ])
  .openapi('RunEvent', {
    description:
      'The events of text/event-stream, in order: run, then the output as it comes, then error (if any), then done',
  });

/** The 202 answer of a detached run (Prefer: respond-async). */
export const AcceptedRunSchema = z
  .object({
    run_id: z.string(),
    session_id: z.string(),
    status: z.literal('running'),
    location: z.string(),
    events: z.string().openapi({ description: "the run's event log: GET it as SSE to follow the run" }),
  })
  .openapi('AcceptedRun');
export type AcceptedRunJson = z.input<typeof AcceptedRunSchema>;

/** The plain-text answer of a run that ended before printing anything, unless it succeeded. */
export const RunEndErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({
        description: "the run's own error code (TIMEOUT, MODEL_ERROR, ...), else its status's name (FAILED)",
      }),
      message: z.string(),
    }),
    session_id: z.string(),
    run_id: z.string(),
    status: z.string(),
    exit_code: z.number().nullable(),
    stderr: z.string(),
  })
  .openapi('RunEndError');

/** One typed event of a run, as written: `event` names it, `data` is its JSON object. */
export type { TypedEvent };
// The events a run emits (runner/events/typed-event.ts) are what this schema describes, each of them.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type SchemaEvent = z.input<typeof RunEventSchema>;
const eventsMatchTheirSchema: [TypedEvent] extends [SchemaEvent]
  ? Same<TypedEvent['event'], SchemaEvent['event']>
  : false = true;
void eventsMatchTheirSchema;
export type RunResultJson = z.input<typeof RunResultSchema>;
export type RunEndErrorJson = z.input<typeof RunEndErrorSchema>;
