import type { RunResult } from '../runner/run/run.js';

/**
 * A run that did not end in an answer, as HTTP says it: the status and error the plain-text
 * and OpenAI-compatible answers give, when they can still give a status (the run ended
 * before its first output) or as the error they end with. JSON and SSE answers say 200 and
 * carry the run's status in their body.
 */

/** What of a run's result (`RunResult`) its ending is read from: a run just ended, or one from the store. */
export type EndedRun = Pick<RunResult, 'sessionId' | 'runId' | 'status' | 'exitCode' | 'error'>;

/**
 * The HTTP status of a run's end. The agent is the service's upstream: when it fails (a
 * non-zero exit, a crash, its model's error, out of memory, over its output cap) that is a
 * 502; past its deadline a 504; a run the service's shutdown interrupted a 503.
 */
const STATUS_OF_END: Partial<Record<RunResult['status'], number>> = { timeout: 504, cancelled: 499, interrupted: 503 };

/** An error's message in one line, at most this long: it can come from a CLI or a model API. */
const MAX_MESSAGE_CHARS = 500;

export const succeeded = (r: EndedRun) => r.status === 'succeeded';

/**
 * The run's end as an error: its status, `{code, message}` (the run's own error, or its
 * status's name), and the headers that go with it. A run that failed or timed out did run:
 * `X-Should-Retry: false` keeps the OpenAI SDKs (which retry any 5xx) from running the prompt
 * again in a new session; one the shutdown interrupted may be worth another try.
 */
export function runEndError(r: EndedRun): {
  status: number;
  error: { code: string; message: string };
  headers: Record<string, string>;
} {
  const status = STATUS_OF_END[r.status] ?? 502;
  const code = r.error?.code ?? r.status.toUpperCase();
  const exit = r.exitCode !== null && r.status === 'failed' ? ` (exit code ${r.exitCode})` : '';
  const message = oneLine(`the run ended ${r.status}${exit}${r.error ? `: ${r.error.message}` : ''}`);
  return { status, error: { code, message }, headers: status === 503 ? {} : { 'X-Should-Retry': 'false' } };
}

/** Control characters (a CLI's newlines, a terminal's escapes) as spaces, and the length bounded. */
function oneLine(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it removes
  const flat = text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ');
  return flat.length > MAX_MESSAGE_CHARS ? `${flat.slice(0, MAX_MESSAGE_CHARS - 1)}…` : flat;
}

/** The run's end as fields (headers when it is known before them, trailers when not), for scripts that read them. */
export function runEndFields(r: EndedRun): Record<string, string> {
  return {
    'Ephemera-Status': r.status,
    ...(r.exitCode !== null && { 'Ephemera-Exit-Code': String(r.exitCode) }),
    ...(r.error && { 'Ephemera-Error-Code': r.error.code }),
  };
}

export const RUN_END_FIELD_NAMES = ['Ephemera-Status', 'Ephemera-Exit-Code', 'Ephemera-Error-Code'];
