import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeGemini, type FakeGemini } from './fake-gemini/server.js';
import { GATEWAY_PORT_WAIT_MS, holdGatewayPort } from './helpers/gateway-port.js';
import { GATEWAY_PORT, gatewayTo, geminiProfiles, hostAddressFromContainers } from './helpers/gemini.js';
import { createHarness, listen, waitFor, type Harness } from './helpers/harness.js';

// The OpenAI-compatible API, through the official `openai` SDK pointed at the service: the
// shell and cat agents, and the real Gemini CLI against a fake Gemini API.

const API_KEY = `AIzaFAKE-${randomBytes(12).toString('hex')}`;
let fake: FakeGemini;
let h: Harness;
let server: Awaited<ReturnType<typeof listen>>;
let client: OpenAI;
let releasePort: (() => void) | undefined;
beforeAll(async () => {
  releasePort = await holdGatewayPort();
  fake = await startFakeGemini({ host: '127.0.0.1', apiKey: API_KEY });
  h = createHarness({ profiles: geminiProfiles(), geminiApiKey: API_KEY, modelGateway: gatewayTo(fake.url) });
  await h.service.gateway.listen(hostAddressFromContainers(), GATEWAY_PORT);
  server = await listen(h.app);
  client = new OpenAI({
    baseURL: `${server.url}/v1`,
    apiKey: (await h.service.keys.create('sdk', 'user')).key,
    maxRetries: 0,
  });
}, GATEWAY_PORT_WAIT_MS);
afterAll(() => releasePort?.());
afterEach(async () =>
  expect(await waitFor(async () => ((await h.leftovers()).length === 0 ? [] : undefined), 10_000)).toEqual([]),
);
afterAll(async () => {
  await server?.close();
  await h?.close();
  await fake?.close();
});

const user = (content: string) => ({ role: 'user' as const, content });

describe('the OpenAI-compatible API', () => {
  it('lists each profile as a model', async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids).toEqual(expect.arrayContaining(['shell', 'cat', 'gemini']));
    expect((await client.models.retrieve('cat')).id).toBe('cat');
  });

  it('answers whole: a shell script, and cat', async () => {
    const c = await client.chat.completions.create({ model: 'shell', messages: [user('echo "hello $((6*7))"')] });
    expect(c.object).toBe('chat.completion');
    expect(c.choices[0]!.message).toMatchObject({ role: 'assistant', content: 'hello 42\n' });
    expect(c.choices[0]!.finish_reason).toBe('stop');
    const cat = await client.chat.completions.create({ model: 'cat', messages: [user('said back')] });
    expect(cat.choices[0]!.message.content).toBe('said back');
  });

  it('streams chunks as they come, ending with [DONE]', async () => {
    const stream = await client.chat.completions.create({
      model: 'shell',
      messages: [user('echo one; sleep 0.3; echo two')],
      stream: true,
    });
    const deltas: string[] = [];
    let finish: string | null = null;
    for await (const chunk of stream) {
      expect(chunk.object).toBe('chat.completion.chunk');
      const choice = chunk.choices[0]!;
      if (choice.delta.content) deltas.push(choice.delta.content);
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    expect(deltas.join('')).toBe('one\ntwo\n');
    expect(deltas.length).toBeGreaterThanOrEqual(2); // not one piece at the end
    expect(finish).toBe('stop');
  });

  it('runs a completion retried with the same Idempotency-Key once, answering the retries from the store, whole and streamed', async () => {
    const key = { headers: { 'Idempotency-Key': `retry-${randomBytes(6).toString('hex')}` } };
    const body = { model: 'shell', messages: [user('earlier'), user('echo "ran $RANDOM$RANDOM"')] };
    const { data: first, response } = await client.chat.completions.create(body, key).withResponse();
    const sessionId = response.headers.get('x-session-id')!;
    expect(first.choices[0]!.message.content).toMatch(/^ran \d+\n$/);
    const { data: again, response: replayed } = await client.chat.completions.create(body, key).withResponse();
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');
    expect(again.choices[0]!.message.content).toBe(first.choices[0]!.message.content);
    expect(again.id).toBe(first.id);
    const deltas: string[] = [];
    let finish: string | null = null;
    for await (const chunk of await client.chat.completions.create({ ...body, stream: true }, key)) {
      if (chunk.choices[0]?.delta.content) deltas.push(chunk.choices[0].delta.content);
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect([deltas.join(''), finish]).toEqual([first.choices[0]!.message.content, 'stop']);
    // One run, one session, the earlier message stored once.
    expect(await h.rows('select count(*) as n from runs where session_id = ?', sessionId)).toEqual([{ n: 1 }]);
    expect((await h.service.transcripts.messagesOf(sessionId)).map((m) => m.content)).toEqual([
      'earlier',
      body.messages[1]!.content,
      first.choices[0]!.message.content,
    ]);
    // The same key with another prompt is refused.
    const reused = await client.chat.completions
      .create({ ...body, messages: [user('echo other')] }, key)
      .catch((err: unknown) => err);
    expect(reused).toBeInstanceOf(OpenAI.APIError);
    expect(reused).toMatchObject({ status: 422, error: { code: 'IDEMPOTENCY_KEY_REUSED' } });
  });

  it("makes the earlier messages a new session's history, and continues a session named by X-Session-Id", async () => {
    const { data, response } = await client.chat.completions
      .create({
        model: 'shell',
        messages: [
          { role: 'system', content: 'be brief' },
          user('echo one'),
          { role: 'assistant', content: 'one\n' },
          user('wc -l < /ephemera/history.jsonl'),
        ],
      })
      .withResponse();
    expect(data.choices[0]!.message.content).toBe('3\n');
    const sessionId = response.headers.get('x-session-id')!;
    expect((data as unknown as { ephemera: { session_id: string } }).ephemera.session_id).toBe(sessionId);
    // Named: the stored transcript is the history (3 earlier + the prompt and its reply); what is re-sent is not read.
    const next = await client.chat.completions.create(
      { model: 'shell', messages: [user('ignored'), user('wc -l < /ephemera/history.jsonl')] },
      { headers: { 'X-Session-Id': sessionId } },
    );
    expect(next.choices[0]!.message.content).toBe('5\n');
  });

  it('runs the real Gemini CLI against the fake model, whole and streamed, with usage', async () => {
    const c = await client.chat.completions.create({ model: 'gemini', messages: [user('Say hello')] });
    expect(c.choices[0]!.message.content).toBe('Hello from the fake model: turns=1');
    expect(c.usage?.total_tokens).toBeGreaterThan(0);
    // Earlier messages reach the model as the replayed session.
    const stream = await client.chat.completions.create({
      model: 'gemini',
      messages: [user('first'), { role: 'assistant', content: 'an answer' }, user('second')],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('Hello from the fake model: turns=3');
    expect(usage?.completion_tokens).toBeGreaterThan(0);
  });

  it("maps errors to OpenAI's shape and statuses", async () => {
    const unknown = await client.chat.completions
      .create({ model: 'nope', messages: [user('hi')] })
      .catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    expect((unknown as InstanceType<typeof OpenAI.APIError>).error).toMatchObject({
      type: 'not_found_error',
      code: 'NOT_FOUND',
    });

    const bad = await client.chat.completions
      .create({ model: 'shell', messages: [{ role: 'assistant', content: 'no prompt' }] })
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect((bad as InstanceType<typeof OpenAI.APIError>).message).toMatch(/last message must be the user's/);

    const failed = await client.chat.completions
      .create({ model: 'shell', messages: [user('echo partial; exit 3')] })
      .catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(OpenAI.APIError);
    expect((failed as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect((failed as InstanceType<typeof OpenAI.APIError>).message).toMatch(/ended failed \(exit code 3\)/);

    const noKey = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'eph_wrong_wrongwrongwrong', maxRetries: 0 });
    expect(await noKey.models.list().catch((e: unknown) => e)).toBeInstanceOf(OpenAI.AuthenticationError);

    const streamed = await client.chat.completions.create({
      model: 'shell',
      messages: [user('echo partial; exit 3')],
      stream: true,
    });
    const seen: string[] = [];
    const err = await (async () => {
      for await (const chunk of streamed) seen.push(chunk.choices[0]?.delta.content ?? '');
    })().catch((e: unknown) => e);
    expect(seen.join('')).toBe('partial\n');
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as Error).message).toMatch(/exit code 3/);
  });

  it('answers 429 with Retry-After when the service is full', async () => {
    const full = createHarness({ maxConcurrentRuns: 1, maxQueuedRuns: 1, queueTimeoutMs: 200 });
    const s = await listen(full.app);
    try {
      const sdk = new OpenAI({
        baseURL: `${s.url}/v1`,
        apiKey: (await full.service.keys.create('sdk', 'user')).key,
        maxRetries: 0,
      });
      const busy = sdk.chat.completions.create({ model: 'shell', messages: [user('sleep 2')] });
      await waitFor(() => full.service.runs.admission.inFlight === 1);
      const refused = await sdk.chat.completions
        .create({ model: 'shell', messages: [user('echo hi')] })
        .catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
      expect(Number((refused as InstanceType<typeof OpenAI.APIError>).headers?.get('retry-after'))).toBeGreaterThan(0);
      expect((refused as InstanceType<typeof OpenAI.APIError>).error).toMatchObject({
        type: 'rate_limit_error',
        code: 'CAPACITY',
      });
      await busy;
    } finally {
      await s.close();
      await full.close();
    }
  });

  it('cancels the run when the client aborts', async () => {
    const abort = new AbortController();
    const stream = await client.chat.completions.create(
      { model: 'shell', messages: [user('echo up; sleep 30')], stream: true },
      { signal: abort.signal },
    );
    const runId = (
      await waitFor(
        async () =>
          (
            await h.rows<{ id: string }>(
              `select id from runs where status = 'running' order by created_at desc limit 1`,
            )
          )[0],
      )
    ).id;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content === 'up\n') break; // leaving the loop aborts the request
    }
    const t0 = Date.now();
    abort.abort();
    const ended = await waitFor(async () => {
      const r = (await h.service.transcripts.getRun(runId))!;
      return r.status !== 'running' ? r : undefined;
    }, 5000);
    expect(ended.status).toBe('cancelled');
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});
