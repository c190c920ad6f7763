import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic, type FakeAnthropicRequest } from './fake-anthropic/server.js';
import { claudeGatewayTo, claudeImage, claudeProfiles } from './helpers/claude.js';
import { GATEWAY_PORT_WAIT_MS, holdGatewayPort } from './helpers/gateway-port.js';
import { GATEWAY_PORT, hostAddressFromContainers } from './helpers/gemini.js';
import { ON_PODMAN } from './helpers/engine-proxy.js';
import { createHarness, jsonOf, listen, post, waitFor, type Harness } from './helpers/harness.js';
import { BUILTIN_PROFILES, loadProfiles, parseProfiles } from '../src/settings.js';

// The real Claude Code CLI, in its image, one container per request, on the locked egress
// network, against a fake Anthropic Messages API reached only through the model gateway.
const API_KEY = `sk-ant-fake-${randomBytes(12).toString('hex')}`;
let fake: FakeAnthropic;
let h: Harness;
let server: Awaited<ReturnType<typeof listen>>;
const logLines: string[] = [];
let releasePort: (() => void) | undefined;

beforeAll(async () => {
  releasePort = await holdGatewayPort();
  fake = await startFakeAnthropic({ host: '127.0.0.1', apiKey: API_KEY });
  h = createHarness({
    profiles: claudeProfiles(),
    secrets: { ANTHROPIC_API_KEY: API_KEY },
    logLines,
    modelGateway: claudeGatewayTo(fake.url),
  });
  await h.service.gateway.listen(hostAddressFromContainers(), GATEWAY_PORT);
  server = await listen(h.app);
}, GATEWAY_PORT_WAIT_MS);
afterAll(() => releasePort?.()); // registered first: runs last
afterEach(async () => {
  expect(await h.leftovers()).toEqual([]);
  expect(h.service.modelTokens.live).toBe(0);
});
afterAll(async () => {
  await server?.close();
  await h?.close();
  await fake?.close();
});

const modelCalls = () => fake.requests.filter((r) => r.path === '/v1/messages');

function sseEvents(text: string) {
  return text
    .trim()
    .split('\n\n')
    .map((block) => ({ event: /^event: (.*)$/m.exec(block)![1]!, data: JSON.parse(/^data: (.*)$/m.exec(block)![1]!) }));
}

/** The text of each message a model call carried, in order (system entries left out). */
const texts = (r: FakeAnthropicRequest) =>
  (r.body.messages ?? [])
    .filter((m) => m.role !== 'system')
    .map((m) => (typeof m.content === 'string' ? m.content : m.content.map((b) => b.text ?? '').join('')));

describe('the claude agent', () => {
  it('keeps what its Bash tool wrote in the workspace for the next turn', async () => {
    const first = await jsonOf(
      h.app.request(
        post('/v1/run?agent=claude-editor', 'note it\nFAKE_BASH: echo from-turn-1 > notes.txt', {
          accept: 'application/json',
        }),
      ),
    );
    expect(first, JSON.stringify(first.stderr)).toMatchObject({ status: 'succeeded' });
    expect(first.tool_calls).toEqual([expect.objectContaining({ name: 'Bash', status: 'success' })]);
    const second = await jsonOf(
      h.app.request(
        post(`/v1/sessions/${first.session_id}/messages`, 'read it\nFAKE_BASH: cat notes.txt', {
          accept: 'application/json',
        }),
      ),
    );
    expect(second).toMatchObject({ status: 'succeeded' });
    // What the CLI sent the model back from its tool: the file the first turn's container wrote.
    const answered = modelCalls()
      .filter((r) => JSON.stringify(r.body).includes('tool_result'))
      .at(-1)!;
    expect(JSON.stringify(answered.body)).toContain('from-turn-1');
    expect(await h.service.workspaces.get(first.session_id)).toMatchObject({ files: 1 });
  });

  it('is built offline at the tag its built-in and shipped profiles run', () => {
    expect(parseProfiles(BUILTIN_PROFILES).profiles.get('claude')?.image).toBe(claudeImage());
    expect(loadProfiles('config/profiles.json').profiles.get('claude')?.image).toBe(claudeImage());
  });

  it('streams only the model text in plain mode, as it arrives, with the real key added by the gateway', async () => {
    const res = await fetch(`${server.url}/v1/run?agent=claude`, { method: 'POST', body: 'Say hello' });
    expect(res.status).toBe(200);
    const start = performance.now();
    const chunks: Array<{ at: number; text: string }> = [];
    const decoder = new TextDecoder();
    for await (const c of res.body as unknown as AsyncIterable<Uint8Array>)
      chunks.push({ at: performance.now() - start, text: decoder.decode(c, { stream: true }) });
    const text = chunks.map((c) => c.text).join('');
    const call = modelCalls().at(-1)!;
    expect(text).toBe(`Hello from the fake model: turns=${call.turns}`);
    // The fake sends three deltas 150 ms apart: the first must not wait for the end.
    expect(performance.now() - start - chunks[0]!.at).toBeGreaterThan(200);
    expect(text).not.toMatch(/\{"type"/);
    expect(call).toMatchObject({ apiKey: API_KEY, stream: true, query: '?beta=true' });
    expect(call.lastUserText).toContain('Say hello');
    expect(call.headers['anthropic-version']).toBe('2023-06-01');
  });

  it('maps stream-json to typed SSE events, with the tokens the gateway counted', async () => {
    const res = await h.app.request(
      post('/v1/run', JSON.stringify({ agent: 'claude', prompt: 'hi' }), {
        'content-type': 'application/json',
        accept: 'text/event-stream',
      }),
    );
    const events = sseEvents(await res.text());
    expect(events[0]!.event).toBe('run');
    const deltas = events.filter((e) => e.event === 'delta');
    expect(deltas.length).toBeGreaterThanOrEqual(3); // streamed, not the whole message at once
    expect(deltas.map((e) => e.data.text).join('')).toBe(
      `Hello from the fake model: turns=${modelCalls().at(-1)!.turns}`,
    );
    expect(events.some((e) => e.event === 'stdout' || e.event === 'stderr')).toBe(false);
    const done = events.at(-1)!;
    expect(done.event).toBe('done');
    expect(done.data).toMatchObject({ status: 'succeeded', exit_code: 0, error: null });
    const run = await jsonOf(h.app.request(`/v1/runs/${events[0]!.data.run_id}`));
    // Two counts of one call, made apart: the CLI's own result line, and the gateway's reading of the stream.
    expect(run.metrics).toMatchObject({
      model_calls: 1,
      model_errors: 0,
      input_tokens: done.data.usage.input_tokens,
      output_tokens: done.data.usage.output_tokens,
    });
    expect(run.metrics.input_tokens).toBeGreaterThan(100);
    expect(run.metrics.total_tokens).toBe(run.metrics.input_tokens + run.metrics.output_tokens);
  });

  it('replays the conversation through its own session file, built from the transcript', async () => {
    let sessionId: string | undefined;
    const replies: string[] = [];
    for (const prompt of ['first question', 'second question', 'third question']) {
      const path = sessionId ? `/v1/sessions/${sessionId}/messages` : '/v1/run?agent=claude';
      const body = await jsonOf(h.app.request(post(path, prompt, { accept: 'application/json' })));
      expect(
        body.status,
        JSON.stringify({
          error: body.error,
          stderr: (await h.service.transcripts.getRun(body.run_id))?.stderr.slice(-2000),
        }),
      ).toBe('succeeded');
      sessionId = body.session_id;
      replies.push(body.output);
    }
    const last = texts(modelCalls().at(-1)!);
    // Every earlier turn reached the model, in order, then the new prompt.
    const expected = ['first question', replies[0]!, 'second question', replies[1]!, 'third question'];
    const positions = expected.map((t) => last.findIndex((m) => m.includes(t)));
    expect(
      positions.every((p) => p >= 0),
      JSON.stringify(last),
    ).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect((await h.service.transcripts.messagesOf(sessionId!)).map((m) => m.role)).toEqual([
      'user',
      'assistant',
      'user',
      'assistant',
      'user',
      'assistant',
    ]);
  });

  it('reports a tool_use round in SSE and JSON, run as uid 1000 in /workspace', async () => {
    const sse = sseEvents(
      await (
        await h.app.request(post('/v1/run?agent=claude', 'FAKE_TOOL look around', { accept: 'text/event-stream' }))
      ).text(),
    );
    const use = sse.find((e) => e.event === 'tool_use')!;
    expect(use.data).toMatchObject({ name: 'Bash', parameters: { command: 'ls -la' } });
    const result = sse.find((e) => e.event === 'tool_result')!;
    expect(result.data).toMatchObject({ id: use.data.id, status: 'success' });
    expect(result.data.output).toMatch(/claude\s+claude|1000\s+1000/); // the listing of /workspace, owned by the run's user
    const body = await jsonOf(
      h.app.request(post('/v1/run?agent=claude', 'FAKE_TOOL look around', { accept: 'application/json' })),
    );
    expect(body.tool_calls).toEqual([expect.objectContaining({ name: 'Bash', status: 'success' })]);
    expect(body.usage.tool_calls).toBe(1);
    // The session's transcript shows the call, from the run's event log.
    const session = await jsonOf(h.app.request(`/v1/sessions/${body.session_id}`));
    const reply = session.messages.find((m: { role: string }) => m.role === 'assistant');
    expect(reply.tool_calls).toEqual([
      {
        id: body.tool_calls[0].id,
        name: 'Bash',
        input: body.tool_calls[0].parameters,
        status: 'success',
        result_bytes: Buffer.byteLength(body.tool_calls[0].output),
      },
    ]);
    expect(reply.tool_calls[0].input).toMatchObject({ command: 'ls -la' });
    expect(session.messages.find((m: { role: string }) => m.role === 'user').tool_calls).toBeUndefined();
    expect(body.output).toContain('I will look at the files first.');
    const [asked, answered] = modelCalls().slice(-2);
    expect(asked!.hasToolResult).toBe(false);
    expect(answered!.hasToolResult).toBe(true);
  });

  // Under gVisor too (`runtime: runsc`): its Bash tool, the session file and the gateway through the locked network.
  // gVisor is Docker's here: Podman's API ignores a container's runtime, so the service refuses it there.
  for (const agent of ON_PODMAN ? ['claude'] : ['claude', 'claude-gvisor'])
    it(`replays turn 1's tool call and its result into turn 2's request, in order, as the CLI wrote them (${agent})`, async () => {
      const json = { accept: 'application/json' };
      const first = await jsonOf(h.app.request(post(`/v1/run?agent=${agent}`, 'FAKE_TOOL look around', json)));
      expect(first.tool_calls).toHaveLength(1);
      const call = first.tool_calls[0];
      const second = await jsonOf(h.app.request(post(`/v1/sessions/${first.session_id}/messages`, 'and now?', json)));
      expect(second.status, JSON.stringify(second)).toBe('succeeded');
      const messages = (modelCalls().at(-1)!.body.messages ?? []).filter((m) => m.role !== 'system');
      const at = (pred: (b: { type: string; [k: string]: unknown }) => boolean) =>
        messages.findIndex((m) => typeof m.content !== 'string' && m.content.some(pred));
      const use = at((b) => b.type === 'tool_use' && b.id === call.id);
      const result = at((b) => b.type === 'tool_result' && b.tool_use_id === call.id);
      expect(use, JSON.stringify(messages)).toBeGreaterThan(0);
      expect(messages[use]!.role).toBe('assistant');
      expect((messages[use]!.content as Array<{ type: string }>).find((b) => b.type === 'tool_use')).toMatchObject({
        name: 'Bash',
        input: { command: 'ls -la' },
      });
      expect(result).toBe(use + 1);
      expect(messages[result]!.role).toBe('user');
      expect(JSON.stringify(messages[result]!.content)).toContain(JSON.stringify(call.output).slice(1, 40));
      const texts = messages.map((m) => JSON.stringify(m.content));
      const reply = texts.findIndex((t) => t.includes('turns='));
      expect(reply).toBeGreaterThan(result);
      expect(texts.findIndex((t) => t.includes('and now?'))).toBeGreaterThan(reply);
    });

  it('ends a run that goes over its budget of model calls: failed, BUDGET_EXCEEDED', async () => {
    const before = modelCalls().length;
    const body = await jsonOf(
      h.app.request(post('/v1/run?agent=claude-budget', 'FAKE_TOOL look around', { accept: 'application/json' })),
    );
    expect(body).toMatchObject({
      status: 'failed',
      error: { code: 'BUDGET_EXCEEDED', message: expect.stringContaining('budget of 1 model call') },
    });
    expect(modelCalls().length - before).toBe(1);
  });

  it('turns a model error into a failed run with MODEL_ERROR, which a plain-text client sees as its status', async () => {
    const body = await jsonOf(
      h.app.request(post('/v1/run?agent=claude', 'FAKE_ERROR_400 please', { accept: 'application/json' })),
    );
    expect(body).toMatchObject({ status: 'failed', error: { code: 'MODEL_ERROR' } });
    expect(body.error.message).toContain('the fake model rejected the request on purpose');
    expect(body.stderr).toBe(''); // Claude Code prints no start-up noise
    const text = await h.app.request(post('/v1/run?agent=claude', 'FAKE_ERROR_400 please'));
    expect(text.status).toBe(502);
    expect(await text.json()).toMatchObject({ error: { code: 'MODEL_ERROR' }, status: 'failed' });
  });

  it('keeps the API key and the run token out of docker inspect, the logs, the database and the replies', async () => {
    const pending = h.app.request(
      post('/v1/run?agent=claude', 'FAKE_SLOW take your time', { accept: 'application/json' }),
    );
    const [info] = await waitFor(async () => {
      const list = await h.leftovers();
      return list.length > 0 ? list : undefined;
    });
    // Inspected while it runs; the run's own outcome is checked first, so that a run that ended early says why.
    const inspected = h.docker
      .getContainer(info!.Id)
      .inspect()
      .then(JSON.stringify, (err: Error) => `inspect failed: ${err.message}`);
    const body = await jsonOf(pending);
    expect(body.status, JSON.stringify(body)).toBe('succeeded');
    const inspect = await inspected;
    expect(inspect).toContain('ANTHROPIC_BASE_URL'); // the inspect is real and has the env
    expect(inspect).not.toMatch(/ANTHROPIC_API_KEY|eph-run-/);
    expect(inspect).not.toContain(API_KEY);
    expect(JSON.stringify(body)).not.toContain(API_KEY);
    expect(logLines.join('\n')).not.toContain(API_KEY);
    expect(await h.storedText()).not.toContain(API_KEY);
  });
});
