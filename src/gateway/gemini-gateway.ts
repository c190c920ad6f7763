import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Logger } from 'pino';
import { charge, overBudget, type RunGrant, type RunTokens } from './run-tokens.js';
import { usageCounter } from './usage-counter.js';

export interface GatewayOptions {
  tokens: RunTokens;
  /** The model API the gateway forwards to, e.g. https://generativelanguage.googleapis.com. */
  upstream: string;
  /** The real key, added to every forwarded call; never sent to a container. */
  apiKey: string | undefined;
  logger: Logger;
}

/** A call's body is read whole before it is forwarded: bounded, so a run cannot fill the service's memory. */
const MAX_REQUEST_BYTES = 32 * 1024 * 1024;

/** The only calls forwarded: a model's content generation and token counting. */
const CALL = /^[A-Za-z0-9._-]{1,100}:(streamGenerateContent|generateContent|countTokens)$/;

/** An error in the Gemini API's own shape, so the CLI reports it as it would the API's. */
const apiError = (code: number, status: string, message: string) =>
  new Response(JSON.stringify({ error: { code, message, status } }), { status: code, headers: { 'content-type': 'application/json' } });

/**
 * The model gateway for Gemini: the one place agent containers send model calls. It
 * accepts only a run's own token (the container's "API key"), forwards only the model
 * API's paths, puts the real key on the way out, streams the answer back as it comes,
 * and counts each run's calls and tokens from the API's `usageMetadata`.
 */
export function geminiGateway(opts: GatewayOptions) {
  const app = new Hono();
  const limit = bodyLimit({
    maxSize: MAX_REQUEST_BYTES,
    onError: () => apiError(413, 'INVALID_ARGUMENT', `a model call's body may hold at most ${MAX_REQUEST_BYTES} bytes`),
  });
  app.post('/v1beta/models/:call', limit, async (c) => {
    const call = c.req.param('call');
    if (!CALL.test(call)) return apiError(404, 'NOT_FOUND', 'the model gateway forwards only generateContent, streamGenerateContent and countTokens');
    const grant = opts.tokens.get(c.req.header('x-goog-api-key') ?? c.req.query('key') ?? '');
    if (!grant) return apiError(401, 'UNAUTHENTICATED', 'API key not valid: this run has ended, or the key is not a run token');
    if (opts.apiKey === undefined) {
      return apiError(401, 'UNAUTHENTICATED', 'API key not valid: the Ephemera service has no GEMINI_API_KEY configured for its model gateway');
    }
    const counted = !call.endsWith(':countTokens');
    if (counted && admitCall(grant)) return apiError(429, 'RESOURCE_EXHAUSTED', grant.overBudget!);
    return forward(c.req.raw, call, grant, counted, opts);
  });
  app.all('*', () => apiError(404, 'NOT_FOUND', 'the model gateway forwards only POST /v1beta/models/<model>:<call>'));
  return app;
}

/** True when a model call would go over the run's budget (it is then refused, and not counted); else counts it. */
function admitCall(grant: RunGrant): boolean {
  const max = grant.budget.modelCalls;
  if (grant.overBudget === undefined && max !== undefined && grant.usage.calls >= max) {
    overBudget(grant, `the run asked for more than its budget of ${max} model call(s)`);
  }
  if (grant.overBudget !== undefined) return true;
  grant.usage.calls++;
  return false;
}

async function forward(req: Request, call: string, grant: RunGrant, counted: boolean, opts: GatewayOptions): Promise<Response> {
  // Appended, not resolved: an upstream with a path (a corporate gateway's prefix) keeps it.
  const target = new URL(`${opts.upstream.replace(/\/+$/, '')}/v1beta/models/${call}`);
  for (const [k, v] of new URL(req.url).searchParams) if (k !== 'key') target.searchParams.append(k, v);
  let upstream: Response;
  try {
    upstream = await fetch(target, {
      method: 'POST',
      headers: {
        'content-type': req.headers.get('content-type') ?? 'application/json',
        'x-goog-api-key': opts.apiKey!,
      },
      body: await req.arrayBuffer(),
      signal: req.signal,
    });
  } catch (err) {
    grant.usage.errors++;
    opts.logger.warn({ runId: grant.runId, err: (err as Error).message }, 'model API unreachable');
    return apiError(502, 'UNAVAILABLE', 'the model gateway could not reach the model API');
  }
  if (upstream.status >= 400) grant.usage.errors++;
  const type = upstream.headers.get('content-type') ?? 'application/json';
  const body = counted && upstream.body ? upstream.body.pipeThrough(usageCounter(type, (u) => charge(grant, u))) : upstream.body;
  return new Response(body, { status: upstream.status, headers: { 'content-type': type, 'cache-control': 'no-store' } });
}
