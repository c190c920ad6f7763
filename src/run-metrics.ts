/**
 * A run's metrics, declared once: the name each has in the code, its JSON name, when it
 * may be null, and whether a run's own answer reports it. The types, the empty metrics,
 * the JSON and its OpenAPI schema derive from this; the runs table spells the columns out
 * for its migrations, and a type test checks that they match.
 *
 * `null`: `unmeasured` may stay null in a finished run (the run never got that far, or
 * its agent reports no tokens); `until_end` is null only while the run is in progress;
 * `never` is counted from 0.
 * `answered`: part of the `metrics` of a run's own answer (JSON and SSE `done`); the token
 * counts are not, since that answer carries them as `usage`. A stored run has them all.
 */
export const RUN_METRICS = {
  queuedMs: { json: 'queued_ms', null: 'unmeasured', answered: true },
  createMs: { json: 'create_ms', null: 'unmeasured', answered: true },
  startMs: { json: 'start_ms', null: 'unmeasured', answered: true },
  firstByteMs: { json: 'first_byte_ms', null: 'unmeasured', answered: true },
  totalMs: { json: 'total_ms', null: 'until_end', answered: true },
  bytesOut: { json: 'bytes_out', null: 'never', answered: true },
  bytesErr: { json: 'bytes_err', null: 'never', answered: true },
  // Reported by agents that know them (Gemini's `result` event), or counted by the model gateway.
  inputTokens: { json: 'input_tokens', null: 'unmeasured', answered: false },
  outputTokens: { json: 'output_tokens', null: 'unmeasured', answered: false },
  totalTokens: { json: 'total_tokens', null: 'unmeasured', answered: false },
  toolCalls: { json: 'tool_calls', null: 'unmeasured', answered: false },
  modelCalls: {
    json: 'model_calls',
    null: 'unmeasured',
    answered: false,
    description: 'Model calls the gateway forwarded for this run (null: an agent without a model)',
  },
  modelErrors: {
    json: 'model_errors',
    null: 'unmeasured',
    answered: false,
    description: 'Of those, answered with an error status or not answered',
  },
} as const satisfies Record<
  string,
  { json: string; null: 'unmeasured' | 'until_end' | 'never'; answered: boolean; description?: string }
>;

type Declared = typeof RUN_METRICS;
export type RunMetricName = keyof Declared;
/** The metrics a run's own answer reports. */
export type AnsweredMetricName = {
  [K in RunMetricName]: Declared[K]['answered'] extends true ? K : never;
}[RunMetricName];

/** A finished run's metrics. */
export type RunMetrics = { [K in RunMetricName]: Declared[K]['null'] extends 'unmeasured' ? number | null : number };
/** A stored run's metrics, which may still be in progress. */
export type StoredRunMetrics = { [K in RunMetricName]: Declared[K]['null'] extends 'never' ? number : number | null };

export const METRIC_NAMES = Object.keys(RUN_METRICS) as RunMetricName[];
export const ANSWERED_METRIC_NAMES = METRIC_NAMES.filter((k) => RUN_METRICS[k].answered) as AnsweredMetricName[];

/** A run's metrics before it measured anything. */
export const EMPTY_RUN_METRICS = Object.fromEntries(
  METRIC_NAMES.map((k) => [k, RUN_METRICS[k].null === 'unmeasured' ? null : 0]),
) as RunMetrics;

/** The metrics `names` of `m` under their JSON names, in their declared order. */
export function metricsJson<K extends RunMetricName>(
  m: Pick<StoredRunMetrics, K>,
  names: readonly K[],
): { [N in K as Declared[N]['json']]: StoredRunMetrics[N] } {
  return Object.fromEntries(names.map((k) => [RUN_METRICS[k].json, m[k]])) as never;
}
