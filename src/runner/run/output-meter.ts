import type { RunMetrics } from '../../run-metrics.js';

/**
 * Counts what a run prints on both streams and passes on what fits under the output cap;
 * past it, says so (the run is then stopped). Also notes when the reply's first byte came.
 */
export class OutputMeter {
  private printed = 0;

  constructor(
    /** The run's metrics, counted into as the output comes (what a failing run stores holds them so far). */
    private readonly counts: Pick<RunMetrics, 'bytesOut' | 'bytesErr' | 'firstByteMs'>,
    private readonly maxOutputBytes: number,
    /** performance.now() when the request arrived. */
    private readonly receivedAt: number,
    private readonly overCap: () => void,
  ) {}

  stdout(raw: Buffer): Buffer {
    const chunk = this.withinCap(raw);
    this.counts.bytesOut += chunk.length;
    return chunk;
  }

  stderr(raw: Buffer): Buffer {
    const chunk = this.withinCap(raw);
    this.counts.bytesErr += chunk.length;
    return chunk;
  }

  /** Some of the reply's text arrived (a model's reply is not the first byte of its stdout). */
  replyText(): void {
    if (this.counts.firstByteMs === null) this.counts.firstByteMs = Math.round(performance.now() - this.receivedAt);
  }

  /** Passes on what fits under the output cap; past it, says so. */
  private withinCap(chunk: Buffer): Buffer {
    const room = this.maxOutputBytes - this.printed;
    this.printed += chunk.length;
    if (chunk.length <= room) return chunk;
    this.overCap();
    return chunk.subarray(0, Math.max(0, room));
  }
}
