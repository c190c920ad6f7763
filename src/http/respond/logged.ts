import type { Context } from 'hono';
import { stream, streamSSE } from 'hono/streaming';
import type { RunEventRow } from '../../db/rows.js';
import { followLog, type LogFollowing } from '../../runner/events/follow-log.js';
import { eventId } from '../event-id.js';

/**
 * A run's log as its readers get it (GET /v1/runs/{id}/events, and a keyed run's retry): read
 * from the store, then followed while the run goes on, to `done`.
 */

/** One logged event as JSON text: its data goes in as stored, never parsed and written again. */
export function loggedJson(runId: string, r: RunEventRow): string {
  const head = JSON.stringify({
    id: eventId(runId, r.seq),
    seq: r.seq,
    created_at: new Date(r.createdAt).toISOString(),
    event: r.type,
  });
  return `${head.slice(0, -1)},"data":${r.data}}`;
}

/** As SSE, each event with its id, from after `after`. */
export function followAsSse(c: Context, following: LogFollowing, runId: string, after: number): Response {
  return streamSSE(c, async (s) => {
    const left = new AbortController();
    s.onAbort(() => left.abort());
    for await (const r of followLog(following, runId, after, left.signal)) {
      if (s.aborted) break;
      await s.writeSSE({ id: eventId(runId, r.seq), event: r.type, data: r.data });
    }
  });
}

/** As NDJSON, one event a line (loggedJson), from after `after`. */
export function followAsNdjson(c: Context, following: LogFollowing, runId: string, after: number): Response {
  c.header('Content-Type', 'application/x-ndjson');
  return stream(c, async (s) => {
    const left = new AbortController();
    s.onAbort(() => left.abort());
    for await (const r of followLog(following, runId, after, left.signal)) {
      if (s.aborted) break;
      await s.write(`${loggedJson(runId, r)}\n`);
    }
  });
}
