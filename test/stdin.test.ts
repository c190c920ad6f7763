import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, post, type Harness, jsonOf } from './helpers/harness.js';

let h: Harness;
beforeAll(() => {
  h = createHarness();
});
afterEach(async () => expect(await h.leftovers()).toEqual([]));
afterAll(() => h.close());

// dockerode can leak the attach options' JSON into the front of stdin (dockerode #777):
// `cat` must echo the prompt back byte for byte, every time.
describe('stdin reaches the process byte for byte', () => {
  const samples = [
    'hello',
    'no trailing newline',
    'two\nlines\n',
    'UTF-8: héllo wörld, 日本語, emoji 🚀, combining é',
    '{"stream":true,"stdin":true,"stdout":true,"stderr":true,"hijack":true}',
    ' leading space and tabs\t\t',
    'x'.repeat(200_000),
  ];
  it.each(samples.map((s) => [s.length > 60 ? `${s.slice(0, 20)}… (${s.length} chars)` : s, s]))(
    '%s',
    async (_label, prompt) => {
      const res = await h.app.request(post('/v1/run?agent=cat', prompt));
      const bytes = Buffer.from(await res.arrayBuffer());
      expect(bytes.equals(Buffer.from(prompt, 'utf8'))).toBe(true);
    },
  );

  it('stays exact over 20 runs in a row, 4 at a time', async () => {
    const prompts = Array.from({ length: 20 }, (_, i) => `run ${i}: ${'ab\n'.repeat(i * 10)}end`);
    for (let i = 0; i < prompts.length; i += 4) {
      const batch = prompts.slice(i, i + 4);
      const outs = await Promise.all(
        batch.map(async (p) => (await h.app.request(post('/v1/run?agent=cat', p))).text()),
      );
      expect(outs).toEqual(batch);
    }
  });

  it('gives the process EOF, so a program that reads all of stdin ends', async () => {
    const res = await h.app.request(
      post('/v1/run', JSON.stringify({ prompt: 'abc', agent: 'cat' }), {
        'content-type': 'application/json',
        accept: 'application/json',
      }),
    );
    expect(await jsonOf(res)).toMatchObject({ status: 'succeeded', output: 'abc' });
  });
});
