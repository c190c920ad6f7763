import { sql } from 'drizzle-orm';
import { blob, index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';
import { API_KEY_ROLES, MESSAGE_ROLES, RUN_EVENT_TYPES, RUN_STATUSES, WEBHOOK_STATES } from '../rows.js';

/** API keys: only a SHA-256 of the secret is kept; `prefix` identifies a key in listings. */
export const apiKeys = sqliteTable(
  'api_keys',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    role: text('role', { enum: API_KEY_ROLES }).notNull(),
    prefix: text('prefix').notNull(),
    secretHash: text('secret_hash').notNull(),
    createdAt: integer('created_at').notNull(),
    revokedAt: integer('revoked_at'),
    lastUsedAt: integer('last_used_at'),
  },
  (t) => [uniqueIndex('api_keys_hash_idx').on(t.secretHash)],
);

export const sessions = sqliteTable(
  'sessions',
  {
    id: text('id').primaryKey(),
    agent: text('agent').notNull(),
    /** The key that opened it; null when the service ran without keys. */
    ownerKeyId: text('owner_key_id'),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
    // Kept up to date by each turn, so listings need no join over runs or messages.
    turns: integer('turns').notNull().default(0),
    lastStatus: text('last_status'),
    totalMs: integer('total_ms').notNull().default(0),
    totalTokens: integer('total_tokens').notNull().default(0),
  },
  (t) => [
    index('sessions_created_idx').on(t.createdAt, t.id),
    index('sessions_owner_created_idx').on(t.ownerKeyId, t.createdAt, t.id),
    index('sessions_agent_created_idx').on(t.agent, t.createdAt, t.id),
    index('sessions_status_created_idx').on(t.lastStatus, t.createdAt, t.id),
    // RETENTION_DAYS finds the sessions nobody touched since.
    index('sessions_updated_idx').on(t.updatedAt),
  ],
);

export const runs = sqliteTable(
  'runs',
  {
    id: text('id').primaryKey(),
    sessionId: text('session_id')
      .notNull()
      .references(() => sessions.id, { onDelete: 'cascade' }),
    agent: text('agent').notNull(),
    image: text('image').notNull(),
    /** The service instance that ran it (see `instances`). */
    instanceId: text('instance_id'),
    /** The API key that ran it; null when the service ran without keys. */
    keyId: text('key_id'),
    status: text('status', { enum: RUN_STATUSES }).notNull(),
    exitCode: integer('exit_code'),
    errorCode: text('error_code'),
    errorMessage: text('error_message'),
    stderr: text('stderr').notNull().default(''),
    timeoutMs: integer('timeout_ms').notNull(),
    queuedMs: integer('queued_ms'),
    createMs: integer('create_ms'),
    startMs: integer('start_ms'),
    firstByteMs: integer('first_byte_ms'),
    totalMs: integer('total_ms'),
    bytesOut: integer('bytes_out').notNull().default(0),
    bytesErr: integer('bytes_err').notNull().default(0),
    // Reported by agents that know them (Gemini's `result` event); null otherwise.
    inputTokens: integer('input_tokens'),
    outputTokens: integer('output_tokens'),
    totalTokens: integer('total_tokens'),
    toolCalls: integer('tool_calls'),
    /**
     * Counted by the model gateway: calls forwarded, and those the model API answered with an error or never answered.
     */
    modelCalls: integer('model_calls'),
    modelErrors: integer('model_errors'),
    /** What the run replayed of its session: messages kept, older ones left out (REPLAY_MAX_BYTES), their size. */
    replayMessages: integer('replay_messages'),
    replayOmitted: integer('replay_omitted'),
    replayBytes: integer('replay_bytes'),
    /** The session's workspace as the run found it and as it left it (src/workspace); null: none, or not kept. */
    workspaceInBytes: integer('workspace_in_bytes'),
    workspaceInSha256: text('workspace_in_sha256'),
    workspaceOutBytes: integer('workspace_out_bytes'),
    workspaceOutSha256: text('workspace_out_sha256'),
    /** The Idempotency-Key the request came with: one run per key and API key (the keyless operator counts as one). */
    idempotencyKey: text('idempotency_key'),
    createdAt: integer('created_at').notNull(),
    endedAt: integer('ended_at'),
  },
  (t) => [
    uniqueIndex('runs_idempotency_idx')
      .on(sql`coalesce(${t.keyId}, '')`, t.idempotencyKey)
      .where(sql`${t.idempotencyKey} is not null`),
    index('runs_session_idx').on(t.sessionId, t.createdAt),
    index('runs_status_idx').on(t.status),
    index('runs_created_idx').on(t.createdAt),
  ],
);

/**
 * Each session's workspace: its files as one tar (src/workspace/archive.ts), in the same
 * database as its transcript, so that a run's end and the workspace it left are stored in
 * one transaction, and deleting the session deletes it (the foreign key cascades).
 */
export const workspaces = sqliteTable('workspaces', {
  sessionId: text('session_id')
    .primaryKey()
    .references(() => sessions.id, { onDelete: 'cascade' }),
  tar: blob('tar', { mode: 'buffer' }).notNull(),
  bytes: integer('bytes').notNull(),
  files: integer('files').notNull(),
  sha256: text('sha256').notNull(),
  updatedAt: integer('updated_at').notNull(),
});
export type WorkspaceRow = typeof workspaces.$inferSelect;

/**
 * Roll-ups of finished runs for /v1/stats, per hour, quarter day and (UTC) day, kept
 * by SQL triggers on `runs` (migrations 0007, 0008): a run counts in the periods it was
 * created in, once it has ended, and stops counting when it is deleted. A long window
 * then costs per period, not per run. `span` is the period's length in ms (3600000,
 * 21600000 or 86400000), `start` its first ms.
 */
export const runCounts = sqliteTable(
  'run_counts',
  {
    span: integer('span').notNull(),
    start: integer('start').notNull(),
    agent: text('agent').notNull(),
    status: text('status').notNull(),
    runs: integer('runs').notNull(),
  },
  (t) => [primaryKey({ columns: [t.span, t.start, t.agent, t.status] })],
);

/**
 * Latency histograms per period: below 10 ms one bucket per ms; from 10 ms on, buckets
 * 4% wide (bucket 10 + floor(ln(ms / 10) / ln 1.04)), so a percentile read from them is
 * within 2% (±1 ms of rounding) of the exact one.
 */
export const runLatency = sqliteTable(
  'run_latency',
  {
    span: integer('span').notNull(),
    start: integer('start').notNull(),
    metric: text('metric', { enum: ['first_byte', 'total'] }).notNull(),
    bucket: integer('bucket').notNull(),
    runs: integer('runs').notNull(),
  },
  (t) => [primaryKey({ columns: [t.span, t.start, t.metric, t.bucket] })],
);

export const messages = sqliteTable(
  'messages',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    sessionId: text('session_id')
      .notNull()
      .references(() => sessions.id, { onDelete: 'cascade' }),
    runId: text('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    role: text('role', { enum: MESSAGE_ROLES }).notNull(),
    content: text('content').notNull(),
    /** Bytes of a long reply left out of `content` (its head and tail are kept): MAX_STORED_OUTPUT_BYTES. */
    omittedBytes: integer('omitted_bytes').notNull().default(0),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [
    index('messages_session_idx').on(t.sessionId, t.id),
    // A run's messages (turnOf, retryTurn), and the cascade when its run is deleted (a prune).
    index('messages_run_idx').on(t.runId),
  ],
);

/** Each run's event log (src/db/contract.ts RunEventStore): deleted with its run. */
export const runEvents = sqliteTable(
  'run_events',
  {
    runId: text('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    seq: integer('seq').notNull(),
    type: text('type', { enum: RUN_EVENT_TYPES }).notNull(),
    data: text('data').notNull(),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.runId, t.seq] })],
);

/** Each run's webhook and its delivery (src/db/contract.ts WebhookStore): deleted with its run. */
export const runWebhooks = sqliteTable(
  'run_webhooks',
  {
    runId: text('run_id')
      .primaryKey()
      .references(() => runs.id, { onDelete: 'cascade' }),
    url: text('url').notNull(),
    state: text('state', { enum: WEBHOOK_STATES }).notNull(),
    attempts: integer('attempts').notNull(),
    nextAttemptAt: integer('next_attempt_at').notNull(),
    lastAttemptAt: integer('last_attempt_at'),
    lastStatus: integer('last_status'),
    lastError: text('last_error'),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [index('run_webhooks_due_idx').on(t.state, t.nextAttemptAt)],
);

/** Live service instances: each writes a heartbeat, so others can tell when it is gone. */
export const instances = sqliteTable('instances', {
  id: text('id').primaryKey(),
  pid: integer('pid').notNull(),
  startedAt: integer('started_at').notNull(),
  heartbeatAt: integer('heartbeat_at').notNull(),
});
