import { index, integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';

export const sessions = sqliteTable(
  'sessions',
  {
    id: text('id').primaryKey(),
    agent: text('agent').notNull(),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [index('sessions_updated_idx').on(t.updatedAt)],
);

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
    createdAt: integer('created_at').notNull(),
    endedAt: integer('ended_at'),
  },
  (t) => [
    index('runs_session_idx').on(t.sessionId, t.createdAt),
    index('runs_status_idx').on(t.status),
  ],
);

export const MESSAGE_ROLES = ['user', 'assistant'] as const;
export type MessageRole = (typeof MESSAGE_ROLES)[number];

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
    createdAt: integer('created_at').notNull(),
  },
  (t) => [index('messages_session_idx').on(t.sessionId, t.id)],
);

export type SessionRow = typeof sessions.$inferSelect;
export type RunRow = typeof runs.$inferSelect;
export type MessageRow = typeof messages.$inferSelect;

/** Live service instances: each writes a heartbeat, so others can tell when it is gone. */
export const instances = sqliteTable('instances', {
  id: text('id').primaryKey(),
  pid: integer('pid').notNull(),
  startedAt: integer('started_at').notNull(),
  heartbeatAt: integer('heartbeat_at').notNull(),
});
