import type { Context } from 'hono';
import type { MessageRow, RunRow } from '../../db/rows.js';
import type { ResponseMode } from '../negotiate.js';
import { replayedHeaders } from '../idempotency.js';
import { storedResult } from '../stored-result.js';
import { doneData } from '../../runner/events/done-data.js';
import { storedText } from './text-ending.js';
import type { RunResultJson, TypedEvent } from '../run-shapes.js';

/**
 * The outcome of a run that already ended, from the store, in the mode the client accepts:
 * what a retried Idempotency-Key gets. The reply is as stored (a long one's head and tail,
 * MAX_STORED_OUTPUT_BYTES). Marked `Idempotent-Replayed: true`.
 */
export function respondStored(
  c: Context,
  mode: ResponseMode,
  run: RunRow,
  reply: MessageRow | undefined,
  textEvent: 'stdout' | 'delta',
): Response {
  const headers = replayedHeaders(run);
  const r = storedResult(run, reply);
  const output = r.output;
  const done = doneData(r, run);
  switch (mode) {
    case 'json':
      // As stored: a long reply's head and tail (output_omitted_bytes says how much is left out); tool calls are not
      // stored.
      return c.json(
        {
          session_id: r.sessionId,
          run_id: r.runId,
          agent: r.agent,
          output,
          output_omitted_bytes: r.outputOmittedBytes,
          stderr: run.stderr,
          tool_calls: [],
          ...done,
        } satisfies RunResultJson,
        200,
        headers,
      );
    case 'text':
      return storedText(c, r, output, headers);
    case 'sse': {
      const events: TypedEvent[] = [
        {
          event: 'run',
          data: { session_id: run.sessionId, run_id: run.id, agent: run.agent, timeout_ms: run.timeoutMs },
        },
      ];
      if (output)
        events.push(
          textEvent === 'delta'
            ? { event: 'delta', data: { text: output } }
            : { event: 'stdout', data: { data: output } },
        );
      if (run.stderr && textEvent === 'stdout') events.push({ event: 'stderr', data: { data: run.stderr } });
      if (r.error) events.push({ event: 'error', data: { error: r.error } });
      events.push({ event: 'done', data: done });
      const body = events.map(({ event, data }) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`).join('');
      return c.body(body, 200, { ...headers, 'Content-Type': 'text/event-stream' });
    }
  }
}
