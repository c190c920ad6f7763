import { describe, expect, it } from 'vitest';
import { FrameDecoder, type Frame } from '../../src/runner/docker/frames.js';

function frame(type: 1 | 2, payload: string): Buffer {
  const body = Buffer.from(payload);
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

/** Joins what came out into runs of one stream, as a reader of both streams sees them. */
function joined(frames: Frame[]): Array<[string, string]> {
  const out: Array<[string, Buffer[]]> = [];
  for (const f of frames) {
    const last = out.at(-1);
    if (last && last[0] === f.stream) last[1].push(f.payload);
    else out.push([f.stream, [f.payload]]);
  }
  return out.map(([s, bufs]) => [s, Buffer.concat(bufs).toString()]);
}

describe('FrameDecoder', () => {
  it('splits stdout and stderr in one chunk, and merges neighbouring frames of one stream', () => {
    const d = new FrameDecoder();
    const frames = d.push(Buffer.concat([frame(1, 'out'), frame(1, 'put'), frame(2, 'err'), frame(1, 'more')]));
    expect(frames.map((f) => [f.stream, f.payload.toString()])).toEqual([
      ['stdout', 'output'],
      ['stderr', 'err'],
      ['stdout', 'more'],
    ]);
    expect(d.midFrame).toBe(false);
  });

  it('reassembles frames cut anywhere, one byte at a time, keeping the order of the streams', () => {
    const all = Buffer.concat([frame(1, 'héllo'), frame(2, 'wörld'), frame(1, 'x'.repeat(300))]);
    const d = new FrameDecoder();
    const out: Frame[] = [];
    for (const byte of all) out.push(...d.push(Buffer.from([byte])));
    expect(joined(out)).toEqual([
      ['stdout', 'héllo'],
      ['stderr', 'wörld'],
      ['stdout', 'x'.repeat(300)],
    ]);
    expect(d.midFrame).toBe(false);
  });

  it('passes a frame on as its bytes arrive, without waiting for the rest', () => {
    const d = new FrameDecoder();
    const f = frame(1, 'abcdef');
    expect(d.push(f.subarray(0, 5))).toEqual([]); // header only, not even whole
    expect(d.midFrame).toBe(true);
    expect(d.push(f.subarray(5, 10)).map((x) => x.payload.toString())).toEqual(['ab']);
    expect(d.midFrame).toBe(true);
    expect(d.push(f.subarray(10)).map((x) => x.payload.toString())).toEqual(['cdef']);
    expect(d.midFrame).toBe(false);
  });

  it('does not copy a piece that stands alone in its chunk', () => {
    const chunk = frame(1, 'y'.repeat(100));
    const [only] = new FrameDecoder().push(chunk);
    expect(only!.payload.buffer).toBe(chunk.buffer);
    expect(only!.payload.byteOffset).toBe(chunk.byteOffset + 8);
  });

  it('skips empty frames', () => {
    const d = new FrameDecoder();
    expect(d.push(Buffer.concat([frame(1, ''), frame(2, '')]))).toEqual([]);
    expect(d.push(frame(2, 'e')).map((f) => [f.stream, f.payload.toString()])).toEqual([['stderr', 'e']]);
  });
});
