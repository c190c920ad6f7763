/**
 * Splits the Engine API's multiplexed attach stream (Tty false) into stdout and
 * stderr payloads. Each frame is an 8-byte header — stream type (1 stdout, 2 stderr),
 * three zero bytes, a big-endian uint32 size — followed by that many bytes.
 */
export interface Frame {
  stream: 'stdout' | 'stderr';
  payload: Buffer;
}

export class FrameDecoder {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const frames: Frame[] = [];
    let offset = 0;
    while (this.pending.length - offset >= 8) {
      const type = this.pending[offset];
      const size = this.pending.readUInt32BE(offset + 4);
      if (this.pending.length - offset - 8 < size) break;
      const payload = this.pending.subarray(offset + 8, offset + 8 + size);
      offset += 8 + size;
      if (size === 0) continue;
      frames.push({ stream: type === 2 ? 'stderr' : 'stdout', payload });
    }
    this.pending = offset === this.pending.length ? Buffer.alloc(0) : this.pending.subarray(offset);
    return frames;
  }

  /** Bytes of an unfinished frame left when the stream ended. */
  get leftover(): number {
    return this.pending.length;
  }
}
