import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../src/db/ids.js';
import { openSqliteStore } from '../src/db/sqlite/store.js';
import { openPostgresStore } from '../src/db/postgres/store.js';
import type { Store } from '../src/db/contract.js';
import type { StoredEnding, TurnStart } from '../src/db/contract.js';
import type { RunEventType } from '../src/db/rows.js';
import { EMPTY_RUN_METRICS } from '../src/run-metrics.js';
import { packWorkspace } from '../src/workspace/archive.js';
import pg from 'pg';
import { createTestDatabase } from './helpers/postgres.js';
import { seedSession } from './helpers/seed.js';

/**
 * The same behaviour from both stores, SQLite and Postgres, called as the service calls them:
 * turns, replay, search, stats, keys, instances, workspaces, retention, and two connections
 * (two replicas) racing on one session.
 */
interface Opened {
  store: Store;
  /** A second, independent connection to the same database: another replica. */
  another(): Promise<Store>;
  close(): Promise<void>;
}

async function sqlite(): Promise<Opened> {
  const dir = mkdtempSync(join(tmpdir(), 'ephemera-contract-'));
  const path = join(dir, 'ephemera.db');
  const opened: Store[] = [openSqliteStore(path)];
  return {
    store: opened[0]!,
    another: async () => opened[opened.push(openSqliteStore(path)) - 1]!,
    async close() {
      for (const s of opened) await s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function postgres(): Promise<Opened> {
  const db = await createTestDatabase();
  const opened: Store[] = [await openPostgresStore(db.url)];
  return {
    store: opened[0]!,
    another: async () => opened[opened.push(await openPostgresStore(db.url)) - 1]!,
    async close() {
      for (const s of opened) await s.close();
      await db.drop();
    },
  };
}

const T0 = Date.UTC(2026, 10, 2, 0, 0, 0);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const end = (over: Partial<StoredEnding> & { text?: string } = {}): StoredEnding => ({
  status: 'succeeded',
  exitCode: 0,
  errorCode: null,
  errorMessage: null,
  stderr: '',
  output: over.text === undefined ? { text: 'ok', omittedBytes: 0 } : { text: over.text, omittedBytes: 0 },
  metrics: { ...EMPTY_RUN_METRICS, firstByteMs: 40, totalMs: 100 },
  replay: null,
  now: T0,
  ...over,
});

describe.each([
  ['sqlite', sqlite],
  ['postgres', postgres],
] as const)('the %s store', (_name, open) => {
  let db: Opened;
  let s: Store;
  beforeAll(async () => {
    db = await open();
    s = db.store;
  });
  afterAll(() => db?.close());

  /** A new session's first turn, begun (and ended unless `running`). */
  const session = async (
    opts: {
      prompt?: string;
      reply?: string;
      keyId?: string | null;
      at?: number;
      running?: boolean;
      agent?: string;
    } = {},
  ) => {
    const sessionId = newId('ses');
    const runId = newId('run');
    const at = opts.at ?? T0;
    const begun = await s.transcripts.beginTurn({
      ...turn(sessionId, runId, at, opts.keyId ?? null),
      newSessionAgent: opts.agent ?? 'shell',
      prompt: opts.prompt ?? 'hello',
      agent: opts.agent ?? 'shell',
    });
    expect(begun).toHaveProperty('userMessageId');
    if (!opts.running)
      expect(await s.transcripts.finishRun(runId, sessionId, end({ text: opts.reply ?? 'ok', now: at + 1 }))).toBe(
        true,
      );
    return { sessionId, runId };
  };
  const turn = (
    sessionId: string,
    runId: string,
    now = T0,
    keyId: string | null = null,
  ): Omit<TurnStart, 'prompt'> & { prompt: string } => ({
    sessionId,
    runId,
    agent: 'shell',
    image: 'img',
    instanceId: 'i-1',
    keyId,
    timeoutMs: 1000,
    prompt: 'again',
    now,
  });

  it('records a turn, refuses a second one while it runs, stores its end once', async () => {
    const { sessionId, runId } = await session({ running: true });
    expect(await s.transcripts.beginTurn(turn(sessionId, newId('run')))).toBe('busy');
    expect(await s.transcripts.beginTurn(turn(newId('ses'), newId('run')))).toBe('gone');
    expect(
      await s.transcripts.finishRun(
        runId,
        sessionId,
        end({ text: 'first', metrics: { ...EMPTY_RUN_METRICS, totalMs: 70, totalTokens: 5 } }),
      ),
    ).toBe(true);
    expect(await s.transcripts.finishRun(runId, sessionId, end({ text: 'twice' }))).toBe(false);
    expect((await s.transcripts.messagesOf(sessionId)).map((m) => `${m.role}:${m.content}`)).toEqual([
      'user:hello',
      'assistant:first',
    ]);
    expect(await s.transcripts.getSession(sessionId)).toMatchObject({
      turns: 1,
      lastStatus: 'succeeded',
      totalMs: 70,
      totalTokens: 5,
    });
    expect(await s.transcripts.getRun(runId)).toMatchObject({ status: 'succeeded', totalMs: 70, sessionId });
    // The next turn is free now.
    expect(await s.transcripts.beginTurn(turn(sessionId, newId('run')))).toHaveProperty('userMessageId');
  });

  it('keeps an Idempotency-Key to one run per API key, keyless twins included', async () => {
    const { sessionId } = await session();
    const key = `k-${newId('run')}`;
    const first = { ...turn(sessionId, newId('run')), idempotencyKey: key };
    expect(await s.transcripts.beginTurn(first)).toHaveProperty('userMessageId');
    expect(
      await s.transcripts.beginTurn({
        ...turn(newId('ses'), newId('run')),
        newSessionAgent: 'shell',
        idempotencyKey: key,
      }),
    ).toBe('duplicate');
    expect(
      await s.transcripts.beginTurn({
        ...turn(newId('ses'), newId('run'), T0, 'key_other'),
        newSessionAgent: 'shell',
        idempotencyKey: key,
      }),
    ).toHaveProperty('userMessageId');
    expect((await s.transcripts.runByIdempotencyKey(null, key))?.id).toBe(first.runId);
    expect((await s.transcripts.turnOf(first.runId)).prompt).toBe('again');
  });

  it('runs a turn the engine refused again under a new run, keeping its one prompt', async () => {
    const { sessionId } = await session();
    const key = `k-${newId('run')}`;
    const failed = { ...turn(sessionId, newId('run')), idempotencyKey: key };
    await s.transcripts.beginTurn(failed);
    await s.transcripts.finishRun(
      failed.runId,
      sessionId,
      end({ status: 'failed', errorCode: 'RUNTIME_UNAVAILABLE', output: null }),
    );
    expect(await s.transcripts.isLastTurn({ id: failed.runId, sessionId })).toBe(true);
    const retry = { ...turn(sessionId, newId('run')), previousRunId: failed.runId, idempotencyKey: key };
    expect(await s.transcripts.retryTurn(retry)).toHaveProperty('userMessageId');
    expect((await s.transcripts.runByIdempotencyKey(null, key))?.id).toBe(retry.runId);
    expect((await s.transcripts.turnOf(retry.runId)).prompt).toBe('again');
    expect((await s.transcripts.messagesOf(sessionId)).filter((m) => m.content === 'again')).toHaveLength(1);
    expect(await s.transcripts.getSession(sessionId)).toMatchObject({ turns: 2 });
  });

  it('stores a turn’s files with it, or refuses the turn when the workspace changed meanwhile', async () => {
    const { sessionId } = await session();
    const ws = await packWorkspace([
      { path: 'a.txt', type: 'file', mode: 0o644, content: Buffer.from('a'), mtime: new Date(T0) },
    ]);
    const stale = await s.transcripts.beginTurn({
      ...turn(sessionId, newId('run')),
      files: { workspace: ws, basedOn: 'not-the-digest' },
    });
    expect(stale).toBe('stale');
    expect(await s.workspaces.get(sessionId)).toBeUndefined();
    expect(await s.transcripts.getSession(sessionId)).toMatchObject({ turns: 1, lastStatus: 'succeeded' });
    const runId = newId('run');
    expect(
      await s.transcripts.beginTurn({ ...turn(sessionId, runId), files: { workspace: ws, basedOn: undefined } }),
    ).toHaveProperty('userMessageId');
    expect((await s.workspaces.get(sessionId))?.tar.equals(ws.tar)).toBe(true);
    // An edit is refused while the run goes on, and taken after, if nothing changed under it.
    const edited = await packWorkspace([
      { path: 'b.txt', type: 'file', mode: 0o644, content: Buffer.from('b'), mtime: new Date(T0) },
    ]);
    expect(await s.workspaces.putIfUnchanged(sessionId, edited, ws.sha256, T0)).toBe(false);
    await s.transcripts.finishRun(runId, sessionId, end());
    expect(await s.workspaces.putIfUnchanged(sessionId, edited, 'another', T0)).toBe(false);
    expect(await s.workspaces.putIfUnchanged(sessionId, edited, ws.sha256, T0)).toBe(true);
    expect(await s.workspaces.digestOf(sessionId)).toBe(edited.sha256);
  });

  it('replays the newest messages that fit, never starting with a reply', async () => {
    const { sessionId } = await session({ prompt: 'p0', reply: 'r0' });
    for (let i = 1; i < 150; i++) {
      const runId = newId('run');
      await s.transcripts.beginTurn({ ...turn(sessionId, runId, T0 + i), prompt: `p${i}` });
      await s.transcripts.finishRun(runId, sessionId, end({ text: `r${i}`.padEnd(40, '.'), now: T0 + i }));
    }
    const all = await s.transcripts.messagesOf(sessionId);
    const last = all.at(-1)!;
    const whole = await s.transcripts.replayBefore(sessionId, last.id + 1, 10_000_000);
    expect(whole.messages).toHaveLength(300);
    expect(whole.omitted).toBe(0);
    const bounded = await s.transcripts.replayBefore(sessionId, last.id, 50 * 210);
    expect(bounded.messages[0]!.role).toBe('user');
    expect(bounded.messages.length + bounded.omitted).toBe(299);
    expect(bounded.messages.length).toBeGreaterThan(30);
    expect(bounded.bytes).toBeLessThanOrEqual(50 * 210);
    expect(bounded.messages.at(-1)!.id).toBe(all.at(-2)!.id);
    // Another request's writes while a replay is read: on SQLite one connection serves both,
    // and a write while the replay's statement is still open throws ("busy executing a query").
    const [during] = await Promise.all([
      s.transcripts.replayBefore(sessionId, last.id + 1, 10_000_000),
      session({ prompt: 'meanwhile', reply: 'another turn' }),
    ]);
    expect(during.messages).toHaveLength(300);
  });

  it("keeps each run's events in order, reads them after a place, and drops them with the run", async () => {
    const { sessionId, runId } = await session({ prompt: 'p', reply: 'r' });
    const ev = (seq: number, type: RunEventType, data: object = {}) => ({
      seq,
      type,
      data: JSON.stringify(data),
      createdAt: T0 + seq,
    });
    const odd = { data: 'é \u0000 \u2028 ☃ \n', nul: '\0' };
    await s.events.append(runId, [ev(1, 'run'), ev(2, 'stdout', odd), ev(3, 'stderr')]);
    await s.events.append(runId, []);
    await s.events.append(runId, [ev(4, 'cut'), ev(5, 'done')]);
    const all = await s.events.after(runId, 0, 100);
    expect(all.map((e) => [e.seq, e.type])).toEqual([
      [1, 'run'],
      [2, 'stdout'],
      [3, 'stderr'],
      [4, 'cut'],
      [5, 'done'],
    ]);
    expect(JSON.parse(all[1]!.data)).toEqual(odd);
    expect(all[1]).toMatchObject({ runId, createdAt: T0 + 2 });
    expect((await s.events.after(runId, 2, 2)).map((e) => e.seq)).toEqual([3, 4]);
    expect(await s.events.after(runId, 5, 10)).toEqual([]);
    expect(await s.events.after(newId('run'), 0, 10)).toEqual([]);
    // A place taken already: the log is append-only, a second writer of one run is a fault.
    await expect(s.events.append(runId, [ev(5, 'done')])).rejects.toThrow();
    expect(await s.events.after(runId, 4, 10)).toHaveLength(1);
    expect(await s.sessions.deleteSession(sessionId)).toBe('deleted');
    expect(await s.events.after(runId, 0, 100)).toEqual([]);
  });

  it('reads the events of chosen types of several runs at once, each run in order', async () => {
    const runs = await Promise.all([1, 2, 3].map((n) => session({ prompt: `p${n}`, reply: `r${n}` })));
    const ev = (seq: number, type: RunEventType) => ({ seq, type, data: JSON.stringify({ seq }), createdAt: T0 });
    for (const { runId } of runs)
      await s.events.append(runId, [
        ev(1, 'run'),
        ev(2, 'tool_use'),
        ev(3, 'stdout'),
        ev(4, 'tool_result'),
        ev(5, 'done'),
      ]);
    const ids = runs.slice(0, 2).map((r) => r.runId);
    const got = await s.events.ofRuns(ids, ['tool_use', 'tool_result']);
    const byRun = (id: string) => got.filter((e) => e.runId === id).map((e) => [e.seq, e.type]);
    expect(got).toHaveLength(4);
    for (const id of ids)
      expect(byRun(id)).toEqual([
        [2, 'tool_use'],
        [4, 'tool_result'],
      ]);
    expect(await s.events.ofRuns([], ['tool_use'])).toEqual([]);
    // More runs than one statement takes: read in several.
    const many = [...Array.from({ length: 1200 }, () => newId('run')), runs[2]!.runId];
    expect((await s.events.ofRuns(many, ['done'])).map((e) => e.runId)).toEqual([runs[2]!.runId]);
  });

  it("keeps runs' webhooks: due once the run ended and the time came, taken by one claimer, dropped with the run", async () => {
    const ended = await session();
    const running = await session({ running: true });
    const now = T0 + 1000;
    await s.webhooks.add(ended.runId, 'https://hooks.example/a', now);
    await s.webhooks.add(running.runId, 'https://hooks.example/b', now);
    expect(await s.webhooks.due(now - 1, 10)).toEqual([]);
    const due = await s.webhooks.due(now, 10);
    expect(due.map((w) => w.runId)).toEqual([ended.runId]);
    expect(due[0]).toEqual({
      runId: ended.runId,
      url: 'https://hooks.example/a',
      state: 'pending',
      attempts: 0,
      nextAttemptAt: now,
      lastAttemptAt: null,
      lastStatus: null,
      lastError: null,
      createdAt: now,
    });
    // Two replicas see it due; one takes it.
    const claims = await Promise.all([1, 2].map(() => s.webhooks.claim(ended.runId, now, now + 30_000)));
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await s.webhooks.due(now + 1, 10)).toEqual([]);
    const attempt = {
      state: 'pending' as const,
      attempts: 1,
      nextAttemptAt: now + 2000,
      lastAttemptAt: now,
      lastStatus: 500,
      lastError: 'HTTP 500',
    };
    await s.webhooks.attempted(ended.runId, attempt);
    expect(await s.webhooks.get(ended.runId)).toMatchObject(attempt);
    expect((await s.webhooks.due(now + 2000, 10)).map((w) => w.runId)).toEqual([ended.runId]);
    await s.webhooks.attempted(ended.runId, { ...attempt, state: 'delivered', lastStatus: 204, lastError: null });
    expect(await s.webhooks.due(now + 1e9, 10)).toEqual([]);
    expect(await s.webhooks.claim(ended.runId, now + 2000, now + 9e9)).toBe(false);
    expect(await s.sessions.deleteSession(ended.sessionId)).toBe('deleted');
    expect(await s.webhooks.get(ended.runId)).toBeUndefined();
    expect(await s.webhooks.get(newId('run'))).toBeUndefined();
  });

  it('searches phrases as FTS5 does, newest first, and only in the owner’s sessions', async () => {
    const tag = newId('run').slice(4, 12);
    const alice = `key_alice${tag}`;
    const a1 = await session({ prompt: `the Café ${tag} opens at nine`, keyId: alice, at: T0 + 10 });
    const a2 = await session({ prompt: 'nothing here', reply: `cafe ${tag} opens late`, keyId: alice, at: T0 + 20 });
    const bob = await session({ prompt: `café ${tag} opens`, keyId: 'key_bob', at: T0 + 30 });
    const ids = async (q: string, ownerKeyId?: string) =>
      (await s.sessions.listSessions({ q, ...(ownerKeyId && { ownerKeyId }) }, 10)).items.map((x) => x.id);
    expect(await ids(`cafe ${tag} opens`)).toEqual([bob.sessionId, a2.sessionId, a1.sessionId]);
    expect(await ids(`cafe ${tag} opens`, alice)).toEqual([a2.sessionId, a1.sessionId]);
    expect(await ids(`${tag} cafe`)).toEqual([]); // a phrase: in its order
    expect(await ids(`"${tag}" OR nothing`)).toEqual([]); // no query syntax: words only
    const page1 = await s.sessions.listSessions({ q: `${tag} opens` }, 2);
    expect(page1.items.map((x) => x.id)).toEqual([bob.sessionId, a2.sessionId]);
    const cursor = { createdAt: page1.items.at(-1)!.createdAt, id: page1.items.at(-1)!.id };
    expect((await s.sessions.listSessions({ q: `${tag} opens` }, 2, cursor)).items.map((x) => x.id)).toEqual([
      a1.sessionId,
    ]);
  });

  it('lists by owner, agent and status, newest first, with a cursor', async () => {
    const owner = `key_list${newId('run').slice(4, 12)}`;
    const made = [];
    for (let i = 0; i < 5; i++)
      made.push((await session({ keyId: owner, at: T0 + 1000 + i, agent: i % 2 ? 'cat' : 'shell' })).sessionId);
    const mine = await s.sessions.listSessions({ ownerKeyId: owner }, 3);
    expect(mine.items.map((x) => x.id)).toEqual(made.slice(2).reverse());
    const rest = await s.sessions.listSessions({ ownerKeyId: owner }, 3, {
      createdAt: mine.items.at(-1)!.createdAt,
      id: mine.items.at(-1)!.id,
    });
    expect(rest.items.map((x) => x.id)).toEqual(made.slice(0, 2).reverse());
    expect((await s.sessions.listSessions({ ownerKeyId: owner, agent: 'cat' }, 10)).items).toHaveLength(2);
    expect(await s.sessions.runsOf(made[0]!)).toHaveLength(1);
  });

  it('keeps /v1/stats roll-ups right through ends and deletes, and agrees with the exact figures', async () => {
    const base = T0 + 10 * 24 * HOUR;
    const made: string[] = [];
    for (let i = 0; i < 30; i++) {
      const at = base + Math.floor(i / 10) * HOUR + i * 60_000;
      const sessionId = newId('ses');
      const runId = newId('run');
      await s.transcripts.beginTurn({
        ...turn(sessionId, runId, at),
        newSessionAgent: i % 3 ? 'shell' : 'cat',
        agent: i % 3 ? 'shell' : 'cat',
      });
      const ms = 3 + i * i * 7;
      await s.transcripts.finishRun(
        runId,
        sessionId,
        end({
          status: i % 5 ? 'succeeded' : 'failed',
          now: at,
          metrics: { ...EMPTY_RUN_METRICS, firstByteMs: ms, totalMs: ms * 2 },
        }),
      );
      made.push(sessionId);
    }
    const running = await session({ at: base + HOUR + 5, running: true });
    const rolled = await s.sessions.stats(base, base + 3 * HOUR);
    expect(rolled.byStatus).toEqual([
      { status: 'failed', runs: 6 },
      { status: 'running', runs: 1 },
      { status: 'succeeded', runs: 24 },
    ]);
    expect(rolled.byAgent).toEqual([
      { agent: 'cat', runs: 10 },
      { agent: 'shell', runs: 21 },
    ]);
    // The roll-ups' percentiles are within 2% ±1 ms of the exact ones (nearest rank).
    const exact = (values: number[], p: number) =>
      values.sort((a, b) => a - b)[Math.ceil((values.length * p) / 100) - 1]!;
    const firstBytes = Array.from({ length: 30 }, (_, i) => 3 + i * i * 7);
    expect(rolled.firstByteMs.n).toBe(30);
    for (const [got, want] of [
      [rolled.firstByteMs.p50!, exact(firstBytes, 50)],
      [rolled.firstByteMs.p95!, exact(firstBytes, 95)],
      [
        rolled.totalMs.p95!,
        exact(
          firstBytes.map((x) => x * 2),
          95,
        ),
      ],
    ]) {
      expect(Math.abs(got! - want!)).toBeLessThanOrEqual(want! * 0.02 + 1);
    }
    // A window holding no whole hour is read from `runs`, exactly.
    const inside = await s.sessions.stats(base + 1, base + HOUR - 1);
    expect(inside.firstByteMs).toEqual({
      n: 9,
      p50: exact(firstBytes.slice(1, 10), 50),
      p95: exact(firstBytes.slice(1, 10), 95),
    });
    // A deleted session's runs stop counting; a day's window reads the daily roll-up the same.
    for (const id of made.slice(0, 10)) expect(await s.sessions.deleteSession(id)).toBe('deleted');
    const day = Date.UTC(2026, 10, 12);
    const after = await s.sessions.stats(day, day + 24 * HOUR);
    expect(after.byStatus.reduce((n, x) => n + x.runs, 0)).toBe(21);
    await s.transcripts.finishRun(running.runId, running.sessionId, end({ now: base + HOUR + 6 }));
  });

  it('keeps keys hashed, verifies, revokes, and never forgets that one was made', async () => {
    const { key, info } = await s.keys.create('contract', 'user', T0);
    expect(JSON.stringify(await s.keys.list())).not.toContain(key.slice(20));
    expect((await s.keys.verify(key))?.id).toBe(info.id);
    expect(await s.keys.verify(`${key}x`)).toBeUndefined();
    expect(await s.keys.isActive(info.id)).toBe(true);
    expect((await s.keys.matching('contract')).map((k) => k.id)).toEqual([info.id]);
    expect(await s.keys.revoke('contract')).toBe(1);
    expect(await s.keys.verify(key)).toBeUndefined();
    expect(await s.keys.everCreated()).toBe(true);
  });

  it('marks what a stopped instance left running as interrupted, and only that', async () => {
    const now = T0 + 40 * 24 * HOUR;
    await s.instances.heartbeat('gone', 1, now - 60_000);
    await s.instances.heartbeat('alive', 2, now);
    const left = { sessionId: newId('ses'), runId: newId('run') };
    await s.transcripts.beginTurn({
      ...turn(left.sessionId, left.runId, now - 70_000),
      instanceId: 'gone',
      newSessionAgent: 'shell',
    });
    const live = { sessionId: newId('ses'), runId: newId('run') };
    await s.transcripts.beginTurn({
      ...turn(live.sessionId, live.runId, now),
      instanceId: 'alive',
      newSessionAgent: 'shell',
    });
    expect(await s.instances.staleInstances(now, 10_000)).toEqual(new Set(['gone']));
    expect(await s.instances.recentHeartbeat('alive', now, 10_000)).toEqual({ pid: 2, heartbeatAt: now });
    // A survivor, as it beats: the stopped instance's runs end, its own go on.
    expect(await s.instances.interruptLeftoverRuns('alive', now, 10_000, { ownToo: false })).toBeGreaterThanOrEqual(1);
    expect(await s.transcripts.getRun(left.runId)).toMatchObject({
      status: 'interrupted',
      errorCode: 'INTERRUPTED',
      totalMs: 70_000,
    });
    expect(await s.transcripts.getRun(live.runId)).toMatchObject({ status: 'running' });
    expect(await s.transcripts.getSession(left.sessionId)).toMatchObject({ lastStatus: 'interrupted' });
    // At an instance's own start, its own runs cannot be live any more.
    expect(await s.instances.interruptLeftoverRuns('alive', now, 10_000)).toBe(1);
    expect(await s.transcripts.getRun(live.runId)).toMatchObject({ status: 'interrupted' });
  });

  it('prunes old sessions with all they own, but none with a run in progress', async () => {
    const old = await session({ at: T0 - 400 * 24 * HOUR });
    await s.workspaces.put(old.sessionId, await packWorkspace([]), T0 - 400 * 24 * HOUR);
    const busy = await session({ at: T0 - 400 * 24 * HOUR, running: true });
    const n = await s.prune(300, T0, { dryRun: true });
    expect(n).toBeGreaterThanOrEqual(1);
    expect(await s.prune(300, T0, { batch: 1 })).toBe(n);
    expect(await s.transcripts.getSession(old.sessionId)).toBeUndefined();
    expect(await s.transcripts.getRun(old.runId)).toBeUndefined();
    expect(await s.transcripts.messagesOf(old.sessionId)).toEqual([]);
    expect(await s.workspaces.get(old.sessionId)).toBeUndefined();
    expect(await s.transcripts.getSession(busy.sessionId)).toBeDefined();
    await s.transcripts.finishRun(busy.runId, busy.sessionId, end());
  });

  it('lets one of two connections racing on a session record the turn: the others are told busy', async () => {
    const other = await db.another();
    const { sessionId } = await session();
    const attempts = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        (i % 2 ? other : s).transcripts.beginTurn({ ...turn(sessionId, newId('run')), prompt: `racer ${i}` }),
      ),
    );
    expect(attempts.filter((a) => typeof a === 'object')).toHaveLength(1);
    expect(attempts.filter((a) => a === 'busy')).toHaveLength(11);
    expect((await s.transcripts.messagesOf(sessionId)).filter((m) => m.content.startsWith('racer'))).toHaveLength(1);
    expect(await s.healthy()).toBe(true);
  });

  it('deletes a session only when no run of it is in progress, even while runs end all around', async () => {
    const busy = await session({ running: true });
    expect(await s.sessions.deleteSession(busy.sessionId)).toBe('busy');
    expect(await s.sessions.deleteSession(newId('ses'))).toBe('gone');
    await s.transcripts.finishRun(busy.runId, busy.sessionId, end());
    // A delete cascades over many runs and takes their roll-up rows out while other runs end
    // in the same hours: on Postgres the two can deadlock, and the store runs the loser again.
    const other = await db.another();
    const at = T0 + 50 * 24 * HOUR;
    for (let round = 0; round < 4; round++) {
      const doomed = await session({ at });
      // Its runs spread over four hours; the runs that end meanwhile are in those hours too.
      for (let i = 0; i < 40; i++) {
        const runId = newId('run');
        await s.transcripts.beginTurn({ ...turn(doomed.sessionId, runId, at + i * 6 * 60_000), prompt: `p${i}` });
        await s.transcripts.finishRun(runId, doomed.sessionId, end({ now: at + i * 6 * 60_000 }));
      }
      const ending = await Promise.all(
        Array.from({ length: 10 }, (_, i) => session({ at: at + (9 - i) * 24 * 60_000 + 1, running: true })),
      );
      const results = await Promise.all([
        s.sessions.deleteSession(doomed.sessionId),
        ...ending.map((r, i) =>
          (i % 2 ? other : s).transcripts.finishRun(r.runId, r.sessionId, end({ now: at + 200 })),
        ),
      ]);
      expect(results).toEqual(['deleted', ...ending.map(() => true)]);
    }
    const day = Math.floor(at / (24 * HOUR)) * 24 * HOUR;
    expect((await s.sessions.stats(day, day + 24 * HOUR)).byStatus).toEqual([{ status: 'succeeded', runs: 40 }]);
  });

  it('stores what an agent may print or report: NUL bytes, fractional and huge counts; the session stays free', async () => {
    const { sessionId, runId } = await session({ prompt: 'nul \0 in the prompt', running: true });
    const ended = await s.transcripts.finishRun(
      runId,
      sessionId,
      end({
        text: 'nul \0 in the reply',
        stderr: 'and \0 in stderr',
        metrics: { ...EMPTY_RUN_METRICS, totalMs: 5, toolCalls: 2.5, totalTokens: 3e9 + 0.5, modelCalls: 3e9 },
      }),
    );
    expect(ended).toBe(true);
    // Postgres text holds no NUL: it becomes U+FFFD there; SQLite keeps it.
    const nul = _name === 'postgres' ? '\uFFFD' : '\0';
    expect((await s.transcripts.messagesOf(sessionId)).map((m) => m.content)).toEqual([
      `nul ${nul} in the prompt`,
      `nul ${nul} in the reply`,
    ]);
    expect(await s.transcripts.getRun(runId)).toMatchObject({
      status: 'succeeded',
      stderr: `and ${nul} in stderr`,
      toolCalls: 3,
      totalTokens: 3e9 + 1,
      modelCalls: 2 ** 31 - 1,
    });
    expect(await s.transcripts.beginTurn(turn(sessionId, newId('run')))).toHaveProperty('userMessageId');
    // A NUL in a search is a word break, as FTS5 takes it (its index stops at a NUL in a message: SQLite finds 'nul'
    // only).
    expect((await s.sessions.listSessions({ q: 'nul \0' }, 10)).items.map((x) => x.id)).toContain(sessionId);
  });
});

describe('pruning on Postgres, while a turn continues the session', () => {
  it('keeps a session a turn touched while the prune waited for its row', async () => {
    const db = await createTestDatabase();
    const store = await openPostgresStore(db.url);
    const turnTx = new pg.Client({ connectionString: db.url });
    try {
      const { sessionId } = await seedSession(store, {
        at: Date.now() - 40 * DAY,
        turns: [{ prompt: 'p', reply: 'r' }],
      });
      // A turn begins on it in another connection (as beginTurn does), not committed yet.
      await turnTx.connect();
      await turnTx.query('begin');
      await turnTx.query('update sessions set updated_at = $1 where id = $2', [Date.now(), sessionId]);
      const pruning = store.prune(30, Date.now(), { batch: 10 });
      await new Promise((r) => setTimeout(r, 300)); // the delete now waits for the row
      await turnTx.query('commit');
      expect(await pruning).toBe(0);
      expect(await store.transcripts.getSession(sessionId)).toBeDefined();
    } finally {
      await turnTx.end().catch(() => {});
      await store.close();
      await db.drop();
    }
  });
});
