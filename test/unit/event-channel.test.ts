import { describe, expect, it } from 'vitest';
import { EventChannel } from '../../src/runner/run/event-channel.js';

const sizeOf = (s: string) => s.length;

describe('EventChannel', () => {
  it('delivers items in order and ends after close', async () => {
    const ch = new EventChannel<string>(sizeOf);
    void (async () => {
      await ch.push('a');
      await ch.push('b');
      ch.close();
    })();
    const got: string[] = [];
    for await (const x of ch) got.push(x);
    expect(got).toEqual(['a', 'b']);
  });

  it('holds the producer while more than the high-water mark is buffered', async () => {
    const ch = new EventChannel<string>(sizeOf, 4);
    let released = false;
    await ch.push('abc');
    const blocked = ch.push('defgh').then(() => (released = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(released).toBe(false);
    const it = ch[Symbol.asyncIterator]();
    expect((await it.next()).value).toBe('abc');
    expect((await it.next()).value).toBe('defgh');
    await blocked;
    expect(released).toBe(true);
  });

  it('gives what queued up meanwhile as one batch, and releases the producer once it is taken', async () => {
    const ch = new EventChannel<string>(sizeOf, 4);
    await ch.push('ab');
    let released = false;
    const blocked = ch.push('cde').then(() => (released = true));
    const batches = ch.batches();
    expect((await batches.next()).value).toEqual(['ab', 'cde']);
    await blocked;
    expect(released).toBe(true);
    const later = batches.next();
    await ch.push('f');
    ch.close();
    expect((await later).value).toEqual(['f']);
    expect((await batches.next()).done).toBe(true);
  });

  it('releases a blocked producer and drops items when abandoned', async () => {
    const ch = new EventChannel<string>(sizeOf, 1);
    const blocked = ch.push('too big');
    ch.abandon();
    await blocked;
    await ch.push('ignored');
    const got: string[] = [];
    for await (const x of ch) got.push(x);
    expect(got).toEqual([]);
  });
});
