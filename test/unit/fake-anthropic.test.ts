import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from '../fake-anthropic/server.js';

// The fake Anthropic Messages API speaks the wire format Claude Code reads: checked here on
// loopback, without the CLI (images/claude runs the real CLI against it).

const KEY = 'sk-fake-test';
let fake: FakeAnthropic;

beforeAll(async () => {
  fake = await startFakeAnthropic({ host: '127.0.0.1', apiKey: KEY });
});
afterAll(async () => {
  await fake.close();
});

function post(body: unknown, opts: { key?: string; path?: string } = {}) {
  return fetch(`${fake.url}${opts.path ?? '/v1/messages?beta=true'}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': opts.key ?? KEY, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify(body),
  });
}

/** The SSE events of a response, in order, each checked to name its data's type. */
async function events(res: Response): Promise<Array<{ type: string; [k: string]: any }>> {
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((frame) => frame.trim() !== '')
    .map((frame) => {
      const event = /^event: (.+)$/m.exec(frame)?.[1];
      const data = JSON.parse(/^data: (.+)$/m.exec(frame)?.[1] ?? 'null');
      expect(data.type).toBe(event);
      return data;
    });
}

const user = (text: string) => ({ role: 'user', content: [{ type: 'text', text }] });

describe('fake Anthropic Messages API', () => {
  it('streams "turns=N" in several text deltas between message_start and message_stop, with usage', async () => {
    const before = fake.requests.length;
    const res = await post({
      model: 'any-model',
      stream: true,
      max_tokens: 100,
      messages: [user('hello'), { role: 'assistant', content: 'hi' }, user('again')],
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const ev = await events(res);
    expect(ev.map((e) => e.type)).toEqual([
      'message_start',
      'ping',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(ev[0]!.message.model).toBe('any-model');
    expect(ev[0]!.message.usage.input_tokens).toBeGreaterThan(0);
    const text = ev
      .filter((e) => e.delta?.type === 'text_delta')
      .map((e) => e.delta.text)
      .join('');
    expect(text).toBe('Hello from the fake model: turns=3');
    const delta = ev.find((e) => e.type === 'message_delta')!;
    expect(delta.delta.stop_reason).toBe('end_turn');
    expect(delta.usage.output_tokens).toBeGreaterThan(1);

    const seen = fake.requests[before]!;
    expect(seen).toMatchObject({
      path: '/v1/messages',
      query: '?beta=true',
      apiKey: KEY,
      model: 'any-model',
      stream: true,
      turns: 3,
      lastUserText: 'again',
    });
  });

  it('FAKE_TOOL: a tool_use first (input as input_json_delta), text once the tool_result comes back', async () => {
    const first = await events(await post({ model: 'm', stream: true, messages: [user('please FAKE_TOOL')] }));
    const start = first.find((e) => e.type === 'content_block_start' && e.content_block.type === 'tool_use')!;
    expect(start.content_block).toMatchObject({ name: 'Bash', input: {} });
    const json = first
      .filter((e) => e.delta?.type === 'input_json_delta')
      .map((e) => e.delta.partial_json)
      .join('');
    expect(JSON.parse(json)).toEqual({ command: 'ls -la', description: 'List the files in the working directory' });
    expect(first.find((e) => e.type === 'message_delta')!.delta.stop_reason).toBe('tool_use');

    const id = start.content_block.id as string;
    const second = await events(
      await post({
        model: 'm',
        stream: true,
        messages: [
          user('please FAKE_TOOL'),
          { role: 'assistant', content: [{ type: 'tool_use', id, name: 'Bash', input: {} }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: 'a\nb' }] },
        ],
      }),
    );
    expect(second.some((e) => e.content_block?.type === 'tool_use')).toBe(false);
    expect(
      second
        .filter((e) => e.delta?.type === 'text_delta')
        .map((e) => e.delta.text)
        .join(''),
    ).toBe('Hello from the fake model: turns=3');
    expect(fake.requests.at(-1)).toMatchObject({ hasToolResult: true, lastUserText: 'please FAKE_TOOL' });
  });

  it('answers one JSON message when stream is false', async () => {
    const res = await post({ model: 'm', messages: [user('hi')] }, { path: '/v1/messages' });
    expect(res.headers.get('content-type')).toBe('application/json');
    const body = (await res.json()) as any;
    expect(body).toMatchObject({
      type: 'message',
      role: 'assistant',
      stop_reason: 'end_turn',
      content: [{ type: 'text', text: 'Hello from the fake model: turns=1' }],
    });
    expect(body.usage.input_tokens).toBeGreaterThan(0);
  });

  it('FAKE_ERROR_400 and a wrong key give Anthropic-shaped errors', async () => {
    const bad = await post({ model: 'm', stream: true, messages: [user('FAKE_ERROR_400')] });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('x-should-retry')).toBe('false');
    expect(await bad.json()).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message: expect.any(String) },
    });

    const denied = await post({ model: 'm', stream: true, messages: [user('hi')] }, { key: 'wrong' });
    expect(denied.status).toBe(401);
    expect(await denied.json()).toEqual({
      type: 'error',
      error: { type: 'authentication_error', message: 'invalid x-api-key' },
    });
    expect(fake.requests.at(-1)!.apiKey).toBe('wrong');
  });

  it('counts tokens, and records a request to an unknown path before answering 404', async () => {
    const count = await post({ model: 'm', messages: [user('hi')] }, { path: '/v1/messages/count_tokens' });
    expect(((await count.json()) as { input_tokens: number }).input_tokens).toBeGreaterThan(0);
    const lost = await post({}, { path: '/prefix/v1/messages' });
    expect(lost.status).toBe(404);
    expect(fake.requests.at(-1)!.path).toBe('/prefix/v1/messages');
  });
});
