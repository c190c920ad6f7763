import { StringDecoder } from 'node:string_decoder';
import { ANSWERED_METRIC_NAMES, type AnsweredMetricName, metricsJson } from '../../run-metrics.js';
import type { RunHandle, RunResult } from '../../runner/run/run.js';

import type { TypedEvent } from '../run-shapes.js';

export type { TypedEvent };

/**
 * A run's events, typed: `run` first; then, as they happen, the reply's text (`stdout`
 * {data} for commands, `delta` {text} for models), `stderr` {data} (commands only),
 * `tool_use`, `tool_result` and `warning`; then `error` if the run ended in one; last `done`.
 * Leaving the loop early lets go of the run's events (the caller cancels the run if it must).
 */
export async function* typedEvents(run: RunHandle): AsyncGenerator<TypedEvent> {
  yield {
    event: 'run',
    data: { session_id: run.sessionId, run_id: run.runId, agent: run.agent, timeout_ms: run.timeoutMs },
  };
  // A chunk may end inside a UTF-8 sequence: decode each stream continuously.
  const text = new StringDecoder('utf8');
  const stderr = new StringDecoder('utf8');
  const textEvent = (t: string): TypedEvent =>
    run.textEvent === 'delta' ? { event: 'delta', data: { text: t } } : { event: 'stdout', data: { data: t } };
  for await (const event of run.events) {
    switch (event.type) {
      case 'text': {
        const t = text.write(event.data);
        if (t) yield textEvent(t);
        break;
      }
      case 'stderr': {
        const t = stderr.write(event.data);
        if (t) yield { event: 'stderr', data: { data: t } };
        break;
      }
      case 'tool_use':
        yield { event: 'tool_use', data: { id: event.id, name: event.name, parameters: event.parameters } };
        break;
      case 'tool_result':
        yield {
          event: 'tool_result',
          data: { id: event.id, status: event.status, output: event.output, error: event.error },
        };
        break;
      case 'warning':
        yield { event: 'warning', data: { message: event.message } };
        break;
      case 'done': {
        const restText = text.end();
        if (restText) yield textEvent(restText);
        const restErr = stderr.end();
        if (restErr) yield { event: 'stderr', data: { data: restErr } };
        if (event.result.error) yield { event: 'error', data: { error: event.result.error } };
        yield { event: 'done', data: doneData(event.result, event.result.metrics) };
        break;
      }
    }
  }
}

/**
 * The `done` event's data: how the run ended, its usage and the metrics an answer reports, from
 * a run just ended or one from the store (`metrics`: the result's, or the stored run row).
 */
export function doneData(
  r: Pick<RunResult, 'status' | 'exitCode' | 'error' | 'usage'>,
  metrics: Parameters<typeof metricsJson<AnsweredMetricName>>[0],
): Extract<TypedEvent, { event: 'done' }>['data'] {
  return {
    status: r.status,
    exit_code: r.exitCode,
    error: r.error,
    usage: usageJson(r.usage),
    metrics: metricsJson(metrics, ANSWERED_METRIC_NAMES),
  };
}

export function usageJson(u: RunResult['usage']) {
  return (
    u && {
      input_tokens: u.inputTokens,
      output_tokens: u.outputTokens,
      total_tokens: u.totalTokens,
      tool_calls: u.toolCalls,
    }
  );
}
