import { StringDecoder } from 'node:string_decoder';
import type { AgentEvent } from '../agents/agent.js';
import type { StoredRunMetrics, AnsweredMetricName } from '../../run-metrics.js';
import { doneData, type RunOutcome } from './done-data.js';
import type { NumberedEvent, TypedEvent } from './typed-event.js';

/** What the typer is told: the agent's events, and the stderr the client is shown. */
export type PrintedEvent = AgentEvent | { type: 'stderr'; data: Buffer };

/**
 * Turns what a run prints into its typed events, numbered once: the live stream (its SSE `id:`)
 * and the run's log share the numbers, so a client resumes after the last one it saw. Decoding
 * happens here, once: a chunk may end inside a UTF-8 sequence, so each stream is decoded
 * continuously, and a chunk that holds only part of a character yields no event yet.
 */
export class EventTyper {
  private seq = 0;
  private readonly text = new StringDecoder('utf8');
  private readonly stderr = new StringDecoder('utf8');

  constructor(private readonly textEvent: 'stdout' | 'delta') {}

  /** The first event: the run and its session. */
  opening(run: { sessionId: string; runId: string; agent: string; timeoutMs: number }): NumberedEvent {
    const { sessionId, runId, agent, timeoutMs } = run;
    return this.numbered({
      event: 'run',
      data: { session_id: sessionId, run_id: runId, agent, timeout_ms: timeoutMs },
    });
  }

  of(e: PrintedEvent): NumberedEvent[] {
    switch (e.type) {
      case 'text':
        return this.textOf(this.text.write(e.data));
      case 'stderr':
        return this.stderrOf(this.stderr.write(e.data));
      case 'tool_use':
        return [this.numbered({ event: 'tool_use', data: { id: e.id, name: e.name, parameters: e.parameters } })];
      case 'tool_result': {
        const { id, status, output, error } = e;
        return [this.numbered({ event: 'tool_result', data: { id, status, output, error } })];
      }
      case 'warning':
        return [this.numbered({ event: 'warning', data: { message: e.message } })];
    }
  }

  /** The last events: what the decoders held back, `error` if the run ended in one, `done`. */
  closing(r: RunOutcome, metrics: Pick<StoredRunMetrics, AnsweredMetricName>): NumberedEvent[] {
    return [
      ...this.textOf(this.text.end()),
      ...this.stderrOf(this.stderr.end()),
      ...(r.error ? [this.numbered({ event: 'error', data: { error: r.error } })] : []),
      this.numbered({ event: 'done', data: doneData(r, metrics) }),
    ];
  }

  private textOf(t: string): NumberedEvent[] {
    if (!t) return [];
    return [
      this.numbered(
        this.textEvent === 'delta' ? { event: 'delta', data: { text: t } } : { event: 'stdout', data: { data: t } },
      ),
    ];
  }

  private stderrOf(t: string): NumberedEvent[] {
    return t ? [this.numbered({ event: 'stderr', data: { data: t } })] : [];
  }

  private numbered(e: TypedEvent): NumberedEvent {
    return { ...e, seq: ++this.seq };
  }
}
