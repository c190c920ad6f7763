import { Hono } from 'hono';
import { forwardingRoutes, type ModelApiShape } from '../../../gateway/forward.js';
import type { CallUsage, UsageReader } from '../../../gateway/usage-counter.js';
import type { ModelRouteOptions } from '../../../gateway/model-routes.js';

/** The only calls forwarded: a model's content generation and token counting. */
const CALL = /^[A-Za-z0-9._-]{1,100}:(streamGenerateContent|generateContent|countTokens)$/;

const STATUS_NAMES: Record<number, string> = {
  401: 'UNAUTHENTICATED',
  404: 'NOT_FOUND',
  413: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  502: 'UNAVAILABLE',
};

/** An error in the Gemini API's own shape. */
const apiError = (code: number, message: string) =>
  new Response(JSON.stringify({ error: { code, message, status: STATUS_NAMES[code] ?? 'UNKNOWN' } }), {
    status: code,
    headers: { 'content-type': 'application/json' },
  });

interface UsageMetadata {
  promptTokenCount?: number;
  candidatesTokenCount?: number;
  thoughtsTokenCount?: number;
  totalTokenCount?: number;
}

/**
 * Each event of a streamed answer repeats the call's running `usageMetadata`; a JSON answer (maybe an array) has it
 * last.
 */
const geminiUsage = (): UsageReader => ({
  hint: 'usageMetadata',
  read(part) {
    const items = (Array.isArray(part) ? part : [part]) as Array<{ usageMetadata?: UsageMetadata } | null>;
    const u = items.reverse().find((i) => i?.usageMetadata)?.usageMetadata;
    return u && toUsage(u);
  },
  // Every event carries the running totals: what was read is what was spent.
  complete: () => true,
});

function toUsage(u: UsageMetadata): CallUsage {
  const input = u.promptTokenCount ?? 0;
  const output = (u.candidatesTokenCount ?? 0) + (u.thoughtsTokenCount ?? 0);
  return { input, output, total: u.totalTokenCount ?? input + output };
}

/** The Gemini API (generativelanguage.googleapis.com, v1beta) as the gateway forwards it. */
export const GEMINI_API: ModelApiShape = {
  paths: ['/v1beta/models/:call'],
  callOf(c, upstream) {
    const call = c.req.param('call') ?? '';
    if (!CALL.test(call))
      return apiError(404, 'the model gateway forwards only generateContent, streamGenerateContent and countTokens');
    const target = new URL(`${upstream.replace(/\/+$/, '')}/v1beta/models/${call}`);
    // Only `alt=sse` is passed on: other system parameters could strip the usage.
    if (new URL(c.req.url).searchParams.get('alt') === 'sse') target.searchParams.set('alt', 'sse');
    return { target, counted: !call.endsWith(':countTokens') };
  },
  tokenOf: (req) => req.headers.get('x-goog-api-key') ?? new URL(req.url).searchParams.get('key') ?? '',
  passedHeaders: [],
  passedResponseHeaders: [],
  keyHeaders: (apiKey) => ({ 'x-goog-api-key': apiKey }),
  error: apiError,
  usage: geminiUsage,
};

/**
 * The Gemini routes alone, with a 404 for every other path: the gateway as a Gemini run sees
 * it (the service mounts the routes of every model API on one listener).
 */
export function geminiGateway(opts: Omit<ModelRouteOptions, 'kind'> & { kind?: string }) {
  const app = new Hono();
  app.route('/', forwardingRoutes(GEMINI_API, { kind: 'gemini', ...opts, keyEnv: 'GEMINI_API_KEY' }));
  app.all('*', () => apiError(404, 'the model gateway forwards only POST /v1beta/models/<model>:<call>'));
  return app;
}
