import { describe, expect, it } from 'vitest';
import { CaptureSplitter, newBoundary } from '../../src/runner/protocol/workspace.js';

const B = newBoundary();

/** Feeds `whole` cut into pieces of `size`, and says what passed and what was captured. */
function split(whole: Buffer, size: number, maxBytes = 1 << 20) {
  const s = new CaptureSplitter(B, maxBytes);
  const passed: Buffer[] = [];
  for (let i = 0; i < whole.length; i += size) passed.push(s.push(whole.subarray(i, i + size)));
  const { rest, capture } = s.end();
  passed.push(rest);
  return { output: Buffer.concat(passed).toString('latin1'), capture };
}

describe('CaptureSplitter', () => {
  it('passes the output on and keeps the tar after the boundary, however the stream is cut', () => {
    const whole = Buffer.concat([
      Buffer.from('hello\nwörld\x1e'),
      Buffer.from(B),
      Buffer.from('TARBYTES'),
      Buffer.from('000'),
    ]);
    for (const size of [1, 2, 3, 7, 13, 64, whole.length]) {
      const { output, capture } = split(whole, size);
      expect(output).toBe(Buffer.from('hello\nwörld\x1e').toString('latin1'));
      expect(capture).toEqual({ tar: Buffer.from('TARBYTES') });
    }
  });

  it('holds back only what could start the boundary, and gives it back at the end', () => {
    const s = new CaptureSplitter(B, 100);
    expect(s.push(Buffer.from('abc')).toString()).toBe('abc'); // nothing held: no RS near the end
    expect(s.push(Buffer.from(`x${B.slice(0, 5)}`)).toString()).toBe('x');
    expect(s.end()).toEqual({ rest: Buffer.from(B.slice(0, 5)), capture: undefined }); // no boundary came: the container died first
  });

  it('says when the tar did not come whole, or was too large', () => {
    expect(split(Buffer.from(`out${B}PARTIAL001`), 4).capture).toEqual({ problem: 'UNREADABLE' });
    expect(split(Buffer.from(`out${B}0`), 4).capture).toEqual({ problem: 'UNREADABLE' });
    expect(split(Buffer.concat([Buffer.from(`out${B}`), Buffer.alloc(200), Buffer.from('000')]), 16, 100)).toEqual({
      output: 'out',
      capture: { problem: 'TOO_LARGE' },
    });
  });

  it('makes a new boundary for each run, one word on one line', () => {
    expect(newBoundary()).not.toBe(newBoundary());
    expect(B).not.toMatch(/\s/); // the shim reads it and the tar's size as one line split at a space
  });
});
