import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, jsonOf, post, type Harness } from './helpers/harness.js';

// A reply longer than MAX_STORED_OUTPUT_BYTES streams whole but is stored as head + tail.
const STORED = 64 * 1024;
let h: Harness;
beforeAll(() => {
  h = createHarness({ maxStoredOutputBytes: STORED });
});
afterEach(async () => expect(await h.leftovers()).toEqual([]));
afterAll(() => h.close());

const SEQ = Array.from({ length: 100_000 }, (_, i) => `${i + 1}\n`).join(''); // what `seq 100000` prints
const clipped = (full: string) => {
  const omitted = Buffer.byteLength(full) - STORED;
  return {
    text: `${full.slice(0, STORED / 2)}\n[ephemera: ${omitted} bytes omitted]\n${full.slice(-STORED / 2)}`,
    omitted,
  };
};

describe('a reply longer than MAX_STORED_OUTPUT_BYTES', () => {
  it('streams whole, is stored as its head and tail, and says what it left out', async () => {
    const res = await h.app.request(post('/v1/run', 'seq 100000', { accept: 'text/plain' }));
    expect(await res.text()).toBe(SEQ);
    const sessionId = res.headers.get('x-session-id')!;

    const detail = await jsonOf(h.app.request(`/v1/sessions/${sessionId}`));
    const reply = detail.messages.at(-1);
    const want = clipped(SEQ);
    expect(reply).toMatchObject({ role: 'assistant', content: want.text, omitted_bytes: want.omitted });
    expect(detail.messages[0]).toMatchObject({ role: 'user', omitted_bytes: 0 });
    const run = await jsonOf(h.app.request(`/v1/runs/${res.headers.get('x-run-id')}`));
    expect(run.metrics.bytes_out).toBe(Buffer.byteLength(SEQ));

    // The next turn replays what was stored.
    const next = await jsonOf(
      h.app.request(
        post(`/v1/sessions/${sessionId}/messages`, 'sed -n 2p /ephemera/history.jsonl', { accept: 'application/json' }),
      ),
    );
    expect(JSON.parse(next.output)).toMatchObject({ role: 'assistant', content: want.text });
  });

  it('comes whole in a JSON answer, stdout and stderr alike, and is stored clipped', async () => {
    const r = await jsonOf(
      h.app.request(post('/v1/run', 'seq 100000; seq 100000 >&2', { accept: 'application/json' })),
    );
    expect(r.status).toBe('succeeded');
    expect(r.output).toBe(SEQ);
    expect(r.stderr).toBe(SEQ);
    const run = (await h.service.transcripts.getRun(r.run_id))!;
    expect(run.stderr).toBe(clipped(SEQ).text);
    expect((await h.service.transcripts.messagesOf(r.session_id)).at(-1)).toMatchObject({
      content: clipped(SEQ).text,
      omittedBytes: clipped(SEQ).omitted,
    });
  });

  it('keeps a reply that fits as it is', async () => {
    const r = await jsonOf(
      h.app.request(post('/v1/run', `head -c ${STORED} /dev/zero | tr '\\0' x`, { accept: 'application/json' })),
    );
    expect((await h.service.transcripts.messagesOf(r.session_id)).at(-1)).toMatchObject({
      content: 'x'.repeat(STORED),
      omittedBytes: 0,
    });
  });
});
