import type { Replay, StoredEnding, TranscriptStore, TurnBegun, TurnStart } from '../contract.js';
import { and, asc, count, eq, lt, sql } from 'drizzle-orm';
import type { Db } from './open.js';
import { digestIn, putWorkspace } from './workspaces.js';
import { messages, runs, sessions } from './schema.js';
import type { MessageRow, RunRow, SessionRow } from '../rows.js';
import { ReplayWalk } from '../shared/replay.js';
import { endColumns } from '../shared/run-end.js';

/** Sessions, their messages and their runs: everything the service keeps. */
export class SqliteTranscriptStore implements TranscriptStore {
  /** beginTurn's statements, built once: it is on every run's way to its first byte. */
  private readonly turnQueries: ReturnType<typeof turnQueries>;

  constructor(private readonly db: Db) {
    this.turnQueries = turnQueries(db);
  }

  async getSession(id: string): Promise<SessionRow | undefined> {
    return this.db.select().from(sessions).where(eq(sessions.id, id)).get();
  }

  async getRun(id: string): Promise<RunRow | undefined> {
    return this.db.select().from(runs).where(eq(runs.id, id)).get();
  }

  /**
   * Records the user's message and a `running` run in one transaction, before any
   * container starts, so that the message survives whatever happens next.
   * Returns the id of the stored user message, 'busy' when the session already has a
   * run in progress (its next turn would not see the reply), or 'gone' when the session
   * no longer exists (deleted while the request waited for a run slot); nothing is
   * stored then.
   */
  async beginTurn(t: TurnStart): Promise<TurnBegun> {
    const q = this.turnQueries;
    const v = { idempotencyKey: null, ...t };
    return uniqueOrDuplicate(() =>
      this.db.transaction(() => {
        // A run holds the key already (a twin request a moment ago): that, not "busy", is the answer.
        if (t.idempotencyKey !== undefined && this.byIdempotencyKey(t.keyId, t.idempotencyKey)) return 'duplicate';
        if (t.files && digestIn(this.db, t.sessionId) !== t.files.basedOn) return 'stale';
        if (t.newSessionAgent !== undefined) {
          q.newSession.run({ ...v, agent: t.newSessionAgent });
        } else if (q.activeRun.get(v)) {
          return 'busy';
        }
        const counted = q.countTurn.run(v);
        if (counted.changes === 0) return 'gone'; // the first write: nothing to undo
        q.runningRun.run(v);
        // Under the turn's run: a message belongs to a run, and these are what this run was given.
        if (t.newSessionAgent !== undefined)
          for (const m of t.earlier ?? []) q.earlierMessage.run({ ...v, role: m.role, content: m.content });
        const userMessageId = q.userMessage.get(v)!.id;
        if (t.files) putWorkspace(this.db, t.sessionId, t.files.workspace, t.now);
        return { userMessageId };
      }),
    );
  }

  /**
   * Runs a stored turn again, under a new run, when the run before it never reached its
   * container (an engine fault): the retry of a request with the same Idempotency-Key. The
   * prompt is not stored twice, and the turn is not counted twice; the key and the prompt move
   * to the new run (the failed one keeps its record, with no message).
   */
  async retryTurn(
    t: Omit<TurnStart, 'newSessionAgent' | 'earlier' | 'prompt'> & { previousRunId: string; idempotencyKey: string },
  ): Promise<TurnBegun> {
    return uniqueOrDuplicate(() =>
      this.db.transaction((tx) => {
        // Still the run that holds the key, and not retried by a twin request meanwhile.
        const previous = tx.select({ key: runs.idempotencyKey }).from(runs).where(eq(runs.id, t.previousRunId)).get();
        if (!previous) return 'gone';
        if (previous.key !== t.idempotencyKey) return 'duplicate';
        if (
          tx
            .select({ id: runs.id })
            .from(runs)
            .where(and(eq(runs.sessionId, t.sessionId), eq(runs.status, 'running')))
            .get()
        )
          return 'busy';
        const prompt = this.promptOf(t.previousRunId);
        if (!prompt) return 'gone';
        if (this.storedAfter(t.sessionId, prompt.id)) return 'busy';
        if (t.files && digestIn(tx, t.sessionId) !== t.files.basedOn) return 'stale';
        if (t.files) putWorkspace(tx, t.sessionId, t.files.workspace, t.now);
        tx.update(runs).set({ idempotencyKey: null }).where(eq(runs.id, t.previousRunId)).run();
        tx.update(sessions).set({ updatedAt: t.now, lastStatus: 'running' }).where(eq(sessions.id, t.sessionId)).run();
        tx.insert(runs)
          .values({
            id: t.runId,
            sessionId: t.sessionId,
            agent: t.agent,
            image: t.image,
            instanceId: t.instanceId,
            keyId: t.keyId,
            status: 'running',
            timeoutMs: t.timeoutMs,
            idempotencyKey: t.idempotencyKey,
            createdAt: t.now,
          })
          .run();
        // The prompt goes with the run that answers it.
        tx.update(messages).set({ runId: t.runId }).where(eq(messages.id, prompt.id)).run();
        return { userMessageId: prompt.id };
      }),
    );
  }

  /** Whether nothing was stored in the run's session after this run's prompt (its turn is the last). */
  async isLastTurn(run: Pick<RunRow, 'id' | 'sessionId'>): Promise<boolean> {
    const prompt = this.promptOf(run.id);
    return prompt !== undefined && !this.storedAfter(run.sessionId, prompt.id);
  }

  private promptOf(runId: string): { id: number } | undefined {
    return this.db
      .select({ id: messages.id })
      .from(messages)
      .where(and(eq(messages.runId, runId), eq(messages.role, 'user')))
      .get();
  }

  private storedAfter(sessionId: string, messageId: number): boolean {
    return (
      this.db
        .select({ id: messages.id })
        .from(messages)
        .where(and(eq(messages.sessionId, sessionId), sql`${messages.id} > ${messageId}`))
        .limit(1)
        .get() !== undefined
    );
  }

  /** The run a request with this Idempotency-Key (from this API key, or keyless: null) started, if any. */
  async runByIdempotencyKey(keyId: string | null, idempotencyKey: string): Promise<RunRow | undefined> {
    return this.byIdempotencyKey(keyId, idempotencyKey);
  }

  private byIdempotencyKey(keyId: string | null, idempotencyKey: string): RunRow | undefined {
    return this.db
      .select()
      .from(runs)
      .where(and(sql`coalesce(${runs.keyId}, '') = ${keyId ?? ''}`, eq(runs.idempotencyKey, idempotencyKey)))
      .get();
  }

  /** A run's prompt and reply as stored (the reply is undefined while it runs, or when none was recorded). */
  async turnOf(runId: string): Promise<{ prompt: string | undefined; reply: MessageRow | undefined }> {
    const rows = this.db.select().from(messages).where(eq(messages.runId, runId)).orderBy(asc(messages.id)).all();
    return {
      prompt: rows.filter((m) => m.role === 'user').at(-1)?.content,
      reply: rows.find((m) => m.role === 'assistant'),
    };
  }

  /**
   * The newest of the session's messages before the given one that fit in `maxBytes`
   * as replayed (JSON-escaped, as both replay formats write them), oldest first, and
   * how many older ones were left out. Read newest first and only as far as the bound,
   * so a long session costs what its replay does, not what its transcript does. The
   * replay never starts with a reply whose prompt was left out.
   */
  async replayBefore(sessionId: string, messageId: number, maxBytes: number): Promise<Replay> {
    // Drizzle has no row iterator for better-sqlite3: read the rows one at a time underneath it.
    const newestFirst = this.db.$client
      .prepare(
        `select id, session_id as sessionId, run_id as runId, role, content, omitted_bytes as omittedBytes, created_at as createdAt
           from messages where session_id = ? and id < ? order by id desc`,
      )
      .iterate(sessionId, messageId) as IterableIterator<MessageRow>;
    const walk = new ReplayWalk(maxBytes);
    // Synchronously: the statement stays open until the loop leaves it (break returns it).
    for (const m of newestFirst) if (!walk.take(m)) break;
    const total = this.db
      .select({ n: count() })
      .from(messages)
      .where(and(eq(messages.sessionId, sessionId), lt(messages.id, messageId)))
      .get()!.n;
    return walk.end(total);
  }

  async messagesOf(sessionId: string): Promise<MessageRow[]> {
    return this.db.select().from(messages).where(eq(messages.sessionId, sessionId)).orderBy(asc(messages.id)).all();
  }

  /**
   * Ends a running run and stores its reply in one transaction, whatever the end was.
   * A run that has already ended is left as it is (false): its reply is never stored twice.
   */
  async finishRun(runId: string, sessionId: string, end: StoredEnding): Promise<boolean> {
    return this.db.transaction((tx) => {
      const ended = tx
        .update(runs)
        .set(endColumns(end))
        .where(and(eq(runs.id, runId), eq(runs.status, 'running')))
        .run();
      if (ended.changes === 0) return false;
      if (end.workspace?.out) putWorkspace(tx, sessionId, end.workspace.out, end.now);
      if (end.output !== null) {
        tx.insert(messages)
          .values({
            sessionId,
            runId,
            role: 'assistant',
            content: end.output.text,
            omittedBytes: end.output.omittedBytes,
            createdAt: end.now,
          })
          .run();
      }
      tx.update(sessions)
        .set({
          updatedAt: end.now,
          lastStatus: end.status,
          totalMs: sql`${sessions.totalMs} + ${end.metrics.totalMs}`,
          totalTokens: sql`${sessions.totalTokens} + ${Math.round(end.metrics.totalTokens ?? 0)}`,
        })
        .where(eq(sessions.id, sessionId))
        .run();
      return true;
    });
  }
}

function turnQueries(db: Db) {
  const p = (name: keyof TurnStart | 'agent') => sql.placeholder(name);
  return {
    newSession: db
      .insert(sessions)
      .values({
        id: p('sessionId'),
        agent: p('agent'),
        ownerKeyId: p('keyId'),
        createdAt: p('now'),
        updatedAt: p('now'),
      })
      .prepare(),
    activeRun: db
      .select({ id: runs.id })
      .from(runs)
      .where(and(eq(runs.sessionId, p('sessionId')), eq(runs.status, 'running')))
      .prepare(),
    countTurn: db
      .update(sessions)
      .set({ updatedAt: sql`${p('now')}`, turns: sql`${sessions.turns} + 1`, lastStatus: 'running' })
      .where(eq(sessions.id, p('sessionId')))
      .prepare(),
    runningRun: db
      .insert(runs)
      .values({
        id: p('runId'),
        sessionId: p('sessionId'),
        agent: p('agent'),
        image: p('image'),
        instanceId: p('instanceId'),
        keyId: p('keyId'),
        status: 'running',
        timeoutMs: p('timeoutMs'),
        idempotencyKey: p('idempotencyKey'),
        createdAt: p('now'),
      })
      .prepare(),
    earlierMessage: db
      .insert(messages)
      .values({
        sessionId: p('sessionId'),
        runId: p('runId'),
        role: sql.placeholder('role'),
        content: sql.placeholder('content'),
        createdAt: p('now'),
      })
      .prepare(),
    userMessage: db
      .insert(messages)
      .values({ sessionId: p('sessionId'), runId: p('runId'), role: 'user', content: p('prompt'), createdAt: p('now') })
      .returning({ id: messages.id })
      .prepare(),
  };
}

/** A unique index refused the write (two requests raced with one Idempotency-Key): nothing was stored. */
function uniqueOrDuplicate(write: () => TurnBegun): TurnBegun {
  try {
    return write();
  } catch (err) {
    if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') return 'duplicate';
    throw err;
  }
}
