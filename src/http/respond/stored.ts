import type { Context } from 'hono';
import type { MessageRow, RunRow } from '../../db/rows.js';
import { ANSWERED_METRIC_NAMES, metricsJson } from '../../run-metrics.js';
import type { ResponseMode } from '../negotiate.js';
import { replayedHeaders } from '../idempotency.js';
import type { EndStatus } from '../../runner/run/run-status.js';
import { storedText } from './text-ending.js';

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
  const output = reply?.content ?? '';
  const error = run.errorCode ? { code: run.errorCode, message: run.errorMessage ?? '' } : null;
  const usage =
    run.totalTokens === null
      ? null
      : {
          input_tokens: run.inputTokens ?? 0,
          output_tokens: run.outputTokens ?? 0,
          total_tokens: run.totalTokens,
          tool_calls: run.toolCalls ?? 0,
        };
  const metrics = metricsJson(run, ANSWERED_METRIC_NAMES);
  const done = { status: run.status, exit_code: run.exitCode, error, usage, metrics };
  switch (mode) {
    case 'json':
      // As stored: a long reply's head and tail (output_omitted_bytes says how much is left out); tool calls are not stored.
      return c.json(
        {
          session_id: run.sessionId,
          run_id: run.id,
          agent: run.agent,
          output,
          output_omitted_bytes: reply?.omittedBytes ?? 0,
          stderr: run.stderr,
          tool_calls: [],
          ...done,
        },
        200,
        headers,
      );
    case 'text':
      return storedText(
        c,
        {
          sessionId: run.sessionId,
          runId: run.id,
          status: run.status as EndStatus,
          exitCode: run.exitCode,
          error,
          stderr: run.stderr,
        },
        output,
        headers,
      );
    case 'sse': {
      const events: [string, unknown][] = [
        ['run', { session_id: run.sessionId, run_id: run.id, agent: run.agent, timeout_ms: run.timeoutMs }],
      ];
      if (output) events.push([textEvent, textEvent === 'delta' ? { text: output } : { data: output }]);
      if (run.stderr && textEvent === 'stdout') events.push(['stderr', { data: run.stderr }]);
      if (error) events.push(['error', { error }]);
      events.push(['done', done]);
      const body = events.map(([event, data]) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`).join('');
      return c.body(body, 200, { ...headers, 'Content-Type': 'text/event-stream' });
    }
  }
}
