/**
 * What the store keeps, as both dialects read it back: the words a row may hold (roles,
 * statuses) and the rows of sessions, runs and messages. The SQLite and Postgres schemas
 * (src/db/sqlite/schema.ts, src/db/postgres/schema.ts) declare their tables from these, and
 * test/unit/schemas.test.ts checks at compile time that each reads back exactly these rows.
 */

export const API_KEY_ROLES = ['admin', 'user'] as const;
export type ApiKeyRole = (typeof API_KEY_ROLES)[number];

export const RUN_STATUSES = [
  'running',
  'succeeded',
  'failed',
  'timeout',
  'cancelled',
  'oom',
  'output_limit',
  'interrupted',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export const MESSAGE_ROLES = ['user', 'assistant'] as const;
export type MessageRole = (typeof MESSAGE_ROLES)[number];

/**
 * What a run's event log holds (issue 27): the events its streams send (src/http/run-shapes.ts),
 * and `cut`, where the log stopped at its bound.
 */
export const RUN_EVENT_TYPES = [
  'run',
  'stdout',
  'stderr',
  'delta',
  'tool_use',
  'tool_result',
  'warning',
  'error',
  'done',
  'cut',
] as const;
export type RunEventType = (typeof RUN_EVENT_TYPES)[number];

export interface SessionRow {
  id: string;
  agent: string;
  /** The key that opened it; null when the service ran without keys. */
  ownerKeyId: string | null;
  createdAt: number;
  updatedAt: number;
  turns: number;
  lastStatus: string | null;
  totalMs: number;
  totalTokens: number;
}

/** One run; times in ms since the epoch, durations in ms; null where the run did not get that far. */
export interface RunRow {
  id: string;
  sessionId: string;
  agent: string;
  image: string;
  instanceId: string | null;
  keyId: string | null;
  status: RunStatus;
  exitCode: number | null;
  errorCode: string | null;
  errorMessage: string | null;
  stderr: string;
  timeoutMs: number;
  queuedMs: number | null;
  createMs: number | null;
  startMs: number | null;
  firstByteMs: number | null;
  totalMs: number | null;
  bytesOut: number;
  bytesErr: number;
  inputTokens: number | null;
  outputTokens: number | null;
  totalTokens: number | null;
  toolCalls: number | null;
  modelCalls: number | null;
  modelErrors: number | null;
  replayMessages: number | null;
  replayOmitted: number | null;
  replayBytes: number | null;
  workspaceInBytes: number | null;
  workspaceInSha256: string | null;
  workspaceOutBytes: number | null;
  workspaceOutSha256: string | null;
  idempotencyKey: string | null;
  createdAt: number;
  endedAt: number | null;
}

export interface MessageRow {
  id: number;
  sessionId: string;
  runId: string;
  role: MessageRole;
  content: string;
  omittedBytes: number;
  createdAt: number;
}

/** Where a run's webhook delivery stands: waiting (for the run's end, or its next try), done, or given up. */
export const WEBHOOK_STATES = ['pending', 'delivered', 'failed'] as const;
export type WebhookState = (typeof WEBHOOK_STATES)[number];

/** A run's webhook: where it goes, and how its delivery went so far. */
export interface WebhookRow {
  runId: string;
  url: string;
  state: WebhookState;
  attempts: number;
  /** When it may be tried next (once its run has ended); a claim moves it ahead by a lease. */
  nextAttemptAt: number;
  lastAttemptAt: number | null;
  /** The HTTP status of the last answer; null when none came (refused, timed out). */
  lastStatus: number | null;
  lastError: string | null;
  createdAt: number;
}

/** One event of a run's log: its place in the run (1, 2, ...), its type, its JSON object as the streams send it. */
export interface RunEventRow {
  runId: string;
  seq: number;
  type: RunEventType;
  /** The event's data, JSON. */
  data: string;
  createdAt: number;
}
