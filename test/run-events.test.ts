import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, jsonOf, type Harness } from './helpers/harness.js';
import { sseEvents, sseReader } from './helpers/sse.js';

let h: Harness;
let alice: string;
let bob: string;
beforeAll(async () => {
  h = createHarness();
  alice = (await h.service.keys.create('alice', 'user')).key;
  bob = (await h.service.keys.create('bob', 'user')).key;
});
afterEach(async () => expect(await h.leftovers()).toEqual([]));
afterAll(() => h.close());

const as = (key: string, path: string, init: RequestInit = {}) =>
  h.app.request(
    new Request(`http://localhost${path}`, {
      ...init,
      headers: { authorization: `Bearer ${key}`, ...(init.headers as Record<string, string>) },
    }),
  );
const sse = { accept: 'text/event-stream' };

/** Runs a prompt to its end as a streamed SSE request; its events as the client read them. */
async function streamedRun(prompt: string) {
  const res = await as(alice, '/v1/run', { method: 'POST', body: prompt, headers: sse });
  expect(res.status).toBe(200);
  return { runId: res.headers.get('x-run-id')!, events: sseEvents(await res.text()) };
}

describe('GET /v1/runs/{id}/events', () => {
  it('gives back every event of a finished run, with the ids and data its stream had, as SSE, JSON and NDJSON', async () => {
    const { runId, events } = await streamedRun('echo out; echo oops >&2; printf "caf\\303"; printf "\\251\\n"');
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => `${runId}:${i + 1}`));
    expect(events.map((e) => e.event)).toContain('stderr');
    expect(events.at(-1)).toMatchObject({ event: 'done', data: { status: 'succeeded' } });

    const again = sseEvents(await (await as(alice, `/v1/runs/${runId}/events`, { headers: sse })).text());
    expect(again).toEqual(events);

    const page = await jsonOf(as(alice, `/v1/runs/${runId}/events`));
    expect(page).toMatchObject({ next_after: null, run_status: 'succeeded' });
    expect(page.items.map((e: { id: string; event: string; data: unknown }) => [e.id, e.event, e.data])).toEqual(
      events.map((e) => [e.id, e.event, e.data]),
    );
    const out = page.items.filter((e: { event: string }) => e.event === 'stdout').map((e: any) => e.data.data);
    expect(out.join('')).toBe('out\ncafé\n');

    const nd = await as(alice, `/v1/runs/${runId}/events`, { headers: { accept: 'application/x-ndjson' } });
    expect(nd.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const lines = (await nd.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toEqual(page.items);
  });

  it('pages JSON with limit and after, and resumes SSE after Last-Event-ID or ?after=', async () => {
    const { runId, events } = await streamedRun('for i in 1 2 3 4 5; do echo $i; sleep 0.05; done');
    const first = await jsonOf(as(alice, `/v1/runs/${runId}/events?limit=2`));
    expect(first.items.map((e: { seq: number }) => e.seq)).toEqual([1, 2]);
    expect(first.next_after).toBe(`${runId}:2`);
    const second = await jsonOf(as(alice, `/v1/runs/${runId}/events?limit=2&after=${first.next_after}`));
    expect(second.items.map((e: { seq: number }) => e.seq)).toEqual([3, 4]);
    const bySeq = await jsonOf(as(alice, `/v1/runs/${runId}/events?limit=2&after=4`));
    expect(bySeq.items.map((e: { seq: number }) => e.seq)).toEqual([5, 6]);

    const header = await as(alice, `/v1/runs/${runId}/events?after=1`, {
      headers: { ...sse, 'last-event-id': `${runId}:3` },
    });
    expect(sseEvents(await header.text())).toEqual(events.slice(3));
    const query = await as(alice, `/v1/runs/${runId}/events?after=${runId}:${events.length - 1}`, { headers: sse });
    expect(sseEvents(await query.text())).toEqual(events.slice(-1));
  });

  it('follows a live run: a reader who joins mid-run gets what it missed, then the rest as it comes', async () => {
    const res = await as(alice, '/v1/run', {
      method: 'POST',
      body: 'echo one; sleep 1; echo two; sleep 1; echo three',
      headers: sse,
    });
    const runId = res.headers.get('x-run-id')!;
    const live = sseReader(res);
    const seen = [await live.next(), await live.next()];
    expect(seen.map((e) => e?.event)).toEqual(['run', 'stdout']);
    // The first client goes on reading; a second one resumes after the event it saw last.
    const follower = sseReader(
      await as(alice, `/v1/runs/${runId}/events`, { headers: { ...sse, 'last-event-id': seen[1]!.id! } }),
    );
    const next = await follower.next();
    expect(next).toMatchObject({ id: `${runId}:3`, event: 'stdout', data: { data: 'two\n' } });
    const [rest, original] = await Promise.all([follower.rest(), live.rest()]);
    expect([next, ...rest]).toEqual(original);
    expect(rest.at(-1)?.event).toBe('done');
  });

  it('answers 404 for an unknown run or another owner’s, and 400 for a malformed id or one of another run', async () => {
    const { runId } = await streamedRun('echo mine');
    const other = await streamedRun('echo other');
    for (const [key, path] of [
      [bob, `/v1/runs/${runId}/events`],
      [alice, '/v1/runs/run_nosuchrun/events'],
    ] as const) {
      const res = await as(key, path, { headers: sse });
      expect(res.status).toBe(404);
      expect((await jsonOf(res)).error.code).toBe('NOT_FOUND');
    }
    for (const cursor of [
      'abc',
      '-1',
      '1.5',
      `${other.runId}:2`,
      '9'.repeat(16),
      '2147483648',
      `${runId}:999999999999999`,
    ]) {
      const res = await as(alice, `/v1/runs/${runId}/events`, { headers: { ...sse, 'last-event-id': cursor } });
      expect(res.status, cursor).toBe(400);
      expect((await jsonOf(res)).error.code).toBe('INVALID_QUERY');
    }
    const bad = await as(alice, `/v1/runs/${runId}/events?limit=0`);
    expect(bad.status).toBe(400);
  });

  it("ends a log that lost its done with the stored run's end, so a client does not reconnect for ever", async () => {
    const { runId, events } = await streamedRun('echo partial; exit 3');
    await h.rows("delete from run_events where run_id = ? and type = 'done'", runId);
    const again = sseEvents(await (await as(alice, `/v1/runs/${runId}/events`, { headers: sse })).text());
    expect(again.slice(0, -1)).toEqual(events.slice(0, -1));
    expect(again.at(-1)).toMatchObject({
      id: `${runId}:${events.length}`,
      event: 'done',
      data: { status: 'failed', exit_code: 3 },
    });
  });

  it('is deleted with its session', async () => {
    const admin = (await h.service.keys.create('root', 'admin')).key;
    const { runId } = await streamedRun('echo gone');
    const res = await as(alice, `/v1/runs/${runId}/events`);
    const sessionId = (await jsonOf(as(alice, `/v1/runs/${runId}`))).session_id;
    expect((await jsonOf(res)).items.length).toBeGreaterThan(0);
    expect((await as(admin, `/v1/sessions/${sessionId}`, { method: 'DELETE' })).status).toBe(204);
    expect(await h.rows('select seq from run_events where run_id = ?', runId)).toEqual([]);
  });
});
