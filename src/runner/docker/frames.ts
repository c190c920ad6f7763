/**
 * Splits the Engine API's multiplexed attach stream (Tty false) into stdout and
 * stderr. Each frame is an 8-byte header — stream type (1 stdout, 2 stderr), three
 * zero bytes, a big-endian uint32 size — followed by that many bytes.
 *
 * Payloads are passed on as they arrive, not once a frame is whole: a frame cut by a
 * socket read costs no copy, and output reaches the client as soon as the engine sends
 * it. Within one chunk, consecutive pieces of the same stream come out as one buffer,
 * so that a chunk of many small frames is one write further on, not dozens.
 */
export interface Frame {
  stream: 'stdout' | 'stderr';
  payload: Buffer;
}

export class FrameDecoder {
  private readonly header = Buffer.alloc(8);
  private headerBytes = 0;
  /** Payload bytes of the current frame still to come. */
  private remaining = 0;
  private stream: Frame['stream'] = 'stdout';

  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    let run: Buffer[] = [];
    let runStream: Frame['stream'] = this.stream;
    const flush = () => {
      if (run.length > 0) frames.push({ stream: runStream, payload: run.length === 1 ? run[0]! : Buffer.concat(run) });
      run = [];
    };
    let offset = 0;
    while (offset < chunk.length) {
      if (this.remaining === 0) {
        const take = Math.min(8 - this.headerBytes, chunk.length - offset);
        chunk.copy(this.header, this.headerBytes, offset, offset + take);
        this.headerBytes += take;
        offset += take;
        if (this.headerBytes < 8) break;
        this.headerBytes = 0;
        this.stream = this.header[0] === 2 ? 'stderr' : 'stdout';
        this.remaining = this.header.readUInt32BE(4);
        continue;
      }
      const take = Math.min(this.remaining, chunk.length - offset);
      if (run.length > 0 && runStream !== this.stream) flush();
      runStream = this.stream;
      run.push(chunk.subarray(offset, offset + take));
      offset += take;
      this.remaining -= take;
    }
    flush();
    return frames;
  }

  /** Whether the stream stopped inside a frame (its header or its payload). */
  get midFrame(): boolean {
    return this.headerBytes > 0 || this.remaining > 0;
  }
}
