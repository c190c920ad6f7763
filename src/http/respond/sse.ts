import { StringDecoder } from 'node:string_decoder';
import type { Context } from 'hono';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import { ANSWERED_METRIC_NAMES, metricsJson } from '../../run-metrics.js';
import type { RunHandle, RunResult } from '../../runner/run.js';

/**
 * Server-sent events: `run` first; then, as they happen, the reply's text (`stdout`
 * {data} for commands, `delta` {text} for models), `stderr` {data} (commands only),
 * `tool_use`, `tool_result` and `warning`; then `error` if the run ended in one; last `done`.
 */
export function respondSse(c: Context, run: RunHandle): Response {
  return streamSSE(c, async (s) => {
    s.onAbort(() => run.cancel());
    await send(s, 'run', { session_id: run.sessionId, run_id: run.runId, agent: run.agent, timeout_ms: run.timeoutMs });
    // A chunk may end inside a UTF-8 sequence: decode each stream continuously.
    const text = new StringDecoder('utf8');
    const stderr = new StringDecoder('utf8');
    const sendText = (t: string) => (run.textEvent === 'delta' ? send(s, 'delta', { text: t }) : send(s, 'stdout', { data: t }));
    for await (const event of run.events) {
      if (s.aborted) break;
      switch (event.type) {
        case 'text': {
          const t = text.write(event.data);
          if (t) await sendText(t);
          break;
        }
        case 'stderr': {
          const t = stderr.write(event.data);
          if (t) await send(s, 'stderr', { data: t });
          break;
        }
        case 'tool_use':
          await send(s, 'tool_use', { id: event.id, name: event.name, parameters: event.parameters });
          break;
        case 'tool_result':
          await send(s, 'tool_result', { id: event.id, status: event.status, output: event.output, error: event.error });
          break;
        case 'warning':
          await send(s, 'warning', { message: event.message });
          break;
        case 'done': {
          const restText = text.end();
          if (restText) await sendText(restText);
          const restErr = stderr.end();
          if (restErr) await send(s, 'stderr', { data: restErr });
          if (event.result.error) await send(s, 'error', { error: event.result.error });
          await send(s, 'done', doneData(event.result));
          break;
        }
      }
    }
  });
}

function send(s: SSEStreamingApi, event: string, data: unknown) {
  return s.writeSSE({ event, data: JSON.stringify(data) });
}

export function doneData(r: RunResult) {
  return { status: r.status, exit_code: r.exitCode, error: r.error, usage: usageJson(r.usage), metrics: metricsJson(r.metrics, ANSWERED_METRIC_NAMES) };
}

export function usageJson(u: RunResult['usage']) {
  return u && { input_tokens: u.inputTokens, output_tokens: u.outputTokens, total_tokens: u.totalTokens, tool_calls: u.toolCalls };
}
