/**
 * The PostgreSQL twin of src/db/sqlite/schema.ts (drizzle `pg-core`, for drizzle-orm/node-postgres).
 *
 * Same tables, columns, property names and inferred row types as the SQLite schema (checked
 * by test/unit/schemas.test.ts). SQLite's INTEGER is 64-bit; here every value in milliseconds (epoch or
 * duration), bytes or tokens, and the histogram buckets (below 10 ms a bucket is the ms value
 * itself), is `bigint` in `mode: 'number'` (a JS number, as better-sqlite3 returns); plain
 * small counts (turns, tool and model calls, replayed messages, files, roll-up counts), pids
 * and exit codes are `integer`. What the SQLite migrations set up by hand (full-text search,
 * the roll-up triggers) is in migrations/0000_init.sql, after drizzle-kit's part.
 *
 * Not declared here, on purpose: the tsvector column `messages.content_fts` (kept by a trigger)
 * and its GIN index. Declaring it would add a property to MessageRow; drizzle's selects and
 * returning() name their columns, so it stays invisible to them, as messages_fts is to the
 * SQLite schema. (Hence also: never `drizzle-kit push` this schema, it would drop the column.)
 */
import { sql } from 'drizzle-orm';
import { bigint, customType, index, integer, pgTable, primaryKey, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { API_KEY_ROLES, MESSAGE_ROLES, RUN_EVENT_TYPES, RUN_STATUSES, WEBHOOK_STATES } from '../rows.js';

/** `bytea` as a Buffer both ways (node-postgres reads bytea as Buffer and writes Buffers as bytea). */
const bytea = customType<{ data: Buffer; driverData: Buffer }>({
  dataType() {
    return 'bytea';
  },
});

/** Epoch ms, durations in ms, bytes, tokens: 64-bit, read back as a JS number. */
const int64 = (name: string) => bigint(name, { mode: 'number' });

/** API keys: only a SHA-256 of the secret is kept; `prefix` identifies a key in listings. */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    role: text('role', { enum: API_KEY_ROLES }).notNull(),
    prefix: text('prefix').notNull(),
    secretHash: text('secret_hash').notNull(),
    createdAt: int64('created_at').notNull(),
    revokedAt: int64('revoked_at'),
    lastUsedAt: int64('last_used_at'),
  },
  (t) => [uniqueIndex('api_keys_hash_idx').on(t.secretHash)],
);

export const sessions = pgTable(
  'sessions',
  {
    id: text('id').primaryKey(),
    agent: text('agent').notNull(),
    /** The key that opened it; null when the service ran without keys. */
    ownerKeyId: text('owner_key_id'),
    createdAt: int64('created_at').notNull(),
    updatedAt: int64('updated_at').notNull(),
    // Kept up to date by each turn, so listings need no join over runs or messages.
    turns: integer('turns').notNull().default(0),
    lastStatus: text('last_status'),
    totalMs: int64('total_ms').notNull().default(0),
    totalTokens: int64('total_tokens').notNull().default(0),
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

export const runs = pgTable(
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
    timeoutMs: int64('timeout_ms').notNull(),
    queuedMs: int64('queued_ms'),
    createMs: int64('create_ms'),
    startMs: int64('start_ms'),
    firstByteMs: int64('first_byte_ms'),
    totalMs: int64('total_ms'),
    bytesOut: int64('bytes_out').notNull().default(0),
    bytesErr: int64('bytes_err').notNull().default(0),
    // Reported by agents that know them (Gemini's `result` event); null otherwise.
    inputTokens: int64('input_tokens'),
    outputTokens: int64('output_tokens'),
    totalTokens: int64('total_tokens'),
    toolCalls: integer('tool_calls'),
    /**
     * Counted by the model gateway: calls forwarded, and those the model API answered with an error or never answered.
     */
    modelCalls: integer('model_calls'),
    modelErrors: integer('model_errors'),
    /** What the run replayed of its session: messages kept, older ones left out (REPLAY_MAX_BYTES), their size. */
    replayMessages: integer('replay_messages'),
    replayOmitted: integer('replay_omitted'),
    replayBytes: int64('replay_bytes'),
    /** The session's workspace as the run found it and as it left it (src/workspace); null: none, or not kept. */
    workspaceInBytes: int64('workspace_in_bytes'),
    workspaceInSha256: text('workspace_in_sha256'),
    workspaceOutBytes: int64('workspace_out_bytes'),
    workspaceOutSha256: text('workspace_out_sha256'),
    /** The Idempotency-Key the request came with: one run per key and API key (the keyless operator counts as one). */
    idempotencyKey: text('idempotency_key'),
    createdAt: int64('created_at').notNull(),
    endedAt: int64('ended_at'),
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
export const workspaces = pgTable('workspaces', {
  sessionId: text('session_id')
    .primaryKey()
    .references(() => sessions.id, { onDelete: 'cascade' }),
  tar: bytea('tar').notNull(),
  bytes: int64('bytes').notNull(),
  files: integer('files').notNull(),
  sha256: text('sha256').notNull(),
  updatedAt: int64('updated_at').notNull(),
});
export type WorkspaceRow = typeof workspaces.$inferSelect;

/**
 * Roll-ups of finished runs for /v1/stats, per hour, quarter day and (UTC) day, kept
 * by triggers on `runs` (PL/pgSQL twins of SQLite migrations 0007, 0008): a run counts in
 * the periods it was created in, once it has ended, and stops counting when it is deleted.
 * `span` is the period's length in ms (3600000, 21600000 or 86400000), `start` its first ms.
 */
export const runCounts = pgTable(
  'run_counts',
  {
    span: int64('span').notNull(),
    start: int64('start').notNull(),
    agent: text('agent').notNull(),
    status: text('status').notNull(),
    runs: integer('runs').notNull(),
  },
  (t) => [primaryKey({ columns: [t.span, t.start, t.agent, t.status] })],
);

/**
 * Latency histograms per period: below 10 ms one bucket per ms; from 10 ms on, buckets
 * 4% wide (bucket 10 + floor(ln(ms / 10) / ln 1.04), in double precision, as SQLite
 * computes it: run_latency_bucket(bigint) of the migration, which stats' edge queries use too).
 */
export const runLatency = pgTable(
  'run_latency',
  {
    span: int64('span').notNull(),
    start: int64('start').notNull(),
    metric: text('metric', { enum: ['first_byte', 'total'] }).notNull(),
    bucket: int64('bucket').notNull(),
    runs: integer('runs').notNull(),
  },
  (t) => [primaryKey({ columns: [t.span, t.start, t.metric, t.bucket] })],
);

export const messages = pgTable(
  'messages',
  {
    // SQLite's `integer primary key autoincrement` (a 64-bit rowid): an identity column that,
    // like it, still accepts an explicit id.
    id: int64('id').primaryKey().generatedByDefaultAsIdentity(),
    sessionId: text('session_id')
      .notNull()
      .references(() => sessions.id, { onDelete: 'cascade' }),
    runId: text('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    role: text('role', { enum: MESSAGE_ROLES }).notNull(),
    content: text('content').notNull(),
    /** Bytes of a long reply left out of `content` (its head and tail are kept): MAX_STORED_OUTPUT_BYTES. */
    omittedBytes: int64('omitted_bytes').notNull().default(0),
    createdAt: int64('created_at').notNull(),
  },
  (t) => [
    index('messages_session_idx').on(t.sessionId, t.id),
    // A run's messages (turnOf, retryTurn), and the cascade when its run is deleted (a prune).
    index('messages_run_idx').on(t.runId),
  ],
);

/** Each run's event log (src/db/contract.ts RunEventStore): deleted with its run. */
export const runEvents = pgTable(
  'run_events',
  {
    runId: text('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    seq: integer('seq').notNull(),
    type: text('type', { enum: RUN_EVENT_TYPES }).notNull(),
    data: text('data').notNull(),
    createdAt: int64('created_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.runId, t.seq] })],
);

/** Each run's webhook and its delivery (src/db/contract.ts WebhookStore): deleted with its run. */
export const runWebhooks = pgTable(
  'run_webhooks',
  {
    runId: text('run_id')
      .primaryKey()
      .references(() => runs.id, { onDelete: 'cascade' }),
    url: text('url').notNull(),
    state: text('state', { enum: WEBHOOK_STATES }).notNull(),
    attempts: integer('attempts').notNull(),
    nextAttemptAt: int64('next_attempt_at').notNull(),
    lastAttemptAt: int64('last_attempt_at'),
    lastStatus: integer('last_status'),
    lastError: text('last_error'),
    createdAt: int64('created_at').notNull(),
  },
  (t) => [index('run_webhooks_due_idx').on(t.state, t.nextAttemptAt)],
);

/** Live service instances: each writes a heartbeat, so others can tell when it is gone. */
export const instances = pgTable('instances', {
  id: text('id').primaryKey(),
  pid: integer('pid').notNull(),
  startedAt: int64('started_at').notNull(),
  heartbeatAt: int64('heartbeat_at').notNull(),
});
