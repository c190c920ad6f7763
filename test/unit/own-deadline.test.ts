import { afterEach, describe, expect, it, vi } from 'vitest';
import { ImageCommandCache, type ImageCommand } from '../../src/runner/docker/image-commands.js';
import { underTimeout, wrapperFailed } from '../../src/runner/docker/own-deadline.js';
import { RuntimeError } from '../../src/runner/runtime.js';

describe('underTimeout', () => {
  const now = Date.now();
  afterEach(() => vi.useRealTimers());
  const at = (ms: number) => {
    vi.useFakeTimers({ now, toFake: ['Date'] });
    return now + ms;
  };

  it('wraps the image ENTRYPOINT, then the command, as the engine would have run them', () => {
    const own = { entrypoint: ['/usr/local/bin/ephemera-gemini'], cmd: ['--help'] };
    expect(underTimeout('g', at(12_000), own, ['--model', 'm'])).toEqual({
      Entrypoint: ['timeout', '-s', 'KILL', '12', '/usr/local/bin/ephemera-gemini'],
      Cmd: ['--model', 'm'],
    });
  });

  it('puts the workspace shim outside timeout (coreutils timeout stays the parent the shim would kill)', () => {
    const own = { entrypoint: ['/e'], cmd: [] };
    expect(underTimeout('g', at(3_000), own, ['x'], ['sh', '-c', 'shim', 'ephemera-workspace', '/w'])).toEqual({
      Entrypoint: ['sh', '-c', 'shim', 'ephemera-workspace', '/w', 'timeout', '-s', 'KILL', '3', '/e'],
      Cmd: ['x'],
    });
    expect(underTimeout('g', undefined, own, ['x'], ['s'])).toEqual({ Entrypoint: ['s', '/e'], Cmd: ['x'] });
  });

  it("runs the image's CMD when the profile gives no command", () => {
    expect(underTimeout('s', at(5_000), { entrypoint: [], cmd: ['sh', '-s'] }, undefined)).toEqual({
      Entrypoint: ['timeout', '-s', 'KILL', '5'],
      Cmd: ['sh', '-s'],
    });
  });

  it('counts whole seconds, rounded up, and never 0 (coreutils reads 0 as no deadline)', () => {
    const own = { entrypoint: [], cmd: ['true'] };
    expect(underTimeout('s', at(1_001), own, undefined).Entrypoint[3]).toBe('2');
    expect(underTimeout('s', at(0), own, undefined).Entrypoint[3]).toBe('1');
    expect(underTimeout('s', at(-5_000), own, undefined).Entrypoint[3]).toBe('1');
  });

  it('refuses an image with nothing to run', () => {
    expect(() => underTimeout('empty', at(1000), { entrypoint: [], cmd: [] }, undefined)).toThrow(RuntimeError);
  });
});

describe('wrapperFailed', () => {
  it("reads tini's exec failure of timeout, and nothing else", () => {
    expect(
      wrapperFailed('i', 127, '[FATAL tini (7)] exec timeout failed: No such file or directory\n')?.message,
    ).toContain('"own_deadline": false');
    expect(wrapperFailed('i', 127, "timeout: can't execute 'nosuch': No such file or directory\n")).toBeUndefined();
    expect(wrapperFailed('i', 1, '[FATAL tini (7)] exec timeout failed: No such file or directory\n')).toBeUndefined();
  });
});

describe('ImageCommandCache', () => {
  const cmd = (n: number): ImageCommand => ({ entrypoint: [], cmd: [String(n)] });

  it('asks the engine once per image, concurrent first runs included', async () => {
    const inspect = vi.fn(async (image: string) => cmd(image.length));
    const cache = new ImageCommandCache(inspect);
    await Promise.all([cache.get('a'), cache.get('a'), cache.get('bb')]);
    expect(await cache.get('a')).toEqual(cmd(1));
    expect(inspect.mock.calls.map((c) => c[0])).toEqual(['a', 'bb']);
  });

  it('does not keep a failure: the next run asks again', async () => {
    let fail = true;
    const cache = new ImageCommandCache(async () => {
      if (fail) throw new Error('no such image');
      return cmd(1);
    });
    await expect(cache.get('a')).rejects.toThrow('no such image');
    fail = false;
    expect(await cache.get('a')).toEqual(cmd(1));
  });

  it('answers an old entry at once and refreshes it in the background', async () => {
    let version = 1;
    const inspect = vi.fn(async () => cmd(version));
    const cache = new ImageCommandCache(inspect, 0);
    expect(await cache.get('a')).toEqual(cmd(1));
    version = 2;
    await new Promise((r) => setTimeout(r, 2));
    expect(await cache.get('a')).toEqual(cmd(1)); // stale, answered without waiting
    await vi.waitFor(async () => expect(await cache.get('a')).toEqual(cmd(2)));
  });
});
