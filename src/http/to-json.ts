import type { LoggedToolCall } from '../runner/events/tool-calls.js';
import type { MessageRow, RunRow, SessionRow, WebhookRow } from '../db/rows.js';
import { METRIC_NAMES, metricsJson } from '../run-metrics.js';

const iso = (ms: number) => new Date(ms).toISOString();

export function sessionJson(s: SessionRow) {
  return {
    id: s.id,
    owner: s.ownerKeyId,
    agent: s.agent,
    created_at: iso(s.createdAt),
    updated_at: iso(s.updatedAt),
    turns: s.turns,
    last_status: s.lastStatus as RunRow['status'] | null,
    totals: { total_ms: s.totalMs, total_tokens: s.totalTokens },
  };
}

/** A reply's tool calls as a session's transcript shows them: the result's size, not the result. */
export function toolCallJson(t: LoggedToolCall) {
  return {
    id: t.id,
    name: t.name,
    input: t.input,
    status: t.status,
    result_bytes: t.output === null ? null : Buffer.byteLength(t.output),
  };
}

export function messageJson(m: MessageRow) {
  return {
    id: m.id,
    role: m.role,
    content: m.content,
    omitted_bytes: m.omittedBytes,
    run_id: m.runId,
    created_at: iso(m.createdAt),
  };
}

export function runJson(r: RunRow) {
  return {
    id: r.id,
    session_id: r.sessionId,
    agent: r.agent,
    image: r.image,
    key_id: r.keyId,
    status: r.status,
    exit_code: r.exitCode,
    error: r.errorCode ? { code: r.errorCode, message: r.errorMessage ?? '' } : null,
    stderr: r.stderr,
    timeout_ms: r.timeoutMs,
    created_at: iso(r.createdAt),
    ended_at: r.endedAt === null ? null : iso(r.endedAt),
    replay:
      r.replayMessages === null
        ? null
        : { messages: r.replayMessages, omitted_messages: r.replayOmitted ?? 0, bytes: r.replayBytes ?? 0 },
    metrics: metricsJson(r, METRIC_NAMES),
  };
}

/** A run's webhook and how its delivery went (the URL is the caller's own: it holds no credentials). */
export function webhookJson(w: WebhookRow) {
  return {
    url: w.url,
    state: w.state,
    attempts: w.attempts,
    next_attempt_at: w.state === 'pending' ? iso(w.nextAttemptAt) : null,
    last_attempt_at: w.lastAttemptAt === null ? null : iso(w.lastAttemptAt),
    last_status: w.lastStatus,
    last_error: w.lastError,
  };
}
