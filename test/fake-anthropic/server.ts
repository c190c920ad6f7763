import { randomBytes } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fake Anthropic Messages API (api.anthropic.com, /v1/messages) for tests: it speaks the
 * wire format the real Claude Code CLI uses (SSE when `stream` is true, one JSON message
 * otherwise) and answers every prompt with "turns=<N>" where N is the number of `messages`
 * it received, so a test can see how much of a conversation reached the model. (Claude Code
 * 2.1.328 also puts `role: "system"` entries in `messages`: a first prompt arrives as 2, a
 * prompt after 3 replayed question/answer pairs as 9.) It streams the answer in several
 * text deltas with delays, with `usage` numbers of about 4 characters a token. Markers in
 * the prompt (the last user message that is not only tool results) change its behaviour:
 *   FAKE_TOOL        first answer some text and a `tool_use` (by default Bash `ls -la`, which the
 *                    default permission mode runs without asking); once the request carries
 *                    its `tool_result`, answer text as usual
 *   FAKE_BASH: cmd   as FAKE_TOOL, with the Bash tool running `cmd` (the rest of that line)
 *   FAKE_ERROR_400   answer 400 invalid_request_error (the CLI does not retry it)
 *   FAKE_ERROR_500   answer 500 api_error (the CLI retries it, with backoff: not for tests)
 *   FAKE_SLOW        wait 400 ms between deltas instead of 150
 *   FAKE_FAST        no wait between deltas: a model that answers at once (the benches)
 * With `apiKey` set, a request whose `x-api-key` differs gets 401 authentication_error.
 */
export interface FakeAnthropicRequest {
  method: string;
  /** `/v1/messages` or `/v1/messages/count_tokens` (the query string, e.g. `?beta=true`, is in `query`). */
  path: string;
  query: string;
  /** `x-api-key`, else the bearer token of `authorization`. */
  apiKey: string | undefined;
  model: string;
  stream: boolean;
  /** How many entries `messages` had. */
  turns: number;
  /**
   * The text of the prompt: the last user message that is not only tool results, its text blocks joined (the CLI puts a
   * system-reminder block before the prompt).
   */
  lastUserText: string;
  /** The last message carries a `tool_result` block. */
  hasToolResult: boolean;
  /**
   * As received (`anthropic-version`, `anthropic-beta`, `user-agent: claude-cli/...`, `x-claude-code-session-id`, ...).
   */
  headers: IncomingHttpHeaders;
  body: MessagesRequest;
}

interface Block {
  type: string;
  text?: string;
  tool_use_id?: string;
  content?: unknown;
  [k: string]: unknown;
}
interface Message {
  role: 'user' | 'assistant' | 'system';
  content: string | Block[];
}
interface MessagesRequest {
  model?: string;
  messages?: Message[];
  system?: string | Block[];
  tools?: unknown[];
  stream?: boolean;
  max_tokens?: number;
}

export interface FakeAnthropic {
  url: string;
  port: number;
  requests: FakeAnthropicRequest[];
  close(): Promise<void>;
}

const DELTA_DELAY_MS = 150;
const SLOW_DELAY_MS = 400;

export interface FakeTool {
  name: string;
  input: Record<string, unknown>;
}
/**
 * The tool FAKE_TOOL asks for by default: Claude Code 2.1.328 has no Glob/Grep/LS tools (its
 * Bash tool searches), and runs a read-only command such as `ls` in the default permission
 * mode without asking. The Bash tool needs bash in the image (images/claude has it).
 */
export const DEFAULT_FAKE_TOOL: FakeTool = {
  name: 'Bash',
  input: { command: 'ls -la', description: 'List the files in the working directory' },
};

export async function startFakeAnthropic(
  opts: { host?: string; port?: number; apiKey?: string; tool?: FakeTool } = {},
): Promise<FakeAnthropic> {
  const requests: FakeAnthropicRequest[] = [];
  const server: Server = createServer((req, res) => {
    handle(req, res, requests, opts.apiKey, opts.tool ?? DEFAULT_FAKE_TOOL).catch((err) => {
      if (res.headersSent) return res.destroy();
      sendError(res, 500, 'api_error', String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? '0.0.0.0', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  log: FakeAnthropicRequest[],
  expectedKey: string | undefined,
  toolSpec: FakeTool,
) {
  const url = new URL(req.url ?? '/', 'http://fake');
  const path = url.pathname;
  const method = req.method ?? 'GET';
  const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
  const apiKey = (req.headers['x-api-key'] as string | undefined) ?? bearer;
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  let body: MessagesRequest = {};
  let badJson = false;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as MessagesRequest;
  } catch {
    badJson = true;
  }
  const known = method === 'POST' && (path === '/v1/messages' || path === '/v1/messages/count_tokens');
  if (!known || badJson) {
    // Recorded too, so a test sees a request that went to the wrong place.
    log.push({
      method,
      path,
      query: url.search,
      apiKey,
      model: '',
      stream: false,
      turns: 0,
      lastUserText: '',
      hasToolResult: false,
      headers: req.headers,
      body,
    });
    if (!known) return sendError(res, 404, 'not_found_error', `Not found: ${method} ${path}`);
    return sendError(res, 400, 'invalid_request_error', 'The request body is not valid JSON.');
  }
  const messages = Array.isArray(body.messages) ? body.messages : [];
  const last = messages[messages.length - 1];
  const hasToolResult = last?.role === 'user' && blocks(last).some((b) => b.type === 'tool_result');
  const prompt = [...messages]
    .reverse()
    .find((m) => m.role === 'user' && !blocks(m).every((b) => b.type === 'tool_result'));
  const lastUserText = prompt ? textOf(prompt) : '';
  const model = typeof body.model === 'string' ? body.model : '';
  log.push({
    method,
    path,
    query: url.search,
    apiKey,
    model,
    stream: body.stream === true,
    turns: messages.length,
    lastUserText,
    hasToolResult,
    headers: req.headers,
    body,
  });

  if (expectedKey !== undefined && apiKey !== expectedKey) {
    return sendError(res, 401, 'authentication_error', 'invalid x-api-key');
  }
  const inputTokens = estimateTokens(JSON.stringify([body.system ?? '', body.tools ?? [], messages]));
  if (path === '/v1/messages/count_tokens') return sendJson(res, 200, { input_tokens: inputTokens });
  if (messages.length === 0)
    return sendError(res, 400, 'invalid_request_error', 'messages: at least one message is required');
  if (lastUserText.includes('FAKE_ERROR_400'))
    return sendError(res, 400, 'invalid_request_error', 'the fake model rejected the request on purpose');
  if (lastUserText.includes('FAKE_ERROR_500'))
    return sendError(res, 500, 'api_error', 'the fake model failed on purpose');

  const bash = /^FAKE_BASH: (.*)$/m.exec(lastUserText)?.[1];
  const spec =
    bash === undefined
      ? toolSpec
      : { name: 'Bash', input: { command: bash, description: 'Run the command the prompt names' } };
  const wantsTool = (lastUserText.includes('FAKE_TOOL') || bash !== undefined) && !hasToolResult;
  const pieces = wantsTool
    ? ['I will look at ', 'the files first.']
    : ['Hello ', 'from the fake model: ', `turns=${messages.length}`];
  const text = pieces.join('');
  const tool = wantsTool ? { id: `toolu_${randomId(24)}`, name: spec.name, input: spec.input } : undefined;
  const outputTokens = estimateTokens(text) + (tool ? estimateTokens(JSON.stringify(tool.input)) + 20 : 0);
  const stopReason = tool ? 'tool_use' : 'end_turn';
  const id = `msg_${randomId(24)}`;
  const usage = (output: number) => ({
    input_tokens: inputTokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    output_tokens: output,
    service_tier: 'standard',
  });

  if (body.stream !== true) {
    const content: Block[] = [{ type: 'text', text }];
    if (tool) content.push({ type: 'tool_use', ...tool });
    return sendJson(res, 200, {
      id,
      type: 'message',
      role: 'assistant',
      model,
      content,
      stop_reason: stopReason,
      stop_sequence: null,
      usage: usage(outputTokens),
    });
  }

  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'request-id': `req_${randomId(24)}`,
  });
  const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  const delay = lastUserText.includes('FAKE_SLOW')
    ? SLOW_DELAY_MS
    : lastUserText.includes('FAKE_FAST')
      ? 0
      : DELTA_DELAY_MS;
  const pause = () => new Promise((r) => setTimeout(r, delay));

  send('message_start', {
    type: 'message_start',
    message: {
      id,
      type: 'message',
      role: 'assistant',
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: usage(1),
    },
  });
  send('ping', { type: 'ping' });
  send('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
  for (const piece of pieces) {
    await pause();
    if (res.destroyed) return;
    send('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: piece } });
  }
  send('content_block_stop', { type: 'content_block_stop', index: 0 });
  if (tool) {
    send('content_block_start', {
      type: 'content_block_start',
      index: 1,
      content_block: { type: 'tool_use', id: tool.id, name: tool.name, input: {} },
    });
    const json = JSON.stringify(tool.input);
    const cut = Math.ceil(json.length / 2);
    for (const part of [json.slice(0, cut), json.slice(cut)]) {
      await pause();
      if (res.destroyed) return;
      send('content_block_delta', {
        type: 'content_block_delta',
        index: 1,
        delta: { type: 'input_json_delta', partial_json: part },
      });
    }
    send('content_block_stop', { type: 'content_block_stop', index: 1 });
  }
  send('message_delta', {
    type: 'message_delta',
    delta: { stop_reason: stopReason, stop_sequence: null },
    usage: {
      input_tokens: inputTokens,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      output_tokens: outputTokens,
    },
  });
  send('message_stop', { type: 'message_stop' });
  res.end();
}

function blocks(m: Message): Block[] {
  return typeof m.content === 'string'
    ? [{ type: 'text', text: m.content }]
    : Array.isArray(m.content)
      ? m.content
      : [];
}

function textOf(m: Message): string {
  return blocks(m)
    .map((b) => (b.type === 'text' && typeof b.text === 'string' ? b.text : ''))
    .join('');
}

/** About 4 characters a token, as a rough stand-in for the real tokenizer; at least 1. */
function estimateTokens(s: string): number {
  return Math.max(1, Math.ceil(s.length / 4));
}

function randomId(n: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(n), (b) => alphabet[b % alphabet.length]).join('');
}

function sendJson(res: ServerResponse, code: number, body: unknown) {
  res.writeHead(code, { 'content-type': 'application/json', 'request-id': `req_${randomId(24)}` });
  res.end(JSON.stringify(body));
}

/** The Anthropic error shape; `x-should-retry: false` as the real API sends for errors not worth retrying. */
function sendError(res: ServerResponse, code: number, type: string, message: string) {
  const retry = code >= 500 || code === 429 || code === 408 || code === 409;
  res.writeHead(code, {
    'content-type': 'application/json',
    'request-id': `req_${randomId(24)}`,
    'x-should-retry': String(retry),
  });
  res.end(JSON.stringify({ type: 'error', error: { type, message } }));
}

// `tsx test/fake-anthropic/server.ts [port] [host] [apiKey]` runs it by hand.
if (import.meta.url === `file://${process.argv[1]}`) {
  const host = process.argv[3] ?? '0.0.0.0';
  const apiKey = process.argv[4];
  const fake = await startFakeAnthropic({ port: Number(process.argv[2] ?? 0), host, ...(apiKey ? { apiKey } : {}) });
  process.stdout.write(`fake Anthropic API on ${host}:${fake.port}\n`);
  setInterval(() => {
    while (fake.requests.length) {
      const r = fake.requests.shift()!;
      process.stdout.write(
        `${r.method} ${r.path}${r.query} model=${r.model} stream=${r.stream} turns=${r.turns} tool_result=${r.hasToolResult} key=${r.apiKey ?? 'none'} last=${JSON.stringify(r.lastUserText.slice(-80))}\n`,
      );
    }
  }, 100);
}
