import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunTokens } from '../../src/gateway/run-tokens.js';
import { ANTHROPIC_API } from '../../src/runner/agents/claude/gateway.js';
import { claude } from '../../src/runner/agents/claude/index.js';
import { startFakeAnthropic, type FakeAnthropic } from '../fake-anthropic/server.js';

// The model gateway's Anthropic routes on their own, in front of the fake Messages API on
// loopback, called as Claude Code calls them (no container, no engine).
const REAL_KEY = 'sk-ant-real-key';
let fake: FakeAnthropic;
const tokens = new RunTokens();
let gateway: ReturnType<NonNullable<typeof claude.model>['gateway']>;

beforeAll(async () => {
  fake = await startFakeAnthropic({ host: '127.0.0.1', apiKey: REAL_KEY });
  gateway = claude.model!.gateway({
    kind: 'claude',
    tokens,
    upstream: fake.url,
    apiKey: REAL_KEY,
    logger: pino({ level: 'silent' }),
  });
});
afterAll(() => fake.close());

const messages = (token: string, body: object, path = '/v1/messages?beta=true') =>
  gateway.request(path, {
    method: 'POST',
    headers: {
      'x-api-key': token,
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'b1',
      cookie: 'c=1',
      'content-type': 'application/json',
    },
    body: JSON.stringify({ model: 'sonnet', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }], ...body }),
  });

describe("the model gateway's Anthropic routes", () => {
  it("forward a streamed call with the real key, the API's version headers and nothing else of the caller's, and count its tokens", async () => {
    const grant = tokens.issue('run_a', {}, () => {}, 'claude');
    const res = await messages(grant.token, { stream: true });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text.match(/^event: content_block_delta$/gm)).toHaveLength(3);
    const seen = fake.requests.at(-1)!;
    expect(seen).toMatchObject({ apiKey: REAL_KEY, query: '?beta=true' });
    expect(seen.headers).toMatchObject({ 'anthropic-version': '2023-06-01', 'anthropic-beta': 'b1' });
    expect(seen.headers.cookie).toBeUndefined();
    const delta = JSON.parse(/^data: (.*"message_delta".*)$/m.exec(text)![1]!) as {
      usage: { input_tokens: number; output_tokens: number };
    };
    expect(grant.usage).toEqual({
      calls: 1,
      inputTokens: delta.usage.input_tokens,
      outputTokens: delta.usage.output_tokens,
      totalTokens: delta.usage.input_tokens + delta.usage.output_tokens,
      errors: 0,
    });
  });

  it('count a JSON answer, and not a token count', async () => {
    const grant = tokens.issue('run_b', {}, () => {}, 'claude');
    const body = (await (await messages(grant.token, { stream: false })).json()) as {
      usage: { input_tokens: number; output_tokens: number };
    };
    expect(grant.usage).toMatchObject({
      calls: 1,
      inputTokens: body.usage.input_tokens,
      outputTokens: body.usage.output_tokens,
    });
    expect((await messages(grant.token, {}, '/v1/messages/count_tokens')).status).toBe(200);
    expect(grant.usage.calls).toBe(1);
  });

  it("refuse another kind's token, an ended run's and any other string, telling the CLI not to retry", async () => {
    const gemini = tokens.issue('run_c', {}, () => {}, 'gemini');
    const ended = tokens.issue('run_d', {}, () => {}, 'claude');
    tokens.revoke(ended);
    const before = fake.requests.length;
    for (const token of [gemini.token, ended.token, REAL_KEY, '']) {
      const res = await messages(token, { stream: true });
      expect(res.status).toBe(401);
      expect(res.headers.get('x-should-retry')).toBe('false');
      expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
    }
    expect(fake.requests.length).toBe(before);
  });

  it("pass on the API's own errors with its retry advice", async () => {
    const grant = tokens.issue('run_e', {}, () => {}, 'claude');
    const res = await messages(grant.token, { messages: [{ role: 'user', content: 'FAKE_ERROR_400' }] });
    expect(res.status).toBe(400);
    expect(res.headers.get('x-should-retry')).toBe('false');
    expect(res.headers.get('request-id')).toMatch(/^req_/);
    expect(grant.usage.errors).toBe(1);
  });
});

describe("the Anthropic routes' limits", () => {
  it('refuse server-side tools and MCP servers, which would reach other hosts, before the model sees them', async () => {
    const grant = tokens.issue('run_f', {}, () => {}, 'claude');
    const before = fake.requests.length;
    for (const extra of [
      { tools: [{ type: 'web_search_20250305', name: 'web_search' }] },
      {
        tools: [
          { name: 'Bash', input_schema: {} },
          { type: 'web_fetch_20250910', name: 'web_fetch' },
        ],
      },
      { tools: [{ type: 'code_execution_20250825', name: 'code_execution' }] },
      { mcp_servers: [{ type: 'url', url: 'https://attacker.example/mcp', name: 'x' }] },
      { container: 'container_1' },
    ]) {
      const res = await messages(grant.token, extra);
      expect(res.status, JSON.stringify(extra)).toBe(400);
      expect(res.headers.get('x-should-retry')).toBe('false');
      expect(await res.json()).toMatchObject({
        type: 'error',
        error: { type: 'invalid_request_error', message: expect.stringContaining('reach') },
      });
    }
    expect(fake.requests.length).toBe(before);
    expect(grant.usage.calls).toBe(0);
    // A client tool (run in the container) passes.
    expect(
      (await messages(grant.token, { tools: [{ name: 'Bash', description: 'd', input_schema: { type: 'object' } }] }))
        .status,
    ).toBe(200);
  });

  it('under a token budget, end the run when an answer is dropped before its output was counted', async () => {
    const grant = tokens.issue('run_g', { tokens: 1_000_000 }, () => {}, 'claude');
    const res = await messages(grant.token, { stream: true });
    const reader = res.body!.getReader();
    await reader.read(); // message_start: input counted, output not yet
    await reader.cancel();
    await new Promise((r) => setTimeout(r, 20));
    expect(grant.overBudget).toContain('dropped before its usage could be counted');
    // Read to the end, the same answer is counted and the run goes on.
    const whole = tokens.issue('run_h', { tokens: 1_000_000 }, () => {}, 'claude');
    await (await messages(whole.token, { stream: true })).text();
    expect(whole.overBudget).toBeUndefined();
  });

  it('take a usage field that is missing or null as unchanged, never as a refund', () => {
    const reader = ANTHROPIC_API.usage();
    const start = {
      type: 'message_start',
      message: { usage: { input_tokens: 4000, cache_read_input_tokens: 10, output_tokens: 1 } },
    };
    expect(reader.read(start)).toEqual({ input: 4010, output: 1, total: 4011 });
    expect(reader.complete()).toBe(false);
    expect(reader.read({ type: 'message_delta', usage: { input_tokens: null, output_tokens: 490 } })).toEqual({
      input: 4010,
      output: 490,
      total: 4500,
    });
    expect(reader.read({ type: 'message_delta', usage: { input_tokens: 10, output_tokens: 500 } })).toEqual({
      input: 4010,
      output: 500,
      total: 4510,
    });
    expect(reader.complete()).toBe(true);
  });
});
