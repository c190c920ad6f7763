import type { ModelApiShape } from '../../../gateway/forward.js';
import type { CallUsage, UsageReader } from '../../../gateway/usage-counter.js';

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  502: 'api_error',
};

/**
 * An error in the Anthropic API's own shape. Claude Code retries any error the answer does
 * not mark `x-should-retry: false` (ten times, with backoff): only an unreachable API and
 * too many calls in flight are worth it.
 */
const apiError = (status: number, message: string) =>
  new Response(JSON.stringify({ type: 'error', error: { type: ERROR_TYPES[status] ?? 'api_error', message } }), {
    status,
    headers: { 'content-type': 'application/json', 'x-should-retry': String(status === 502 || status === 429) },
  });

interface AnthropicUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

const count = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;

/**
 * A streamed answer reports usage in `message_start` (the input, and output so far) and in
 * `message_delta` (cumulative: any field it gives replaces the earlier one; a missing or
 * null one leaves it); a JSON answer has it once. Cache reads and writes are input the
 * model took in. A running total never goes down, so no event can refund a run.
 */
const anthropicUsage = (): UsageReader => {
  const seen = { input: 0, cacheWrite: 0, cacheRead: 0, output: 0 };
  let final = false;
  return {
    hint: 'usage',
    read(part) {
      const p = part as {
        type?: string;
        usage?: AnthropicUsage | null;
        message?: { usage?: AnthropicUsage | null };
      } | null;
      const u = p?.type === 'message_start' ? p.message?.usage : p?.usage;
      if (!u || typeof u !== 'object') return undefined;
      // The output is known at the end: message_delta, or a whole JSON message.
      if (p?.type !== 'message_start') final = true;
      seen.input = Math.max(seen.input, count(u.input_tokens) ?? 0);
      seen.cacheWrite = Math.max(seen.cacheWrite, count(u.cache_creation_input_tokens) ?? 0);
      seen.cacheRead = Math.max(seen.cacheRead, count(u.cache_read_input_tokens) ?? 0);
      seen.output = Math.max(seen.output, count(u.output_tokens) ?? 0);
      const input = seen.input + seen.cacheWrite + seen.cacheRead;
      return { input, output: seen.output, total: input + seen.output } satisfies CallUsage;
    },
    complete: () => final,
  };
};

/**
 * Anthropic runs some tools on its own side: web search and fetch, code execution, remote
 * MCP servers. Through them a container would reach hosts of its choosing, past the locked
 * network; the gateway refuses any call that asks for one.
 */
const SERVER_TOOL = /^(web_search|web_fetch|code_execution|computer_use_server|mcp_toolset)/;

function refusalOfBody(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined; // the API answers that itself
  const b = body as { mcp_servers?: unknown; container?: unknown; tools?: unknown };
  if (b.mcp_servers !== undefined)
    return 'the model gateway does not forward calls with mcp_servers: agent containers reach their model and nothing else';
  if (b.container !== undefined)
    return 'the model gateway does not forward calls that use a server-side container: agent containers reach their model and nothing else';
  const tools = Array.isArray(b.tools) ? (b.tools as Array<{ type?: unknown }>) : [];
  const server = tools.find((t) => typeof t?.type === 'string' && SERVER_TOOL.test(t.type));
  if (server)
    return `the model gateway does not forward server-side tools (${String(server.type)}): agent containers reach their model and nothing else`;
  return undefined;
}

/** The Anthropic Messages API (api.anthropic.com) as the gateway forwards it. */
export const ANTHROPIC_API: ModelApiShape = {
  paths: ['/v1/messages', '/v1/messages/count_tokens'],
  refusalOf: (body) => {
    const why = refusalOfBody(body);
    return why === undefined ? undefined : apiError(400, why);
  },
  callOf(c, upstream) {
    const counting = c.req.path.endsWith('/count_tokens');
    const target = new URL(`${upstream.replace(/\/+$/, '')}/v1/messages${counting ? '/count_tokens' : ''}`);
    // Claude Code asks with ?beta=true; nothing else of the query is passed on.
    if (new URL(c.req.url).searchParams.get('beta') === 'true') target.searchParams.set('beta', 'true');
    return { target, counted: !counting };
  },
  tokenOf: (req) =>
    req.headers.get('x-api-key') ?? /^Bearer (.+)$/.exec(req.headers.get('authorization') ?? '')?.[1] ?? '',
  passedHeaders: ['anthropic-version', 'anthropic-beta'],
  passedResponseHeaders: ['x-should-retry', 'retry-after', 'request-id'],
  keyHeaders: (apiKey) => ({ 'x-api-key': apiKey }),
  error: apiError,
  usage: anthropicUsage,
};
