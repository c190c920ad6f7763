import { randomUUID } from 'node:crypto';

/**
 * A small typed client for Ephemera's run API, for scripts that fire many prompts.
 * It asks for JSON results and retries what is worth retrying: 429 CAPACITY, 502/503
 * (engine unavailable, shutting down; not AGENT_UNAVAILABLE, which waits for its operator),
 * a network error, and 409 RUN_IN_PROGRESS,
 * honouring Retry-After, else exponential backoff with jitter. Every attempt of one run()
 * carries the same Idempotency-Key, so a retry never stores the turn twice: it gets the
 * first attempt's outcome, or runs the same stored turn again if no container ran it.
 */
export interface RunInput {
  prompt: string;
  agent?: string;
  sessionId?: string;
  timeoutMs?: number;
  /** Files added to the session's workspace before the turn: path -> text, or { base64 }. */
  files?: Record<string, string | { base64: string }>;
  /** Sent as Idempotency-Key on every attempt; a new UUID for each run() when not given. */
  idempotencyKey?: string;
  /** Called (POST, signed) when the run ends: an origin the service lists in WEBHOOK_ALLOWED_ORIGINS. */
  webhookUrl?: string;
}

export interface RunOptions {
  /**
   * Submit with `Prefer: respond-async` and hold no connection while the run goes on: its outcome
   * is collected by asking again with the same Idempotency-Key every `pollMs` (a short request
   * each, 409 until it ends), so many runs in flight take only the client's few connections.
   */
  detached?: boolean;
  signal?: AbortSignal;
}

export interface RunResult {
  session_id: string;
  run_id: string;
  agent: string;
  status: string;
  exit_code: number | null;
  error: { code: string; message: string } | null;
  output: string;
  stderr: string;
  usage: unknown;
  metrics: Record<string, number | null>;
}

export class EphemeraError extends Error {
  override name = 'EphemeraError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly attempts: number,
  ) {
    super(message);
  }
}

export interface ClientOptions {
  baseUrl: string;
  apiKey?: string;
  /** Retries after the first attempt, for 429/502/503, 409 RUN_IN_PROGRESS and network errors. */
  maxRetries?: number;
  /** First backoff when the server gives no Retry-After; doubles each time, capped at 30 s. */
  backoffMs?: number;
  fetch?: typeof fetch;
  /** Detached runs: how often a run's outcome is asked for (default 1 s). */
  pollMs?: number;
  /** Requests in flight at once, whatever the runs in flight (default: no bound). */
  maxRequests?: number;
}

const RETRYABLE = new Set([429, 502, 503]);
/** 503s no retry mends: the service refuses this agent until its operator acts (a model key to set, say). */
const FINAL_CODES = new Set(['AGENT_UNAVAILABLE']);

export class EphemeraClient {
  private readonly base: string;
  private readonly fetch: typeof fetch;
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly options: ClientOptions) {
    this.base = options.baseUrl.replace(/\/+$/, '');
    this.fetch = options.fetch ?? fetch;
  }

  /** Runs one prompt to its end; resolves with the run (whatever its status), or throws EphemeraError. */
  async run(input: RunInput, opts: RunOptions | AbortSignal = {}): Promise<RunResult & { attempts: number }> {
    const { signal, detached = false } = opts instanceof AbortSignal ? { signal: opts } : opts;
    const path = input.sessionId ? `/v1/sessions/${encodeURIComponent(input.sessionId)}/messages` : '/v1/run';
    const body = JSON.stringify({
      prompt: input.prompt,
      ...(input.agent !== undefined && { agent: input.agent }),
      ...(input.timeoutMs !== undefined && { timeout_ms: input.timeoutMs }),
      ...(input.files !== undefined && { files: input.files }),
      ...(input.webhookUrl !== undefined && { webhook_url: input.webhookUrl }),
    });
    const maxRetries = this.options.maxRetries ?? 6;
    const idempotencyKey = input.idempotencyKey ?? randomUUID();
    // A run in progress is waited for up to its deadline (the service's maximum, 15 min, when not given) and a minute.
    const waitUntil = Date.now() + (input.timeoutMs ?? 15 * 60_000) + 60_000;
    let submitted = !detached; // a detached run, once accepted, is asked for its outcome without Prefer
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await this.request(`${this.base}${path}`, {
          method: 'POST',
          body,
          headers: {
            'content-type': 'application/json',
            accept: 'application/json',
            'idempotency-key': idempotencyKey,
            ...(!submitted && { prefer: 'respond-async' }),
            ...(this.options.apiKey && { authorization: `Bearer ${this.options.apiKey}` }),
          },
          ...(signal && { signal }),
        });
      } catch (err) {
        if (signal?.aborted || attempt > maxRetries)
          throw new EphemeraError(0, 'NETWORK', (err as Error).message, attempt);
        await sleep(this.backoff(attempt, null), signal);
        continue;
      }
      if (res.status === 202) {
        // Accepted and running: ask for its outcome from now on, not counted as a retry.
        await res.body?.cancel();
        submitted = true;
        await sleep(this.options.pollMs ?? 1000, signal);
        attempt--;
        continue;
      }
      if (res.ok) return { ...((await res.json()) as RunResult), attempts: attempt };
      const err = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
      const code = err.error?.code ?? `HTTP_${res.status}`;
      const message = err.error?.message ?? res.statusText;
      if (code === 'RUN_IN_PROGRESS' && Date.now() < waitUntil) {
        // The first attempt's run goes on (a cut connection, or detached): wait for it, not counted as
        // a retry, though no longer than that run may last.
        await sleep(
          submitted && detached ? (this.options.pollMs ?? 1000) : this.backoff(1, res.headers.get('retry-after')),
          signal,
        );
        attempt--;
        continue;
      }
      if (!RETRYABLE.has(res.status) || FINAL_CODES.has(code) || attempt > maxRetries)
        throw new EphemeraError(res.status, code, message, attempt);
      await sleep(this.backoff(attempt, res.headers.get('retry-after')), signal);
    }
  }

  /** One request, waiting for a free place when `maxRequests` are in flight. */
  private async request(url: string, init: RequestInit): Promise<Response> {
    const max = this.options.maxRequests;
    if (max === undefined) return this.fetch(url, init);
    while (this.inFlight >= max) await new Promise<void>((r) => this.waiting.push(r));
    this.inFlight++;
    try {
      // Read whole before the place is freed: a connection is busy until its body is in.
      const res = await this.fetch(url, init);
      const body = await res.arrayBuffer();
      return new Response(res.status === 204 ? null : body, { status: res.status, headers: res.headers });
    } finally {
      this.inFlight--;
      this.waiting.shift()?.();
    }
  }

  private backoff(attempt: number, retryAfter: string | null): number {
    const jitter = 0.8 + Math.random() * 0.4;
    const seconds = retryAfter !== null && /^\d+$/.test(retryAfter) ? Number(retryAfter) : undefined;
    if (seconds !== undefined) return seconds * 1000 * jitter;
    return Math.min(30_000, (this.options.backoffMs ?? 250) * 2 ** (attempt - 1)) * jitter;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}
