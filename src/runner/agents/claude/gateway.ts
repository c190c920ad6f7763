import type { ModelApiShape } from '../../../gateway/forward.js';
import type { CallUsage, UsageReader } from '../../../gateway/usage-counter.js';

const ERROR_TYPES: Record<number, string> = {
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
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
}

/**
 * A streamed answer reports usage in `message_start` (the input, and output so far) and in
 * `message_delta` (the output so far, cumulative); a JSON answer has it once. Cache reads and
 * writes are input the model took in, and are counted as such.
 */
const anthropicUsage = (): UsageReader => {
  let input = 0;
  let output = 0;
  return {
    hint: 'usage',
    read(part) {
      const p = part as { type?: string; usage?: AnthropicUsage; message?: { usage?: AnthropicUsage } } | null;
      const u = p?.type === 'message_start' ? p.message?.usage : p?.usage;
      if (!u) return undefined;
      // A message_delta may leave the input out: then what message_start said stands.
      if (u.input_tokens !== undefined) input = u.input_tokens + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0);
      if (u.output_tokens !== undefined) output = u.output_tokens;
      return { input, output, total: input + output } satisfies CallUsage;
    },
  };
};

/** The Anthropic Messages API (api.anthropic.com) as the gateway forwards it. */
export const ANTHROPIC_API: ModelApiShape = {
  paths: ['/v1/messages', '/v1/messages/count_tokens'],
  callOf(c, upstream) {
    const counting = c.req.path.endsWith('/count_tokens');
    const target = new URL(`${upstream.replace(/\/+$/, '')}/v1/messages${counting ? '/count_tokens' : ''}`);
    // Claude Code asks with ?beta=true; nothing else of the query is passed on.
    if (new URL(c.req.url).searchParams.get('beta') === 'true') target.searchParams.set('beta', 'true');
    return { target, counted: !counting };
  },
  tokenOf: (req) => req.headers.get('x-api-key') ?? /^Bearer (.+)$/.exec(req.headers.get('authorization') ?? '')?.[1] ?? '',
  passedHeaders: ['anthropic-version', 'anthropic-beta'],
  passedResponseHeaders: ['x-should-retry', 'retry-after', 'request-id'],
  keyHeaders: (apiKey) => ({ 'x-api-key': apiKey }),
  error: apiError,
  usage: anthropicUsage,
};
