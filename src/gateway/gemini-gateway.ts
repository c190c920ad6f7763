import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Logger } from 'pino';
import { markOverBudget, type RunGrant, type RunTokens } from './run-tokens.js';
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
/** Calls one run may have in flight at once: bounds its memory, and how far past its token budget it can get. */
const MAX_CALLS_IN_FLIGHT = 2;

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
    const refusal = refusalOf(grant, !call.endsWith(':countTokens'));
    if (refusal) return refusal;
    grant.inFlight++;
    try {
      return whileInFlight(grant, await forward(c.req.raw, call, grant, opts));
    } catch (err) {
      grant.inFlight--;
      throw err;
    }
  });
  app.all('*', () => apiError(404, 'NOT_FOUND', 'the model gateway forwards only POST /v1beta/models/<model>:<call>'));
  return app;
}

/** Keeps a call counted in flight until its answer has been read to the end (or dropped), not just begun. */
function whileInFlight(grant: RunGrant, res: Response): Response {
  let settled = false;
  const settle = () => {
    if (settled) return;
    settled = true;
    grant.inFlight--;
  };
  if (!res.body) {
    settle();
    return res;
  }
  return new Response(onSettled(res.body, settle), { status: res.status, headers: res.headers });
}

/** The same stream, calling `done` once when it ends, fails or is cancelled by its reader. */
function onSettled(body: ReadableStream<Uint8Array>, done: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const next = await reader.read();
          if (!next.done) return controller.enqueue(next.value);
          done();
          controller.close();
        } catch (err) {
          done();
          controller.error(err);
        }
      },
      cancel(reason) {
        done();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/** Why a run may not make this call now, as the API's error; counts the call when it may. */
function refusalOf(grant: RunGrant, isModelCall: boolean): Response | undefined {
  const max = grant.budget.modelCalls;
  if (isModelCall && grant.overBudget === undefined && max !== undefined && grant.usage.calls >= max) {
    markOverBudget(grant, `the run asked for more than its budget of ${max} model call(s)`);
  }
  if (grant.overBudget !== undefined) return apiError(429, 'RESOURCE_EXHAUSTED', grant.overBudget);
  if (grant.inFlight >= MAX_CALLS_IN_FLIGHT) {
    return apiError(429, 'RESOURCE_EXHAUSTED', `a run may have at most ${MAX_CALLS_IN_FLIGHT} model calls in flight`);
  }
  if (isModelCall) grant.usage.calls++;
  return undefined;
}

/** The upstream URL: its path prefix kept, and only `alt=sse` passed on (other system parameters could strip the usage). */
function targetOf(upstream: string, call: string, request: URL): URL {
  const target = new URL(`${upstream.replace(/\/+$/, '')}/v1beta/models/${call}`);
  if (request.searchParams.get('alt') === 'sse') target.searchParams.set('alt', 'sse');
  return target;
}

async function forward(req: Request, call: string, grant: RunGrant, opts: GatewayOptions): Promise<Response> {
  const body = await req.arrayBuffer();
  const counted = !call.endsWith(':countTokens');
  let upstream: Response;
  try {
    upstream = await fetch(targetOf(opts.upstream, call, new URL(req.url)), {
      method: 'POST',
      headers: { 'content-type': req.headers.get('content-type') ?? 'application/json', 'x-goog-api-key': opts.apiKey! },
      body,
      signal: req.signal,
      redirect: 'manual', // never send the key on to wherever a redirect points
    });
  } catch (err) {
    grant.usage.errors++;
    opts.logger.warn({ runId: grant.runId, err: (err as Error).message }, 'model API unreachable');
    return apiError(502, 'UNAVAILABLE', 'the model gateway could not reach the model API');
  }
  if (upstream.status >= 300) {
    grant.usage.errors++;
    // Refused or failed upstream (throttled, down): not a call the model answered.
    if (counted && (upstream.status === 429 || upstream.status >= 500)) grant.usage.calls--;
    if (upstream.status < 400) return apiError(502, 'UNAVAILABLE', 'the model API answered with a redirect, which the gateway does not follow');
  }
  const type = upstream.headers.get('content-type') ?? 'application/json';
  const out = counted && upstream.ok && upstream.body ? upstream.body.pipeThrough(usageCounter(type, grant)) : upstream.body;
  return new Response(out, { status: upstream.status, headers: { 'content-type': type, 'cache-control': 'no-store' } });
}
