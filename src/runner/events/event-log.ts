import type { Logger } from 'pino';
import type { RunEventStore } from '../../db/contract.js';
import type { RunEventRow } from '../../db/rows.js';
import type { RunEventSignals } from './event-signals.js';
import type { NumberedEvent } from './typed-event.js';
import { cutMiddle } from './cut-middle.js';

/** How a run's log is written. */
export interface EventLogOptions {
  /** The log's bound, in characters of event data; past it a `cut` marker, then only `error` and `done`. */
  maxBytes: number;
  /**
   * One tool event's bound (MAX_STORED_OUTPUT_BYTES): a longer tool result, or a tool's input,
   * is kept as its head and tail, as a stored reply is; the live stream has it whole.
   */
  maxEventBytes?: number;
  /** A batch waits at most this long for more events before it is written. */
  flushMs?: number;
  /** ...or until it holds this many bytes, or 500 events. */
  batchBytes?: number;
}

type PendingRow = Omit<RunEventRow, 'runId'>;

const MAX_BATCH_ROWS = 500;

/**
 * One run's event log on its way to the store: events are collected and written in batches
 * (one statement each, never a row per chunk), in order, one batch at a time, without holding
 * the run up. A batch the store refuses is tried once more, then left out (logged): the log is
 * the record, the run's own end is what must be stored.
 */
export class RunEventLog {
  private pending: PendingRow[] = [];
  private pendingBytes = 0;
  private keptBytes = 0;
  private cut = false;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private readonly flushMs: number;
  private readonly batchBytes: number;

  constructor(
    private readonly runId: string,
    private readonly store: RunEventStore,
    private readonly options: EventLogOptions,
    private readonly parts: { logger: Logger; signals?: RunEventSignals },
  ) {
    this.flushMs = options.flushMs ?? 20;
    this.batchBytes = options.batchBytes ?? 256 * 1024;
  }

  add(events: readonly NumberedEvent[]): void {
    const now = Date.now();
    for (const e of events) {
      const always = e.event === 'error' || e.event === 'done';
      if (!always && this.cut) continue; // past the bound: not even encoded
      const data = this.dataOf(e);
      // Its length, not its UTF-8 bytes: counting bytes would read every reply once more (a 100 MB one
      // cost ~10% of the stream's speed); the bound is then in UTF-16 units, at most 3 bytes each.
      const size = data.length;
      if (!always && this.keptBytes + size > this.options.maxBytes) {
        this.cut = true;
        const message = `the event log reached its bound of ${this.options.maxBytes} bytes: later events were not kept`;
        this.queue({ seq: e.seq, type: 'cut', data: JSON.stringify({ message }), createdAt: now }, 0);
        continue;
      }
      this.keptBytes += size;
      this.queue({ seq: e.seq, type: e.event, data, createdAt: now }, size);
    }
    if (this.pendingBytes >= this.batchBytes || this.pending.length >= MAX_BATCH_ROWS) this.flush();
    else if (this.pending.length > 0) this.timer ??= setTimeout(() => this.flush(), this.flushMs);
  }

  /** Past its bound: only `error` and `done` are kept from now on. */
  get full(): boolean {
    return this.cut;
  }

  /** Writes what is left; resolves once every batch is written (or given up on). */
  end(): Promise<void> {
    this.flush();
    return this.writing;
  }

  private dataOf(e: NumberedEvent): string {
    const data = JSON.stringify(e.data);
    const max = this.options.maxEventBytes;
    if (max === undefined || data.length <= max || Buffer.byteLength(data) <= max) return data;
    if (e.event === 'tool_result' && e.data.output !== null)
      return JSON.stringify({ ...e.data, output: cutMiddle(e.data.output, max) });
    if (e.event === 'tool_use')
      return JSON.stringify({
        ...e.data,
        parameters: { ephemera_cut: cutMiddle(JSON.stringify(e.data.parameters), max) },
      });
    return data;
  }

  private queue(row: PendingRow, size: number): void {
    this.pending.push(row);
    this.pendingBytes += size;
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    this.writing = this.writing.then(() => this.write(batch));
  }

  private async write(batch: PendingRow[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.store.append(this.runId, batch);
        this.parts.signals?.notify(this.runId);
        return;
      } catch (err) {
        if (attempt === 2) {
          const seqs = `${batch[0]!.seq}..${batch.at(-1)!.seq}`;
          this.parts.logger.error({ err, runId: this.runId, seqs }, 'could not write events of a run: left out');
          return;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}
