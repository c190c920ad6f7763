import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { RunHandle } from '../../runner/run/run.js';
import { typedEvents } from './run-events.js';
import { eventId } from '../event-id.js';

/**
 * Server-sent events: the run's typed events (run-events.ts), each as `event: name`, `data: JSON`
 * and `id: <run id>:<its number in the run's log>`, which GET /v1/runs/{id}/events resumes after.
 */
export function respondSse(c: Context, run: RunHandle): Response {
  return streamSSE(c, async (s) => {
    s.onAbort(() => run.cancel());
    for await (const { event, data, seq } of typedEvents(run)) {
      if (s.aborted) break;
      await s.writeSSE({ event, data: JSON.stringify(data), id: eventId(run.runId, seq) });
    }
  });
}
