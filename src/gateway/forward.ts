import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { ModelRouteOptions } from './model-routes.js';
import { markOverBudget, type RunGrant } from './run-tokens.js';
import { usageCounter, type UsageReader } from './usage-counter.js';

/** A call's body is read whole before it is forwarded: bounded, so a run cannot fill the service's memory. */
export const MAX_REQUEST_BYTES = 32 * 1024 * 1024;
/** Calls one run may have in flight at once: bounds its memory, and how far past its token budget it can get. */
const MAX_CALLS_IN_FLIGHT = 2;

/** One model call a container asks for, as the gateway forwards it. */
export interface ModelCall {
  /** The upstream URL (the upstream's own path prefix kept). */
  target: URL;
  /** A model call counts against the budget; counting tokens, for one, does not. */
  counted: boolean;
}

/** What differs between model APIs: their paths, where the key goes, their error shape, their usage. */
export interface ModelApiShape {
  /** The POST paths (Hono patterns) forwarded, e.g. `/v1beta/models/:call`. */
  paths: string[];
  /** The call a request makes, or a refusal (the API's 404) for one not forwarded. */
  callOf(c: Context, upstream: string): ModelCall | Response;
  /** Where a container puts its run token. */
  tokenOf(req: Request): string;
  /** Request headers passed on as they are (the API's version and beta flags); no others are. */
  passedHeaders: readonly string[];
  /** Answer headers passed back as they are (whether to retry, when): the CLI's retries read them. */
  passedResponseHeaders: readonly string[];
  /** The headers that carry the real key upstream. */
  keyHeaders(apiKey: string): Record<string, string>;
  /** An error in the API's own shape, so the CLI reports it as it would the API's. */
  error(status: number, message: string): Response;
  /**
   * Why a call's body may not be forwarded (the API's error), if it may not: its JSON, or undefined when it is not
   * JSON.
   */
  refusalOf?(body: unknown): Response | undefined;
  /** The usage reader for one call's answer. */
  usage(): UsageReader;
}

/**
 * The model gateway's routes for one model API: the one place agent containers send model
 * calls. They accept only a run's own token (the container's "API key") for this API,
 * forward only the API's model paths, put the real key on the way out, stream the answer
 * back as it comes, and count each run's calls and tokens from the answer's usage.
 */
export function forwardingRoutes(shape: ModelApiShape, opts: ModelRouteOptions & { keyEnv: string }): Hono {
  const app = new Hono();
  const limit = bodyLimit({
    maxSize: MAX_REQUEST_BYTES,
    onError: () => shape.error(413, `a model call's body may hold at most ${MAX_REQUEST_BYTES} bytes`),
  });
  for (const path of shape.paths) {
    app.post(path, limit, async (c) => {
      const call = shape.callOf(c, opts.upstream);
      if (call instanceof Response) return call;
      const grant = opts.tokens.get(shape.tokenOf(c.req.raw));
      // A token is good for its own run's API only: a run of one agent cannot spend another's key.
      if (!grant || (grant.kind !== undefined && grant.kind !== opts.kind)) {
        return shape.error(401, 'API key not valid: this run has ended, or the key is not a run token');
      }
      if (opts.apiKey === undefined) {
        return shape.error(
          401,
          `API key not valid: the Ephemera service has no ${opts.keyEnv} configured for its model gateway`,
        );
      }
      const refusal = refusalOf(shape, grant, call.counted);
      if (refusal) return refusal;
      grant.inFlight++;
      try {
        const { res, usageComplete } = await forward(c.req.raw, call, grant, shape, opts);
        return whileInFlight(grant, res, usageComplete);
      } catch (err) {
        grant.inFlight--;
        throw err;
      }
    });
  }
  return app;
}

/**
 * Keeps a call counted in flight until its answer has been read to the end (or dropped), not
 * just begun. Under a token budget, a model answer dropped before its end ends the run: its
 * usage may not have been told yet (Anthropic reports output at the end), and reading the
 * text then dropping the rest must not be a way to spend without being counted.
 */
function whileInFlight(grant: RunGrant, res: Response, usageComplete: () => boolean): Response {
  let settled = false;
  const settle = (ended: boolean) => {
    if (settled) return;
    settled = true;
    grant.inFlight--;
    if (!ended && !usageComplete() && grant.budget.tokens !== undefined) {
      markOverBudget(grant, 'a model answer was dropped before its usage could be counted against the token budget');
    }
  };
  if (!res.body) {
    settle(true);
    return res;
  }
  return new Response(onSettled(res.body, settle), { status: res.status, headers: res.headers });
}

/** The same stream, calling `done` once: `true` when it ends, `false` when it fails or its reader cancels it. */
function onSettled(body: ReadableStream<Uint8Array>, done: (ended: boolean) => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const next = await reader.read();
          if (!next.done) return controller.enqueue(next.value);
          done(true);
          controller.close();
        } catch (err) {
          done(false);
          controller.error(err);
        }
      },
      cancel(reason) {
        done(false);
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/** Why a run may not make this call now, as the API's error; counts the call when it may. */
function refusalOf(shape: ModelApiShape, grant: RunGrant, isModelCall: boolean): Response | undefined {
  const max = grant.budget.modelCalls;
  if (isModelCall && grant.overBudget === undefined && max !== undefined && grant.usage.calls >= max) {
    markOverBudget(grant, `the run asked for more than its budget of ${max} model call(s)`);
  }
  if (grant.overBudget !== undefined) return shape.error(429, grant.overBudget);
  if (grant.inFlight >= MAX_CALLS_IN_FLIGHT)
    return shape.error(429, `a run may have at most ${MAX_CALLS_IN_FLIGHT} model calls in flight`);
  if (isModelCall) grant.usage.calls++;
  return undefined;
}

/**
 * The answer to pass back; `usageComplete` says whether its whole usage was counted (an uncounted answer's is:
 * nothing).
 */
async function forward(
  req: Request,
  call: ModelCall,
  grant: RunGrant,
  shape: ModelApiShape,
  opts: ModelRouteOptions,
): Promise<{ res: Response; usageComplete: () => boolean }> {
  const uncounted = (res: Response) => ({ res, usageComplete: () => true });
  const body = await req.arrayBuffer();
  const refused = shape.refusalOf?.(jsonOf(body));
  if (refused) {
    if (call.counted) grant.usage.calls--; // never asked of the model
    return uncounted(refused);
  }
  let upstream: Response;
  try {
    upstream = await fetch(call.target, {
      method: 'POST',
      headers: {
        ...namedHeaders(req.headers, shape.passedHeaders),
        'content-type': req.headers.get('content-type') ?? 'application/json',
        ...shape.keyHeaders(opts.apiKey!),
      },
      body,
      signal: req.signal,
      redirect: 'manual', // never send the key on to wherever a redirect points
    });
  } catch (err) {
    grant.usage.errors++;
    opts.logger.warn({ runId: grant.runId, err: (err as Error).message }, 'model API unreachable');
    return uncounted(shape.error(502, 'the model gateway could not reach the model API'));
  }
  if (upstream.status >= 300) {
    grant.usage.errors++;
    // Refused or failed upstream (throttled, down): not a call the model answered.
    if (call.counted && (upstream.status === 429 || upstream.status >= 500)) grant.usage.calls--;
    if (upstream.status < 400)
      return uncounted(shape.error(502, 'the model API answered with a redirect, which the gateway does not follow'));
  }
  const type = upstream.headers.get('content-type') ?? 'application/json';
  const headers = {
    ...namedHeaders(upstream.headers, shape.passedResponseHeaders),
    'content-type': type,
    'cache-control': 'no-store',
  };
  if (!call.counted || !upstream.ok || !upstream.body)
    return uncounted(new Response(upstream.body, { status: upstream.status, headers }));
  const counter = usageCounter(type, grant, shape.usage());
  return {
    res: new Response(upstream.body.pipeThrough(counter.stream), { status: upstream.status, headers }),
    usageComplete: counter.usageComplete,
  };
}

function jsonOf(body: ArrayBuffer): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(body));
  } catch {
    return undefined;
  }
}

/** Only the named headers: never auth, cookies or hop-by-hop ones, which no shape names. */
function namedHeaders(headers: Headers, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = headers.get(name);
    if (value !== null) out[name] = value;
  }
  return out;
}
