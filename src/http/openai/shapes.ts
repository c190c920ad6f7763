import { z } from '@hono/zod-openapi';

/**
 * What the OpenAI-compatible API answers, declared once: the API description
 * (src/http/openapi.ts) shows these, and the code that writes each answer (completion.ts,
 * route.ts) is checked against them at compile time (`satisfies`), so the two cannot drift.
 */

export const Usage = z.object({ prompt_tokens: z.number(), completion_tokens: z.number(), total_tokens: z.number() });

/** Which session and run a completion was: what a client needs to continue or look it up. */
export const EphemeraOfRun = z.object({
  session_id: z.string(),
  run_id: z.string(),
  status: z.string(),
  exit_code: z.number().nullable(),
});

export const ChatCompletion = z.object({
  id: z.string(),
  object: z.literal('chat.completion'),
  created: z.number(),
  model: z.string(),
  choices: z.array(
    z.object({
      index: z.number(),
      message: z.object({ role: z.literal('assistant'), content: z.string(), refusal: z.null() }),
      logprobs: z.null(),
      finish_reason: z.enum(['stop', 'length']),
    }),
  ),
  usage: Usage.optional(),
  ephemera: EphemeraOfRun,
});

/** One event of a streamed completion (`stream: true`), before the closing `[DONE]`. */
export const ChatCompletionChunk = z.object({
  id: z.string(),
  object: z.literal('chat.completion.chunk'),
  created: z.number(),
  model: z.string(),
  choices: z.array(
    z.object({
      index: z.number(),
      delta: z.object({ role: z.literal('assistant').optional(), content: z.string().optional() }),
      logprobs: z.null(),
      finish_reason: z.enum(['stop', 'length']).nullable(),
    }),
  ),
  usage: Usage.optional(),
});

export const OpenAiModel = z.object({
  id: z.string(),
  object: z.literal('model'),
  created: z.number(),
  owned_by: z.string(),
  ephemera: z.object({
    available: z.boolean(),
    reason: z.string().optional().openapi({ description: 'why it does not run now (no key for its model, say)' }),
  }),
});

export const OpenAiModelList = z.object({ object: z.literal('list'), data: z.array(OpenAiModel) });
