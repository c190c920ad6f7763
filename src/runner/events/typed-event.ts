import type { AnsweredMetricName, metricsJson } from '../../run-metrics.js';

type RunErrorJson = { code: string; message: string };

/** Tokens and tool calls, when the agent reports them (model agents); null otherwise. */
export type UsageJson = {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  tool_calls: number;
} | null;

/**
 * One event of a run as its clients see it and its log keeps it: `event` names it, `data` is
 * its JSON object. `run` first; then, as they happen, the reply's text (`stdout` {data} for
 * commands, `delta` {text} for models), `stderr` {data} (commands only), `tool_use`,
 * `tool_result` and `warning`; then `error` if the run ended in one; last `done`. `cut` stands
 * where the log went over its bound: what followed, up to `error` and `done`, was not kept.
 * The API's schema of it (http/run-shapes.ts) is checked against this type.
 */
export type TypedEvent =
  | { event: 'run'; data: { session_id: string; run_id: string; agent: string; timeout_ms: number } }
  | { event: 'stdout'; data: { data: string } }
  | { event: 'stderr'; data: { data: string } }
  | { event: 'delta'; data: { text: string } }
  | { event: 'tool_use'; data: { id: string; name: string; parameters: unknown } }
  | { event: 'tool_result'; data: { id: string; status: string | null; output: string | null; error: unknown } }
  | { event: 'warning'; data: { message: string } }
  | { event: 'error'; data: { error: RunErrorJson } }
  | {
      event: 'done';
      data: {
        status: string;
        exit_code: number | null;
        error: RunErrorJson | null;
        usage: UsageJson;
        metrics: ReturnType<typeof metricsJson<AnsweredMetricName>>;
      };
    }
  | { event: 'cut'; data: { message: string } };

/** An event with its place in the run's log: 1 for `run`, then one more for each. */
export type NumberedEvent = TypedEvent & { seq: number };
