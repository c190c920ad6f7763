import { StringDecoder } from 'node:string_decoder';
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { RunHandle, RunResult } from '../../runner/run-service.js';

/**
 * Server-sent events: `run` first, then `stdout` / `stderr` as they arrive
 * (data: {"data": "..."}), then `done` with the status, exit code and timings,
 * preceded by `error` when the run ended in one.
 */
export function respondSse(c: Context, run: RunHandle): Response {
  return streamSSE(c, async (s) => {
    s.onAbort(() => run.cancel());
    await s.writeSSE({
      event: 'run',
      data: JSON.stringify({ session_id: run.sessionId, run_id: run.runId, agent: run.agent, timeout_ms: run.timeoutMs }),
    });
    // A chunk may end inside a UTF-8 sequence: decode each stream continuously.
    const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
    for await (const event of run.events) {
      if (s.aborted) break;
      if (event.type === 'done') {
        for (const name of ['stdout', 'stderr'] as const) {
          const rest = decoders[name].end();
          if (rest) await s.writeSSE({ event: name, data: JSON.stringify({ data: rest }) });
        }
        if (event.result.error) await s.writeSSE({ event: 'error', data: JSON.stringify({ error: event.result.error }) });
        await s.writeSSE({ event: 'done', data: JSON.stringify(doneData(event.result)) });
      } else {
        const text = decoders[event.type].write(event.data);
        if (text) await s.writeSSE({ event: event.type, data: JSON.stringify({ data: text }) });
      }
    }
  });
}

export function doneData(r: RunResult) {
  return { status: r.status, exit_code: r.exitCode, error: r.error, metrics: metricsJson(r.metrics) };
}

export function metricsJson(m: RunResult['metrics']) {
  return {
    queued_ms: m.queuedMs,
    create_ms: m.createMs,
    start_ms: m.startMs,
    first_byte_ms: m.firstByteMs,
    total_ms: m.totalMs,
    bytes_out: m.bytesOut,
    bytes_err: m.bytesErr,
  };
}
