import { and, asc, eq, lt, sql } from 'drizzle-orm';
import type { Db } from './open.js';
import { messages, runs, sessions, type MessageRow, type RunRow, type RunStatus, type SessionRow } from './schema.js';

export interface TurnStart {
  sessionId: string;
  /** Set when the turn opens a new session. */
  newSessionAgent?: string;
  runId: string;
  agent: string;
  image: string;
  timeoutMs: number;
  prompt: string;
  now: number;
}

export interface RunEnd {
  status: Exclude<RunStatus, 'running'>;
  exitCode: number | null;
  errorCode: string | null;
  errorMessage: string | null;
  stderr: string;
  /** The assistant's reply; null when no container ran, so there is no reply to record. */
  output: string | null;
  metrics: {
    queuedMs: number | null;
    createMs: number | null;
    startMs: number | null;
    firstByteMs: number | null;
    totalMs: number;
    bytesOut: number;
    bytesErr: number;
    inputTokens: number | null;
    outputTokens: number | null;
    totalTokens: number | null;
    toolCalls: number | null;
  };
  now: number;
}

/** Sessions, their messages and their runs: everything the service keeps. */
export class TranscriptStore {
  constructor(private readonly db: Db) {}

  getSession(id: string): SessionRow | undefined {
    return this.db.select().from(sessions).where(eq(sessions.id, id)).get();
  }

  getRun(id: string): RunRow | undefined {
    return this.db.select().from(runs).where(eq(runs.id, id)).get();
  }

  /**
   * Records the user's message and a `running` run in one transaction, before any
   * container starts, so that the message survives whatever happens next.
   * Returns the id of the stored user message, or 'busy' when the session already
   * has a run in progress (its next turn would not see the reply).
   */
  beginTurn(t: TurnStart): { userMessageId: number } | 'busy' {
    return this.db.transaction((tx) => {
      if (t.newSessionAgent !== undefined) {
        tx.insert(sessions).values({ id: t.sessionId, agent: t.newSessionAgent, createdAt: t.now, updatedAt: t.now }).run();
      } else {
        const active = tx
          .select({ id: runs.id })
          .from(runs)
          .where(and(eq(runs.sessionId, t.sessionId), eq(runs.status, 'running')))
          .get();
        if (active) return 'busy';
        tx.update(sessions).set({ updatedAt: t.now }).where(eq(sessions.id, t.sessionId)).run();
      }
      tx.insert(runs)
        .values({
          id: t.runId,
          sessionId: t.sessionId,
          agent: t.agent,
          image: t.image,
          status: 'running',
          timeoutMs: t.timeoutMs,
          createdAt: t.now,
        })
        .run();
      const msg = tx
        .insert(messages)
        .values({ sessionId: t.sessionId, runId: t.runId, role: 'user', content: t.prompt, createdAt: t.now })
        .returning({ id: messages.id })
        .get();
      return { userMessageId: msg.id };
    });
  }

  /** The session's messages stored before the given one, oldest first. */
  historyBefore(sessionId: string, messageId: number): MessageRow[] {
    return this.db
      .select()
      .from(messages)
      .where(and(eq(messages.sessionId, sessionId), lt(messages.id, messageId)))
      .orderBy(asc(messages.id))
      .all();
  }

  messagesOf(sessionId: string): MessageRow[] {
    return this.db.select().from(messages).where(eq(messages.sessionId, sessionId)).orderBy(asc(messages.id)).all();
  }

  /** Ends a run and stores its reply in one transaction, whatever the end was. */
  finishRun(runId: string, sessionId: string, end: RunEnd): void {
    this.db.transaction((tx) => {
      tx.update(runs)
        .set({
          status: end.status,
          exitCode: end.exitCode,
          errorCode: end.errorCode,
          errorMessage: end.errorMessage,
          stderr: end.stderr,
          ...end.metrics,
          endedAt: end.now,
        })
        .where(eq(runs.id, runId))
        .run();
      if (end.output !== null) {
        tx.insert(messages)
          .values({ sessionId, runId, role: 'assistant', content: end.output, createdAt: end.now })
          .run();
      }
      tx.update(sessions).set({ updatedAt: end.now }).where(eq(sessions.id, sessionId)).run();
    });
  }

  /** Runs left `running` by a process that died cannot finish: mark them `interrupted`. */
  interruptLeftoverRuns(now: number): number {
    const res = this.db
      .update(runs)
      .set({
        status: 'interrupted',
        errorCode: 'INTERRUPTED',
        errorMessage: 'the service stopped before this run ended',
        endedAt: now,
        totalMs: sql`${now} - ${runs.createdAt}`,
      })
      .where(eq(runs.status, 'running'))
      .run();
    return res.changes;
  }
}
