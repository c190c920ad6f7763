import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { runEndError, runEndFields, succeeded, type EndedRun } from '../ended-run.js';
import { readsTrailers } from './trailers.js';
import type { RunEndErrorJson } from '../run-shapes.js';

export const TEXT_HEADERS = { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' };

/** A run's end as the plain-text answer tells it, with what a failed run printed on stderr. */
type TextEnd = EndedRun & { stderr: string };

/**
 * A plain-text answer to a run that ended before printing any reply: a success is an empty
 * 200; anything else its real status (502, 504, ...) and the JSON error, the run's ids and
 * its stderr. Either way its end is in the Ephemera-* headers.
 */
export function endedBeforeOutput(c: Context, r: TextEnd, headers: Record<string, string> = {}): Response {
  if (succeeded(r)) return c.body(null, 200, { ...headers, ...TEXT_HEADERS, ...runEndFields(r) });
  const { status, error, headers: endHeaders } = runEndError(r);
  const body: RunEndErrorJson = {
    error,
    session_id: r.sessionId,
    run_id: r.runId,
    status: r.status,
    exit_code: r.exitCode,
    stderr: r.stderr,
  };
  return c.json(body, status as ContentfulStatusCode, { ...headers, ...endHeaders, ...runEndFields(r) });
}

/**
 * The last line of a plain-text answer whose run printed and then did not succeed: the
 * status line said 200 long ago, so the body says it, on a line of its own that a person at
 * `curl -N` sees and a script can look for (`ephemera: the run ended ...`).
 */
export function failureLine(r: EndedRun, atLineStart: boolean): Buffer {
  const newline = atLineStart ? '' : '\n';
  return Buffer.from(`${newline}ephemera: ${runEndError(r).error.message} [${r.runId}]\n`);
}

/**
 * The plain-text answer of a run that ended before (a retried Idempotency-Key): told as the
 * live answer told it, its end in the Ephemera-* headers; a client that reads trailers gets
 * the output untouched, as it did live.
 */
export function storedText(c: Context, r: TextEnd, output: string, headers: Record<string, string>): Response {
  if (output === '') return endedBeforeOutput(c, r, headers);
  const untouched = succeeded(r) || readsTrailers(c);
  const body = untouched ? output : Buffer.concat([Buffer.from(output), failureLine(r, output.endsWith('\n'))]);
  return c.body(body, 200, { ...headers, ...TEXT_HEADERS, ...runEndFields(r) });
}
