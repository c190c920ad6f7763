import type { Logger } from 'pino';
import type { ServiceConfig } from '../config/env.js';
import type { TranscriptStore, WebhookAttempt, WebhookStore } from '../db/contract.js';
import type { WebhookRow } from '../db/rows.js';
import { runJson } from '../http/to-json.js';
import { webhookUrlRefusal } from './allowed.js';
import { webhookSignature } from './signature.js';

/** How long one attempt holds a webhook: longer than a call may take, so no other process takes it meanwhile. */
const LEASE_MS = 60_000;
const CALL_TIMEOUT_MS = 10_000;
const BATCH = 20;
/** Backoff between attempts: doubling from the first retry's wait, to at most this. */
const MAX_WAIT_MS = 10 * 60_000;

export interface WebhookParts {
  webhooks: WebhookStore;
  transcripts: TranscriptStore;
  config: ServiceConfig['webhooks'];
  logger: Logger;
}

/**
 * Calls runs' webhooks when they end, from the store: a run's end nudges it, and a timer looks
 * for what is due (a retry's time, a delivery a restart left pending, a run another replica
 * ended). Each call is claimed in the store first, so replicas never call one twice at once.
 * A call succeeds on a 2xx answer; any other (a redirect included: none is followed), or none
 * within 10 s, is tried again later, up to WEBHOOK_ATTEMPTS in all.
 */
export class WebhookDispatcher {
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly parts: WebhookParts,
    private readonly pollMs = 1000,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.nudge(), this.pollMs);
    this.timer.unref();
    this.nudge();
  }

  /** Looks for due webhooks now (or right after the pass under way). */
  nudge(): void {
    if (this.stopped) return;
    if (this.pass) {
      this.again = true;
      return;
    }
    this.pass = this.deliverDue()
      .catch((err: unknown) => this.parts.logger.error({ err }, 'webhook pass failed'))
      .finally(() => {
        this.pass = undefined;
        if (this.again) {
          this.again = false;
          this.nudge();
        }
      });
  }

  /** Stops looking; waits for the calls under way (each ends within its timeout). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.pass;
  }

  /** One pass: an attempt at each due webhook, BATCH at a time, until none is due. */
  async deliverDue(): Promise<void> {
    for (;;) {
      const due = await this.parts.webhooks.due(Date.now(), BATCH);
      await Promise.all(due.map((w) => this.attempt(w)));
      if (due.length < BATCH || this.stopped) return;
    }
  }

  private async attempt(w: WebhookRow): Promise<void> {
    const now = Date.now();
    if (!(await this.parts.webhooks.claim(w.runId, w.nextAttemptAt, now + LEASE_MS))) return;
    const run = await this.parts.transcripts.getRun(w.runId);
    if (!run) return; // deleted meanwhile: its webhook went with it
    // The operator may have narrowed the list since the run was asked for.
    const refused = webhookUrlRefusal(w.url, this.parts.config.allowedOrigins);
    const answer =
      refused === undefined
        ? await this.call(w, JSON.stringify({ type: 'run.ended', run: runJson(run) }))
        : { status: null, error: refused };
    const outcome = this.outcomeOf(w, answer, now, refused !== undefined);
    await this.parts.webhooks.attempted(w.runId, outcome);
    const log = {
      runId: w.runId,
      attempt: outcome.attempts,
      state: outcome.state,
      status: answer.status,
      error: answer.error,
    };
    if (outcome.state === 'failed') this.parts.logger.warn(log, 'webhook given up');
    else
      this.parts.logger.info(log, outcome.state === 'delivered' ? 'webhook delivered' : 'webhook failed; will retry');
  }

  /** One POST: the status it got, and what was wrong (null: a 2xx). */
  private async call(w: WebhookRow, body: string): Promise<{ status: number | null; error: string | null }> {
    const secret = this.parts.config.secret!;
    try {
      const res = await fetch(w.url, {
        method: 'POST',
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'ephemera-webhook/1',
          'ephemera-signature': webhookSignature(secret, Math.floor(Date.now() / 1000), body),
          'ephemera-run-id': w.runId,
          'ephemera-attempt': String(w.attempts + 1),
        },
      });
      await res.body?.cancel();
      return { status: res.status, error: res.status >= 200 && res.status < 300 ? null : `answered ${res.status}` };
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      return {
        status: null,
        error: (err as Error).name === 'TimeoutError' ? 'no answer within 10 s' : (cause ?? (err as Error).message),
      };
    }
  }

  private outcomeOf(
    w: WebhookRow,
    answer: { status: number | null; error: string | null },
    now: number,
    final: boolean,
  ): WebhookAttempt {
    const attempts = w.attempts + 1;
    const delivered = answer.error === null;
    const gaveUp = !delivered && (final || attempts >= this.parts.config.attempts);
    const wait = Math.min(this.parts.config.firstRetryMs * 2 ** (attempts - 1), MAX_WAIT_MS);
    return {
      state: delivered ? 'delivered' : gaveUp ? 'failed' : 'pending',
      attempts,
      nextAttemptAt: delivered || gaveUp ? now : now + wait,
      lastAttemptAt: now,
      lastStatus: answer.status,
      lastError: answer.error,
    };
  }
}
