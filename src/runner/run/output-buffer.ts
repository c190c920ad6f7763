/**
 * One output stream of a run (its reply, or its stderr) as it arrives. The transcript
 * stores at most `storedMax` bytes of it: all of it when it fits, else its head and its
 * tail around a marker saying how much was left out. The whole is kept only when the
 * caller asked for it (a JSON response carries the whole output); a streamed run holds
 * at most about `storedMax` bytes, however much it prints.
 */
export class OutputBuffer {
  private readonly head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailStart = 0;
  private tailBytes = 0;
  private readonly whole: Buffer[] | undefined;
  private total = 0;
  private readonly headMax: number;
  private readonly tailMax: number;

  constructor(
    private readonly storedMax: number,
    keepWhole: boolean,
  ) {
    this.whole = keepWhole ? [] : undefined;
    this.headMax = Math.ceil(storedMax / 2);
    this.tailMax = storedMax - this.headMax;
  }

  /** Bytes appended so far. */
  get bytes(): number {
    return this.total;
  }

  /** Bytes held for the transcript (the whole, when kept, is on top of these). */
  get heldBytes(): number {
    return this.headBytes + this.tailBytes;
  }

  append(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.total += chunk.length;
    this.whole?.push(chunk);
    let rest = chunk;
    if (this.headBytes < this.headMax) {
      const take = Math.min(this.headMax - this.headBytes, chunk.length);
      this.head.push(chunk.subarray(0, take));
      this.headBytes += take;
      rest = chunk.subarray(take);
      if (rest.length === 0) return;
    }
    this.tail.push(rest);
    this.tailBytes += rest.length;
    // Drop the oldest tail chunks while what is left still covers tailMax.
    while (
      this.tail.length - this.tailStart > 1 &&
      this.tailBytes - this.tail[this.tailStart]!.length >= this.tailMax
    ) {
      this.tailBytes -= this.tail[this.tailStart]!.length;
      this.tailStart++;
    }
    if (this.tailStart > 1024) {
      this.tail = this.tail.slice(this.tailStart);
      this.tailStart = 0;
    }
  }

  /** The whole output when it was kept, else what the transcript stores. */
  text(): string {
    return this.whole ? Buffer.concat(this.whole).toString('utf8') : this.stored().text;
  }

  /** What the transcript stores: all of it when it fits, else head + marker + tail, cut between characters. */
  stored(): { text: string; omittedBytes: number } {
    const tail = this.tail.slice(this.tailStart);
    if (this.total <= this.storedMax)
      return { text: Buffer.concat([...this.head, ...tail]).toString('utf8'), omittedBytes: 0 };
    const head = cutAtCharEnd(Buffer.concat(this.head));
    const tailAll = Buffer.concat(tail);
    const end = cutAtCharStart(tailAll.subarray(tailAll.length - this.tailMax));
    const omittedBytes = this.total - head.length - end.length;
    return {
      text: `${head.toString('utf8')}\n[ephemera: ${omittedBytes} bytes omitted]\n${end.toString('utf8')}`,
      omittedBytes,
    };
  }
}

const isContinuation = (byte: number) => (byte & 0xc0) === 0x80;

/** Drops a UTF-8 sequence left unfinished at the end. */
export function cutAtCharEnd(buf: Buffer): Buffer {
  for (let back = 1; back <= Math.min(4, buf.length); back++) {
    const byte = buf[buf.length - back]!;
    if (isContinuation(byte)) continue;
    const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return need > back ? buf.subarray(0, buf.length - back) : buf;
  }
  return buf;
}

/** Drops the continuation bytes of a UTF-8 sequence begun before the start. */
export function cutAtCharStart(buf: Buffer): Buffer {
  let i = 0;
  while (i < Math.min(3, buf.length) && isContinuation(buf[i]!)) i++;
  return buf.subarray(i);
}
