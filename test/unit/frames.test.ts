import { describe, expect, it } from 'vitest';
import { FrameDecoder } from '../../src/runner/frames.js';

function frame(type: 1 | 2, payload: string): Buffer {
  const body = Buffer.from(payload);
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

describe('FrameDecoder', () => {
  it('splits stdout and stderr frames in one chunk', () => {
    const d = new FrameDecoder();
    const frames = d.push(Buffer.concat([frame(1, 'out'), frame(2, 'err'), frame(1, 'more')]));
    expect(frames.map((f) => [f.stream, f.payload.toString()])).toEqual([
      ['stdout', 'out'],
      ['stderr', 'err'],
      ['stdout', 'more'],
    ]);
    expect(d.leftover).toBe(0);
  });

  it('reassembles frames cut anywhere, one byte at a time', () => {
    const all = Buffer.concat([frame(1, 'héllo'), frame(2, 'wörld'), frame(1, 'x'.repeat(300))]);
    const d = new FrameDecoder();
    const out: string[] = [];
    for (const byte of all) for (const f of d.push(Buffer.from([byte]))) out.push(`${f.stream}:${f.payload.toString()}`);
    expect(out).toEqual(['stdout:héllo', 'stderr:wörld', `stdout:${'x'.repeat(300)}`]);
    expect(d.leftover).toBe(0);
  });

  it('keeps an unfinished frame pending', () => {
    const d = new FrameDecoder();
    const f = frame(1, 'abcdef');
    expect(d.push(f.subarray(0, 10))).toEqual([]);
    expect(d.leftover).toBe(10);
    expect(d.push(f.subarray(10)).map((x) => x.payload.toString())).toEqual(['abcdef']);
  });

  it('skips empty frames', () => {
    expect(new FrameDecoder().push(frame(1, ''))).toEqual([]);
  });
});
