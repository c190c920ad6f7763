import { describe, expect, it } from 'vitest';
import { cutAtCharEnd, cutAtCharStart, OutputBuffer } from '../../src/runner/run/output-buffer.js';

const feed = (buf: OutputBuffer, text: string, chunk: number) => {
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += chunk) buf.append(bytes.subarray(i, i + chunk));
};

describe('OutputBuffer', () => {
  it('stores everything when it fits, whatever the chunking', () => {
    for (const chunk of [1, 3, 1000]) {
      const b = new OutputBuffer(100, false);
      feed(b, `${'x'.repeat(99)}y`, chunk);
      expect(b.stored()).toEqual({ text: `${'x'.repeat(99)}y`, omittedBytes: 0 });
      expect(b.text()).toBe(`${'x'.repeat(99)}y`);
    }
  });

  it('keeps the head and the tail of what does not fit, and says how much it left out', () => {
    const text = Array.from({ length: 1000 }, (_, i) => `${i}`.padStart(4, '0')).join(''); // 4000 bytes
    for (const chunk of [1, 7, 64, 4000]) {
      const b = new OutputBuffer(100, false);
      feed(b, text, chunk);
      expect(b.bytes).toBe(4000);
      expect(b.stored()).toEqual({
        text: `${text.slice(0, 50)}\n[ephemera: 3900 bytes omitted]\n${text.slice(-50)}`,
        omittedBytes: 3900,
      });
      expect(b.text()).toBe(b.stored().text);
    }
  });

  it('holds about storedMax bytes however much is appended, unless asked to keep the whole', () => {
    const b = new OutputBuffer(1000, false);
    for (let i = 0; i < 10_000; i++) b.append(Buffer.alloc(100, 97));
    expect(b.heldBytes).toBeLessThanOrEqual(1100); // head 500, tail 500 plus at most one chunk
    expect(b.stored().omittedBytes).toBe(1_000_000 - 1000);

    const whole = new OutputBuffer(1000, true);
    feed(whole, 'abc'.repeat(1000), 10);
    expect(whole.text()).toBe('abc'.repeat(1000));
    expect(whole.stored().omittedBytes).toBe(2000);
  });

  it('never cuts a character in two', () => {
    const text = 'é'.repeat(100); // 200 bytes, 2 each
    const b = new OutputBuffer(51, false); // head 26, tail 25: the tail starts mid-character
    feed(b, text, 3);
    const { text: stored, omittedBytes } = b.stored();
    expect(stored).not.toContain('\uFFFD');
    expect(stored).toBe(`${'é'.repeat(13)}\n[ephemera: 150 bytes omitted]\n${'é'.repeat(12)}`);
    expect(omittedBytes).toBe(150);
  });

  it('cuts UTF-8 only between characters', () => {
    const euro = Buffer.from('€'); // 3 bytes
    expect(cutAtCharEnd(Buffer.concat([Buffer.from('a'), euro.subarray(0, 2)])).toString()).toBe('a');
    expect(cutAtCharEnd(Buffer.concat([Buffer.from('a'), euro])).toString()).toBe('a€');
    expect(cutAtCharStart(Buffer.concat([euro.subarray(1), Buffer.from('b')])).toString()).toBe('b');
    expect(cutAtCharStart(Buffer.from('plain')).toString()).toBe('plain');
  });
});
