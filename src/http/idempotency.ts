import type { Context } from 'hono';
import type { RunRow } from '../db/rows.js';
import { AppError } from '../errors.js';
import { errorResponse } from './errors.js';

/**
 * The Idempotency-Key header, checked; undefined without one. What a repeat gets is the run
 * service's decision (src/runner/run/previous-run.ts); this file renders it.
 */
export function idempotencyKeyOf(c: Context): string | undefined {
  const key = c.req.header('idempotency-key');
  if (key === undefined) return undefined;
  if (!/^[\x21-\x7e]{1,255}$/.test(key))
    throw new AppError('INVALID_BODY', 'Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID, say)');
  return key;
}

/** The answer to a retry while its key's first run goes on: 409, with that run's ids and when to come back. */
export function runInProgress(c: Context, run: RunRow): Response {
  return errorResponse(
    c,
    'RUN_IN_PROGRESS',
    `run ${run.id} of this Idempotency-Key is still running; retry to get its outcome`,
    {
      'X-Session-Id': run.sessionId,
      'X-Run-Id': run.id,
      'Retry-After': '1',
    },
  );
}

/** The headers of an outcome answered from the store. */
export const replayedHeaders = (run: RunRow) => ({
  'X-Session-Id': run.sessionId,
  'X-Run-Id': run.id,
  'Idempotent-Replayed': 'true',
  'Cache-Control': 'no-store',
});
