/**
 * A one-producer, one-consumer queue between a running container and the HTTP
 * response. `push` waits while more than `highWaterBytes` are buffered, so a slow
 * client slows the container's output instead of growing the service's memory.
 * `abandon` drops everything and releases the producer, for when nobody will read;
 * `stopWaiting` keeps everything but no longer holds the producer back, for a run that
 * must end whether or not its reader keeps up.
 */
export class EventChannel<T> {
  private readonly queue: T[] = [];
  private bufferedBytes = 0;
  private closed = false;
  private abandoned = false;
  private unbounded = false;
  private wakeConsumer: (() => void) | undefined;
  private wakeProducer: (() => void) | undefined;

  constructor(
    private readonly sizeOf: (item: T) => number,
    private readonly highWaterBytes = 1 << 20,
  ) {}

  async push(item: T): Promise<void> {
    if (this.closed || this.abandoned) return;
    this.queue.push(item);
    this.bufferedBytes += this.sizeOf(item);
    this.wake();
    while (this.bufferedBytes > this.highWaterBytes && !this.abandoned && !this.unbounded) {
      await new Promise<void>((resolve) => (this.wakeProducer = resolve));
    }
  }

  /** No more items; the consumer ends after draining what is queued. */
  close(): void {
    this.closed = true;
    this.wake();
  }

  /**
   * From now on `push` never waits for the reader. What still arrives is bounded by the
   * run's output cap, and a stopped run's container is already being killed.
   */
  stopWaiting(): void {
    this.unbounded = true;
    this.releaseProducer();
  }

  /** Nobody reads what is pushed from now on. */
  get isAbandoned(): boolean {
    return this.abandoned;
  }

  abandon(): void {
    this.abandoned = true;
    this.queue.length = 0;
    this.bufferedBytes = 0;
    this.wake();
    this.wakeProducer?.();
  }

  /**
   * Everything queued at each wake-up, as one array: a consumer that fell behind catches
   * up with one write instead of one per item.
   */
  async *batches(): AsyncGenerator<T[]> {
    for (;;) {
      if (this.queue.length > 0) {
        const items = this.queue.splice(0);
        this.bufferedBytes = 0;
        this.releaseProducer();
        yield items;
        continue;
      }
      if (this.closed || this.abandoned) return;
      await new Promise<void>((resolve) => (this.wakeConsumer = resolve));
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      const item = this.queue.shift();
      if (item !== undefined) {
        this.bufferedBytes -= this.sizeOf(item);
        if (this.bufferedBytes <= this.highWaterBytes) this.releaseProducer();
        yield item;
        continue;
      }
      if (this.closed || this.abandoned) return;
      await new Promise<void>((resolve) => (this.wakeConsumer = resolve));
    }
  }

  private wake(): void {
    const w = this.wakeConsumer;
    this.wakeConsumer = undefined;
    w?.();
  }

  private releaseProducer(): void {
    const w = this.wakeProducer;
    this.wakeProducer = undefined;
    w?.();
  }
}
