import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, jsonOf, waitFor, type Harness } from './helpers/harness.js';
import { sseEvents, sseReader } from './helpers/sse.js';

let h: Harness;
beforeAll(() => {
  h = createHarness();
});
afterEach(async () => expect(await h.leftovers()).toEqual([]));
afterAll(() => h.close());

const send = (path: string, init: RequestInit = {}) => h.app.request(new Request(`http://localhost${path}`, init));
const async = { prefer: 'respond-async' };
const sse = { accept: 'text/event-stream' };

/** The run's row once it has ended. */
const ended = (runId: string) =>
  waitFor(async () => {
    const run = await jsonOf(send(`/v1/runs/${runId}`));
    return run.status !== 'running' && run;
  }, 10_000);

describe('Prefer: respond-async', () => {
  it('answers 202 once the container runs, and the run goes on to its end with nobody attached', async () => {
    const res = await send('/v1/run', { method: 'POST', body: 'sleep 1; echo late', headers: async });
    expect(res.status).toBe(202);
    const body = await jsonOf(res);
    expect(body).toEqual({
      run_id: expect.stringMatching(/^run_/),
      session_id: expect.stringMatching(/^ses_/),
      status: 'running',
      location: `/v1/runs/${body.run_id}`,
      events: `/v1/runs/${body.run_id}/events`,
    });
    expect(res.headers.get('location')).toBe(body.location);
    expect(res.headers.get('preference-applied')).toBe('respond-async');
    expect(res.headers.get('x-run-id')).toBe(body.run_id);
    expect((await jsonOf(send(body.location))).status).toBe('running');

    // Its log can be followed from the start, to the end.
    const events = sseEvents(await (await send(body.events, { headers: sse })).text());
    expect(events.map((e) => e.event)).toEqual(['run', 'stdout', 'done']);
    expect(events[1]!.data).toEqual({ data: 'late\n' });
    expect(await ended(body.run_id)).toMatchObject({ status: 'succeeded', exit_code: 0 });
    const session = await jsonOf(send(`/v1/sessions/${body.session_id}`));
    expect(session.messages.map((m: { content: string }) => m.content)).toEqual(['sleep 1; echo late', 'late\n']);
  });

  it("runs a session's next turn detached too, with its history replayed", async () => {
    const first = await jsonOf(send('/v1/run', { method: 'POST', body: 'echo one', headers: async }));
    await ended(first.run_id);
    const res = await send(`/v1/sessions/${first.session_id}/messages`, {
      method: 'POST',
      body: 'wc -l < /ephemera/history.jsonl',
      headers: async,
    });
    expect(res.status).toBe(202);
    const next = await jsonOf(res);
    expect(next.session_id).toBe(first.session_id);
    await ended(next.run_id);
    const page = await jsonOf(send(`/v1/runs/${next.run_id}/events`));
    const out = page.items.filter((e: { event: string }) => e.event === 'stdout');
    expect(out.map((e: { data: { data: string } }) => e.data.data.trim())).toEqual(['2']);
  });

  it('refuses as a streamed request would: bad input and unknown sessions get their errors, not 202', async () => {
    const bad = await send('/v1/run', {
      method: 'POST',
      body: JSON.stringify({ prompt: 'x', agent: 'nope' }),
      headers: { ...async, 'content-type': 'application/json' },
    });
    expect(bad.status).toBe(400);
    const gone = await send('/v1/sessions/ses_nosuchsession/messages', { method: 'POST', body: 'x', headers: async });
    expect(gone.status).toBe(404);
    const ghost = await send('/v1/run?agent=ghost', { method: 'POST', body: 'x', headers: async });
    expect((await jsonOf(ghost)).error.code).toBe('IMAGE_NOT_FOUND');
  });
});

describe('a keyed run whose client left', () => {
  it('is followed again by an SSE retry, from its first event to done; a detached retry is the same run', async () => {
    const key = { 'idempotency-key': `k-${Math.random()}` };
    const prompt = 'echo a; sleep 3; echo b';
    const res = await send('/v1/run', { method: 'POST', body: prompt, headers: { ...sse, ...key } });
    const runId = res.headers.get('x-run-id')!;
    const first = sseReader(res);
    const seen = [await first.next(), await first.next()];
    expect(seen.map((e) => e?.event)).toEqual(['run', 'stdout']);
    await first.close(); // the client leaves; the keyed run goes on

    const again = await send('/v1/run', { method: 'POST', body: prompt, headers: { ...async, ...key } });
    expect(again.status).toBe(202);
    expect((await jsonOf(again)).run_id).toBe(runId);

    const retry = await send('/v1/run', { method: 'POST', body: prompt, headers: { ...sse, ...key } });
    expect(retry.status).toBe(200);
    expect(retry.headers.get('x-run-id')).toBe(runId);
    const events = sseEvents(await retry.text());
    expect(events.slice(0, 2)).toEqual(seen);
    expect(events.map((e) => e.event)).toEqual(['run', 'stdout', 'stdout', 'done']);
    expect(events.map((e) => e.id)).toEqual([1, 2, 3, 4].map((n) => `${runId}:${n}`));
    expect(events.at(-1)!.data).toMatchObject({ status: 'succeeded' });

    // Ended: the stored outcome, as before.
    const stored = await send('/v1/run', {
      method: 'POST',
      body: prompt,
      headers: { accept: 'application/json', ...key },
    });
    expect(stored.headers.get('idempotent-replayed')).toBe('true');
    expect((await jsonOf(stored)).output).toBe('a\nb\n');
  });
});
