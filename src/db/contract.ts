import type { RunMetrics } from '../run-metrics.js';
import type {
  ApiKeyRole,
  MessageRole,
  MessageRow,
  RunEventRow,
  RunEventType,
  RunRow,
  RunStatus,
  SessionRow,
  WebhookRow,
} from './rows.js';
import type { Workspace } from '../workspace/archive.js';

/**
 * What the service keeps, one interface per concern, each with two implementations: SQLite
 * (embedded, the default: src/db/sqlite/) and Postgres (shared by replicas: src/db/postgres/), side by side, with what
 * both use in src/db/shared/.
 * Every call is async, since Postgres answers over the network; the SQLite ones answer at
 * once. What must hold across processes (a session's one run at a time, a key used once)
 * is held by the database in one transaction, never by this process's memory.
 */
export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  readonly transcripts: TranscriptStore;
  readonly workspaces: WorkspaceStore;
  readonly keys: ApiKeyStore;
  readonly sessions: SessionQueries;
  readonly instances: InstanceStore;
  readonly events: RunEventStore;
  readonly webhooks: WebhookStore;
  /**
   * RETENTION_DAYS: deletes sessions untouched for `days` (none with a run in progress); how many went (would go:
   * dryRun).
   */
  prune(days: number, now?: number, opts?: { batch?: number; dryRun?: boolean }): Promise<number>;
  /**
   * The database's clock, epoch ms: what instances' heartbeats are written and judged by, so
   * that replicas on hosts whose clocks differ agree on which of them stopped beating.
   */
  now(): Promise<number>;
  /** Whether the database answers. */
  healthy(): Promise<boolean>;
  close(): Promise<void>;
}

/** Sessions, their messages and their runs. */
export interface TranscriptStore {
  getSession(id: string): Promise<SessionRow | undefined>;
  getRun(id: string): Promise<RunRow | undefined>;
  /** Records the prompt and a `running` run in one transaction, or says why nothing was stored. */
  beginTurn(t: TurnStart): Promise<TurnBegun>;
  /** Runs a stored turn again under a new run (an Idempotency-Key retry of a run the engine refused). */
  retryTurn(
    t: Omit<TurnStart, 'newSessionAgent' | 'earlier' | 'prompt'> & { previousRunId: string; idempotencyKey: string },
  ): Promise<TurnBegun>;
  isLastTurn(run: Pick<RunRow, 'id' | 'sessionId'>): Promise<boolean>;
  runByIdempotencyKey(keyId: string | null, idempotencyKey: string): Promise<RunRow | undefined>;
  turnOf(runId: string): Promise<{ prompt: string | undefined; reply: MessageRow | undefined }>;
  replayBefore(sessionId: string, messageId: number, maxBytes: number): Promise<Replay>;
  messagesOf(sessionId: string): Promise<MessageRow[]>;
  /** Ends a running run and stores its reply in one transaction; false when it had ended already. */
  finishRun(runId: string, sessionId: string, end: StoredEnding): Promise<boolean>;
}

/**
 * Each run's event log, in order: what the run emitted, as its streams sent it. Written in
 * batches; deleted with its run (and so with its session).
 */
export interface RunEventStore {
  /** Appends a batch of a run's events; their `seq` continue the log (a `seq` already there is an error). */
  append(runId: string, events: Omit<RunEventRow, 'runId'>[]): Promise<void>;
  /** The run's events after `afterSeq` (0: from the start), in order, at most `limit`. */
  after(runId: string, afterSeq: number, limit: number): Promise<RunEventRow[]>;
  /** The events of these types of these runs (a replay's tool calls, say), each run's in order. */
  ofRuns(runIds: readonly string[], types: readonly RunEventType[]): Promise<RunEventRow[]>;
}

/** How one attempt at a webhook went. */
export type WebhookAttempt = Pick<
  WebhookRow,
  'state' | 'attempts' | 'nextAttemptAt' | 'lastAttemptAt' | 'lastStatus' | 'lastError'
>;

/**
 * Runs' webhooks and their deliveries. A webhook is due once its run has ended and its next
 * attempt's time has come; a process takes it for one attempt with `claim`, so two replicas
 * never call the same one at once. Deleted with its run.
 */
export interface WebhookStore {
  /** Registers a run's webhook: due as soon as the run ends. */
  add(runId: string, url: string, now: number): Promise<void>;
  /** Pending webhooks of ended runs whose time has come, the longest waiting first, at most `limit`. */
  due(now: number, limit: number): Promise<WebhookRow[]>;
  /** Takes a due webhook for an attempt (its next attempt moves to `until`), unless another took it first. */
  claim(runId: string, seenNextAttemptAt: number, until: number): Promise<boolean>;
  attempted(runId: string, attempt: WebhookAttempt): Promise<void>;
  get(runId: string): Promise<WebhookRow | undefined>;
}

/** Sessions' workspaces. */
export interface WorkspaceStore {
  get(sessionId: string): Promise<StoredWorkspace | undefined>;
  digestOf(sessionId: string): Promise<string | undefined>;
  put(sessionId: string, w: Workspace, now: number): Promise<void>;
  /** Stores an edit if the workspace is still `basedOn` and no run of the session is in progress. */
  putIfUnchanged(sessionId: string, w: Workspace, basedOn: string | undefined, now: number): Promise<boolean>;
}

/** API keys (only their hashes). */
export interface ApiKeyStore {
  create(name: string, role: ApiKeyRole, now?: number): Promise<{ key: string; info: ApiKeyInfo }>;
  list(): Promise<ApiKeyInfo[]>;
  revoke(idOrName: string, now?: number): Promise<number>;
  anyActive(): Promise<boolean>;
  everCreated(): Promise<boolean>;
  matching(idOrName: string): Promise<ApiKeyInfo[]>;
  isActive(id: string): Promise<boolean>;
  verify(presented: string, now?: number): Promise<ApiKeyInfo | undefined>;
}

/** Listing and search, a session's runs, deletion, /v1/stats. */
export interface SessionQueries {
  listSessions(filter: SessionFilter, limit: number, cursor?: { createdAt: number; id: string }): Promise<SessionPage>;
  runsOf(sessionId: string): Promise<RunRow[]>;
  /** Removes the session with all it owns, unless a run of it is in progress (checked in the same statement). */
  deleteSession(id: string): Promise<'deleted' | 'busy' | 'gone'>;
  stats(from: number, to: number): Promise<Stats>;
}

/** The service instances sharing the database, by heartbeat. */
export interface InstanceStore {
  heartbeat(instanceId: string, pid: number, now: number): Promise<void>;
  recentHeartbeat(
    instanceId: string,
    now: number,
    staleMs: number,
  ): Promise<{ pid: number; heartbeatAt: number } | undefined>;
  staleInstances(now: number, staleMs: number): Promise<Set<string>>;
  /**
   * Marks `interrupted` the runs left `running` by instances with no heartbeat in `staleMs`
   * (their process is gone), and, at this instance's start (`ownToo`, the default), its own
   * and those of no instance. A survivor calls it as it beats: a killed replica's runs end.
   */
  interruptLeftoverRuns(instanceId: string, now: number, staleMs: number, opts?: { ownToo?: boolean }): Promise<number>;
}

// The stores' vocabulary, which their implementations (src/db/sqlite/, src/db/postgres/) take from here.

export interface TurnStart {
  sessionId: string;
  /** Set when the turn opens a new session. */
  newSessionAgent?: string;
  runId: string;
  agent: string;
  image: string;
  instanceId: string;
  /** The API key running it (and owning a new session); null without keys. */
  keyId: string | null;
  timeoutMs: number;
  prompt: string;
  /**
   * A new session's history, given with its first turn (the OpenAI API's earlier messages): stored before the prompt.
   */
  earlier?: { role: MessageRole; content: string }[];
  /** The request's Idempotency-Key: a second turn with it (and the same API key) is refused ('duplicate'). */
  idempotencyKey?: string;
  /**
   * Files the request laid over the session's workspace (`basedOn`: the digest of the workspace
   * they were laid over; undefined: none): stored with the turn, or the turn is refused ('stale')
   * when the workspace changed meanwhile.
   */
  files?: { workspace: Workspace; basedOn: string | undefined };
  now: number;
}

/** What beginTurn did: the stored prompt's id, or why nothing was stored. */
export type TurnBegun = { userMessageId: number } | 'busy' | 'gone' | 'duplicate' | 'stale';

/** A run's ending as the store writes it, with its stderr, reply, metrics and what it replayed and left. */
export interface StoredEnding {
  status: Exclude<RunStatus, 'running'>;
  exitCode: number | null;
  errorCode: string | null;
  errorMessage: string | null;
  stderr: string;
  /** The assistant's reply as stored; null when no container ran, so there is no reply to record. */
  output: { text: string; omittedBytes: number } | null;
  metrics: RunMetrics;
  /** What the run replayed; null when it ended before its replay was built. */
  replay: { messages: number; omitted: number; bytes: number } | null;
  /**
   * The session's workspace as the run found it and as it left it (`out` is stored as the
   * session's, in the same transaction); null for a profile that keeps none.
   */
  workspace?: { in: { bytes: number; sha256: string } | undefined; out: Workspace | undefined } | null;
  now: number;
}

/** What a turn replays of its session: the newest messages that fit, and how many did not. */
export interface Replay {
  /** False for a profile that replays nothing: then the rest is empty and nothing is recorded. */
  kept: boolean;
  messages: MessageRow[];
  /** Older messages left out to stay under the bound. */
  omitted: number;
  /** The kept messages' size as replayed (approximately: JSON-escaped content plus a line's fields). */
  bytes: number;
}

export interface ApiKeyInfo {
  id: string;
  name: string;
  role: ApiKeyRole;
  prefix: string;
  createdAt: number;
  revokedAt: number | null;
  lastUsedAt: number | null;
}

export interface SessionFilter {
  agent?: string;
  /** Status of the session's last run. */
  status?: string;
  ownerKeyId?: string;
  /** Sessions created in [from, to), epoch ms. */
  from?: number;
  to?: number;
  /** Full-text search in the session's messages. */
  q?: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** A page of sessions; a text search also says how many matching messages it read. */
export interface SessionPage extends Page<SessionRow> {
  scanned?: number;
}

export type Percentiles = { n: number | null; p50: number | null; p95: number | null };
export interface Stats {
  byStatus: Array<{ status: string; runs: number }>;
  byAgent: Array<{ agent: string; runs: number }>;
  firstByteMs: Percentiles;
  totalMs: Percentiles;
}

/** A session's workspace as stored: its archive and what the runs record of it. */
export interface StoredWorkspace {
  tar: Buffer;
  bytes: number;
  files: number;
  sha256: string;
}
