import type { Context } from 'hono';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import type { MessageRow, RunRow } from '../../db/rows.js';
import type { RunHandle, RunResult } from '../../runner/run/run.js';
import { openAiType } from '../errors.js';
import { typedEvents } from '../respond/run-events.js';
import { replayedHeaders } from '../idempotency.js';
import { runEndError } from '../ended-run.js';
import { storedResult } from '../stored-result.js';
import type { z } from 'zod';
import type { ChatCompletion, ChatCompletionChunk } from './shapes.js';

/**
 * A run as an OpenAI chat completion. A run that succeeded ends with finish_reason `stop`,
 * one cut at MAX_OUTPUT_BYTES with `length`; any other end (timeout, a failed command or
 * CLI, out of memory, cancelled) is an error in OpenAI's shape, because a client of that
 * API cannot tell a failed run's output from an answer. The output stays in the session's
 * transcript either way. The reply's text is the content; stderr and tool events are not
 * sent (the transcript and /v1/runs/:id keep them). `ephemera` names the session to continue.
 */

const FINISH: Partial<Record<RunResult['status'], 'stop' | 'length'>> = { succeeded: 'stop', output_limit: 'length' };

const idOf = (runId: string) => `chatcmpl-${runId}`;
const created = () => Math.floor(Date.now() / 1000);

type Chunk = z.input<typeof ChatCompletionChunk>;
type Finish = 'stop' | 'length';

/** The fields every chunk of one completion repeats. */
const chunkHead = (runId: string, agent: string) => ({
  id: idOf(runId),
  object: 'chat.completion.chunk' as const,
  created: created(),
  model: agent,
});

/** One chunk: a piece of the reply (`delta`), or the finish. */
const chunkOf = (
  head: ReturnType<typeof chunkHead>,
  delta: Chunk['choices'][number]['delta'],
  finish: Finish | null = null,
): Chunk => ({
  ...head,
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
});

function usageOf(r: Ended) {
  return (
    r.usage && {
      prompt_tokens: r.usage.inputTokens,
      completion_tokens: r.usage.outputTokens,
      total_tokens: r.usage.totalTokens,
    }
  );
}

/** A run that did not end in an answer, in OpenAI's error shape, with the status /v1/run's text answer gives it too. */
function runError(r: Ended) {
  const { status, error, headers } = runEndError(r);
  const message = `${error.message}; its output is in session ${r.sessionId}'s transcript`;
  return { status, headers, body: { error: { code: error.code, message, type: openAiType(status), param: null } } };
}

const ephemera = (r: Ended) => ({ session_id: r.sessionId, run_id: r.runId, status: r.status, exit_code: r.exitCode });

/** The whole completion once the run has ended. */
export async function respondCompletion(c: Context, run: RunHandle): Promise<Response> {
  run.events.abandon(); // the output comes whole with the result
  return completion(c, await run.result);
}

/** A run's end as a whole completion (or an error in OpenAI's shape); `headers` added. */
function completion(c: Context, r: Ended, headers: Record<string, string> = {}): Response {
  const finish = FINISH[r.status];
  if (!finish) {
    const { status, body, headers: endHeaders } = runError(r);
    return c.json({ ...body, ephemera: ephemera(r) }, status as never, { ...headers, ...endHeaders });
  }
  const usage = usageOf(r);
  return c.json(
    {
      id: idOf(r.runId),
      object: 'chat.completion',
      created: created(),
      model: r.agent,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: r.output, refusal: null },
          logprobs: null,
          finish_reason: finish,
        },
      ],
      ...(usage && { usage }),
      ephemera: ephemera(r),
    } satisfies z.input<typeof ChatCompletion>,
    200,
    headers,
  );
}

/**
 * The outcome of a run that ended before, from the store: what a request retried with the
 * same Idempotency-Key gets. Whole, or streamed as one chunk (the reply as stored: a long
 * one's head and tail).
 */
export function respondStoredCompletion(
  c: Context,
  run: RunRow,
  reply: MessageRow | undefined,
  stream: boolean,
  includeUsage: boolean,
): Response {
  const r = storedResult(run, reply);
  const headers = replayedHeaders(run);
  if (!stream) return completion(c, r, headers);
  const base = chunkHead(r.runId, r.agent);
  const chunk = (delta: Chunk['choices'][number]['delta'], finish: Finish | null = null) =>
    chunkOf(base, delta, finish);
  const finish = FINISH[r.status];
  // As the live stream: a run that failed before any content is an error status, not a stream.
  if (!finish && r.output === '') return completion(c, r, headers);
  const usage = usageOf(r);
  const content = r.output === '' ? [] : [chunk({ content: r.output })];
  const events = finish
    ? [
        chunk({ role: 'assistant', content: '' }),
        ...content,
        chunk({}, finish),
        ...(includeUsage && usage ? [{ ...base, choices: [], usage } satisfies Chunk] : []),
      ]
    : [chunk({ role: 'assistant', content: '' }), ...content, { ...runError(r).body, ephemera: ephemera(r) }];
  const body = [...events.map((e) => JSON.stringify(e)), '[DONE]'].map((data) => `data: ${data}\n\n`).join('');
  return c.body(body, 200, { ...headers, 'Content-Type': 'text/event-stream' });
}

/** What a completion reads of a run's end: from a run just ended, or from the store. */
type Ended = Pick<RunResult, 'sessionId' | 'runId' | 'agent' | 'status' | 'exitCode' | 'error' | 'output' | 'usage'>;

/**
 * `chat.completion.chunk`s as the reply arrives, then `[DONE]`; an error chunk when the run
 * ends otherwise. As /v1/run's text answer, the status waits for the first content (or the
 * end): a run that fails before any is answered with its error status, as OpenAI's own API
 * answers a request that fails before its stream; the first chunks leave together.
 */
export async function streamCompletion(c: Context, run: RunHandle, includeUsage: boolean): Promise<Response> {
  const contents = replyTexts(run);
  const first = await contents.next();
  if (first.done) {
    const r = await run.result;
    if (!FINISH[r.status]) return completion(c, r);
  }
  return streamSSE(c, async (s) => {
    s.onAbort(() => run.cancel());
    const base = chunkHead(run.runId, run.agent);
    const chunk = (delta: Chunk['choices'][number]['delta'], finish: Finish | null = null) =>
      send(s, chunkOf(base, delta, finish));
    await chunk({ role: 'assistant', content: '' });
    if (!first.done) await chunk({ content: first.value });
    for await (const content of contents) {
      if (s.aborted) return;
      await chunk({ content });
    }
    const r = await run.result;
    const finish = FINISH[r.status];
    if (finish) {
      await chunk({}, finish);
      const usage = usageOf(r);
      if (includeUsage && usage) await send(s, { ...base, choices: [], usage } satisfies Chunk);
    } else {
      await send(s, { ...runError(r).body, ephemera: ephemera(r) });
    }
    await s.writeSSE({ data: '[DONE]' });
  });
}

/** The reply's text as the other streams decode it; stderr and tool events have no place here. */
async function* replyTexts(run: RunHandle): AsyncGenerator<string, void> {
  for await (const e of typedEvents(run)) {
    if (e.event === 'stdout') yield e.data.data;
    else if (e.event === 'delta') yield e.data.text;
  }
}

const send = (s: SSEStreamingApi, data: object) => s.writeSSE({ data: JSON.stringify(data) });
