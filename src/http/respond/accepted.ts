import type { Context } from 'hono';
import type { AcceptedRunJson } from '../run-shapes.js';

/** Whether the request asks to be answered before its run ends (RFC 7240 `Prefer: respond-async`). */
export function prefersAsync(prefer: string | undefined): boolean {
  return (prefer ?? '').split(',').some((p) => p.split(';')[0]!.trim().toLowerCase() === 'respond-async');
}

/**
 * 202 Accepted for a run that goes on with no client attached: where to find it (Location: the
 * run; `events`: its log, which can be followed) and its ids.
 */
export function respondAccepted(c: Context, run: { id: string; sessionId: string }): Response {
  const location = `/v1/runs/${run.id}`;
  return c.json(
    {
      run_id: run.id,
      session_id: run.sessionId,
      status: 'running',
      location,
      events: `${location}/events`,
    } satisfies AcceptedRunJson,
    202,
    {
      Location: location,
      'Preference-Applied': 'respond-async',
      'X-Session-Id': run.sessionId,
      'X-Run-Id': run.id,
      'Cache-Control': 'no-store',
    },
  );
}
