import { and, asc, count, desc, eq, gt, lt, sql } from 'drizzle-orm';
import type { TranscriptStore } from '../contract.js';
import { endColumns } from '../shared/run-end.js';
import { ReplayWalk } from '../shared/replay.js';
import type { Replay, StoredEnding, TurnBegun, TurnStart } from '../contract.js';
import type { MessageRow, RunRow, SessionRow } from '../rows.js';
import { messages, runs, sessions } from './schema.js';
import { isUniqueViolation, retryingConflicts, type PgDb, type PgTx } from './open.js';
import { digestIn, putWorkspace } from './workspaces.js';
import { pgText } from './text.js';

/** Rows read per round trip while a replay walks back from the newest message. */
const REPLAY_PAGE = 100;

/**
 * Sessions, their messages and their runs, in Postgres. What SQLite gets from its one writer
 * at a time, this gets from row locks: a turn locks its session's row (`for update`) before it
 * looks for a run in progress, so two replicas racing on one session record one turn, and the
 * other sees it and answers busy.
 */
export class PgTranscriptStore implements TranscriptStore {
  constructor(private readonly db: PgDb) {}

  async getSession(id: string): Promise<SessionRow | undefined> {
    return (
      await this.db
        .select()
        .from(sessions)
        .where(eq(sessions.id, pgText(id)))
    )[0];
  }

  async getRun(id: string): Promise<RunRow | undefined> {
    return (
      await this.db
        .select()
        .from(runs)
        .where(eq(runs.id, pgText(id)))
    )[0] as RunRow | undefined;
  }

  beginTurn(t: TurnStart): Promise<TurnBegun> {
    return uniqueOrDuplicate(() =>
      retryingConflicts(() =>
        this.db.transaction(async (tx): Promise<TurnBegun> => {
          // Locked first: a twin request that began this session's turn a moment ago is seen
          // (and answered 'duplicate', as SQLite answers, rather than 'busy').
          const refusal = t.newSessionAgent === undefined ? await lockForTurn(tx, t.sessionId) : undefined;
          if (refusal === 'gone') return refusal;
          if (t.idempotencyKey !== undefined && (await byIdempotencyKey(tx, t.keyId, t.idempotencyKey)))
            return 'duplicate';
          if (refusal) return refusal;
          if (t.files && (await digestIn(tx, t.sessionId)) !== t.files.basedOn) return 'stale';
          if (t.newSessionAgent !== undefined) {
            await tx.insert(sessions).values({
              id: t.sessionId,
              agent: t.newSessionAgent,
              ownerKeyId: t.keyId,
              createdAt: t.now,
              updatedAt: t.now,
            });
          }
          await tx
            .update(sessions)
            .set({ updatedAt: t.now, turns: sql`${sessions.turns} + 1`, lastStatus: 'running' })
            .where(eq(sessions.id, t.sessionId));
          await tx.insert(runs).values(runningRun(t, t.idempotencyKey ?? null));
          if (t.newSessionAgent !== undefined) {
            for (const m of t.earlier ?? []) {
              await tx.insert(messages).values({
                sessionId: t.sessionId,
                runId: t.runId,
                role: m.role,
                content: pgText(m.content),
                createdAt: t.now,
              });
            }
          }
          const [prompt] = await tx
            .insert(messages)
            .values({
              sessionId: t.sessionId,
              runId: t.runId,
              role: 'user',
              content: pgText(t.prompt),
              createdAt: t.now,
            })
            .returning({ id: messages.id });
          if (t.files) await putWorkspace(tx, t.sessionId, t.files.workspace, t.now);
          return { userMessageId: prompt!.id };
        }),
      ),
    );
  }

  retryTurn(
    t: Omit<TurnStart, 'newSessionAgent' | 'earlier' | 'prompt'> & { previousRunId: string; idempotencyKey: string },
  ): Promise<TurnBegun> {
    return uniqueOrDuplicate(() =>
      retryingConflicts(() =>
        this.db.transaction(async (tx): Promise<TurnBegun> => {
          const refusal = await lockForTurn(tx, t.sessionId);
          if (refusal) return refusal;
          const [previous] = await tx
            .select({ key: runs.idempotencyKey })
            .from(runs)
            .where(eq(runs.id, t.previousRunId));
          if (!previous) return 'gone';
          if (previous.key !== t.idempotencyKey) return 'duplicate';
          const prompt = await promptOf(tx, t.previousRunId);
          if (!prompt) return 'gone';
          if (await storedAfter(tx, t.sessionId, prompt.id)) return 'busy';
          if (t.files && (await digestIn(tx, t.sessionId)) !== t.files.basedOn) return 'stale';
          await tx.update(runs).set({ idempotencyKey: null }).where(eq(runs.id, t.previousRunId));
          await tx
            .update(sessions)
            .set({ updatedAt: t.now, lastStatus: 'running' })
            .where(eq(sessions.id, t.sessionId));
          await tx.insert(runs).values(runningRun(t, t.idempotencyKey));
          await tx.update(messages).set({ runId: t.runId }).where(eq(messages.id, prompt.id));
          if (t.files) await putWorkspace(tx, t.sessionId, t.files.workspace, t.now);
          return { userMessageId: prompt.id };
        }),
      ),
    );
  }

  async isLastTurn(run: Pick<RunRow, 'id' | 'sessionId'>): Promise<boolean> {
    const prompt = await promptOf(this.db, run.id);
    return prompt !== undefined && !(await storedAfter(this.db, run.sessionId, prompt.id));
  }

  async runByIdempotencyKey(keyId: string | null, idempotencyKey: string): Promise<RunRow | undefined> {
    return byIdempotencyKey(this.db, keyId, idempotencyKey);
  }

  async turnOf(runId: string): Promise<{ prompt: string | undefined; reply: MessageRow | undefined }> {
    const rows = await this.db
      .select()
      .from(messages)
      .where(eq(messages.runId, pgText(runId)))
      .orderBy(asc(messages.id));
    return {
      prompt: rows.filter((m) => m.role === 'user').at(-1)?.content,
      reply: rows.find((m) => m.role === 'assistant'),
    };
  }

  /** As the SQLite store's: newest first, only as far as the bound, here a page per round trip. */
  async replayBefore(sessionId: string, messageId: number, maxBytes: number): Promise<Replay> {
    const walk = new ReplayWalk(maxBytes);
    for await (const m of this.newestFirst(sessionId, messageId)) if (!walk.take(m)) break;
    const [total] = await this.db
      .select({ n: count() })
      .from(messages)
      .where(and(eq(messages.sessionId, sessionId), lt(messages.id, messageId)));
    return walk.end(total!.n);
  }

  /** The session's messages before `messageId`, newest first, a page per round trip, read as far as the caller goes. */
  private async *newestFirst(sessionId: string, messageId: number): AsyncGenerator<MessageRow> {
    for (let before = messageId; ; ) {
      const page = await this.db
        .select()
        .from(messages)
        .where(and(eq(messages.sessionId, sessionId), lt(messages.id, before)))
        .orderBy(desc(messages.id))
        .limit(REPLAY_PAGE);
      yield* page;
      if (page.length < REPLAY_PAGE) return;
      before = page.at(-1)!.id;
    }
  }

  messagesOf(sessionId: string): Promise<MessageRow[]> {
    return this.db
      .select()
      .from(messages)
      .where(eq(messages.sessionId, pgText(sessionId)))
      .orderBy(asc(messages.id));
  }

  finishRun(runId: string, sessionId: string, end: StoredEnding): Promise<boolean> {
    return retryingConflicts(() => this.finish(runId, sessionId, end));
  }

  private finish(runId: string, sessionId: string, end: StoredEnding): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const ended = await tx
        .update(runs)
        .set(
          endColumns({
            ...end,
            stderr: pgText(end.stderr),
            errorMessage: end.errorMessage && pgText(end.errorMessage),
          }),
        )
        .where(and(eq(runs.id, runId), eq(runs.status, 'running')))
        .returning({ id: runs.id });
      if (ended.length === 0) return false;
      if (end.workspace?.out) await putWorkspace(tx, sessionId, end.workspace.out, end.now);
      if (end.output !== null) {
        await tx.insert(messages).values({
          sessionId,
          runId,
          role: 'assistant',
          content: pgText(end.output.text),
          omittedBytes: end.output.omittedBytes,
          createdAt: end.now,
        });
      }
      await tx
        .update(sessions)
        .set({
          updatedAt: end.now,
          lastStatus: end.status,
          totalMs: sql`${sessions.totalMs} + ${end.metrics.totalMs}`,
          totalTokens: sql`${sessions.totalTokens} + ${Math.round(end.metrics.totalTokens ?? 0)}`,
        })
        .where(eq(sessions.id, sessionId));
      return true;
    });
  }
}

/**
 * Locks the session's row for the rest of the transaction, then refuses a turn when the
 * session is gone or has a run in progress. Every writer of a turn takes this lock first.
 */
async function lockForTurn(tx: PgTx, sessionId: string): Promise<'gone' | 'busy' | undefined> {
  const locked = await tx.select({ id: sessions.id }).from(sessions).where(eq(sessions.id, sessionId)).for('update');
  if (locked.length === 0) return 'gone';
  const active = await tx
    .select({ id: runs.id })
    .from(runs)
    .where(and(eq(runs.sessionId, sessionId), eq(runs.status, 'running')))
    .limit(1);
  return active.length > 0 ? 'busy' : undefined;
}

function runningRun(t: Omit<TurnStart, 'prompt'>, idempotencyKey: string | null) {
  return {
    id: t.runId,
    sessionId: t.sessionId,
    agent: t.agent,
    image: t.image,
    instanceId: t.instanceId,
    keyId: t.keyId,
    status: 'running' as const,
    timeoutMs: t.timeoutMs,
    idempotencyKey,
    createdAt: t.now,
  };
}

async function byIdempotencyKey(
  db: PgDb | PgTx,
  keyId: string | null,
  idempotencyKey: string,
): Promise<RunRow | undefined> {
  const rows = await db
    .select()
    .from(runs)
    .where(and(sql`coalesce(${runs.keyId}, '') = ${keyId ?? ''}`, eq(runs.idempotencyKey, idempotencyKey)));
  return rows[0] as RunRow | undefined;
}

async function promptOf(db: PgDb | PgTx, runId: string): Promise<{ id: number } | undefined> {
  const [row] = await db
    .select({ id: messages.id })
    .from(messages)
    .where(and(eq(messages.runId, runId), eq(messages.role, 'user')));
  return row;
}

async function storedAfter(db: PgDb | PgTx, sessionId: string, messageId: number): Promise<boolean> {
  const rows = await db
    .select({ id: messages.id })
    .from(messages)
    .where(and(eq(messages.sessionId, sessionId), gt(messages.id, messageId)))
    .limit(1);
  return rows.length > 0;
}

/** A unique index refused the write (two requests raced with one Idempotency-Key): nothing was stored. */
async function uniqueOrDuplicate(write: () => Promise<TurnBegun>): Promise<TurnBegun> {
  try {
    return await write();
  } catch (err) {
    if (isUniqueViolation(err, 'runs_idempotency_idx')) return 'duplicate';
    throw err;
  }
}
