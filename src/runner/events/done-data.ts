import { ANSWERED_METRIC_NAMES, type AnsweredMetricName, metricsJson } from '../../run-metrics.js';
import type { StoredRunMetrics } from '../../run-metrics.js';
import type { Usage } from '../agents/agent.js';
import type { EndStatus, RunError } from '../run/run-status.js';
import type { TypedEvent, UsageJson } from './typed-event.js';

/** How a run ended, as its `done` event and its answers tell it. */
export interface RunOutcome {
  status: EndStatus;
  exitCode: number | null;
  error: RunError | null;
  usage: Usage | null;
}

/**
 * The `done` event's data: how the run ended, its usage and the metrics an answer reports, from
 * a run just ended or one from the store (`metrics`: the result's, or the stored run row).
 */
export function doneData(
  r: RunOutcome,
  metrics: Pick<StoredRunMetrics, AnsweredMetricName>,
): Extract<TypedEvent, { event: 'done' }>['data'] {
  return {
    status: r.status,
    exit_code: r.exitCode,
    error: r.error,
    usage: usageJson(r.usage),
    metrics: metricsJson(metrics, ANSWERED_METRIC_NAMES),
  };
}

export function usageJson(u: Usage | null): UsageJson {
  return (
    u && {
      input_tokens: u.inputTokens,
      output_tokens: u.outputTokens,
      total_tokens: u.totalTokens,
      tool_calls: u.toolCalls,
    }
  );
}
