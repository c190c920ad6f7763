import type { Context } from 'hono';
import type { RunHandle } from '../../runner/run/run.js';
import { ANSWERED_METRIC_NAMES, metricsJson } from '../../run-metrics.js';
import { usageJson } from '../../runner/events/done-data.js';
import type { RunResultJson } from '../run-shapes.js';

/** One JSON document when the run has ended. A started run answers 200 whatever its status. */
export async function respondJson(c: Context, run: RunHandle): Promise<Response> {
  // Nobody reads the events here: unread, they would fill the channel and hold the run.
  run.events.abandon();
  const r = await run.result;
  return c.json({
    session_id: r.sessionId,
    run_id: r.runId,
    agent: r.agent,
    status: r.status,
    exit_code: r.exitCode,
    error: r.error,
    output: r.output,
    stderr: r.stderr,
    tool_calls: r.toolCalls,
    usage: usageJson(r.usage),
    metrics: metricsJson(r.metrics, ANSWERED_METRIC_NAMES),
  } satisfies RunResultJson);
}
