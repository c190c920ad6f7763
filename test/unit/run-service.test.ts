import type { NumberedEvent } from '../../src/runner/events/typed-event.js';
import { SqliteRunEventStore } from '../../src/db/sqlite/run-events.js';
import { SqliteWorkspaceStore } from '../../src/db/sqlite/workspaces.js';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { LOCAL_OPERATOR } from '../../src/auth/principal.js';
import { openDatabase, type Db } from '../../src/db/sqlite/open.js';
import { SqliteTranscriptStore } from '../../src/db/sqlite/transcripts.js';
import { Admission, admissionLimits } from '../../src/runner/run/admission.js';
import { MemoryRuntime, type MemoryProgram } from '../../src/runner/memory-runtime.js';
import { RunService } from '../../src/runner/run/run-service.js';
import { loadServiceConfig, parseProfiles } from '../../src/settings.js';

// The run's life (endings, storage, replay) against the in-memory runtime: no engine.

const PROFILES = parseProfiles({
  default_agent: 'sh',
  profiles: {
    sh: { image: 'echo', command: ['sh'], timeout_ms: 2000 },
    forever: { image: 'forever', timeout_ms: 200 },
    flood: { image: 'flood', timeout_ms: 5000 },
    broken: { image: 'broken' },
  },
});

/** Echoes its stdin and the replay file it was given; `forever` never ends; `flood` prints 1 MiB at a time. */
const PROGRAMS: Record<string, MemoryProgram> = {
  echo: async (p) => {
    await p.stdout(p.spec.stdin);
    const history = p.spec.files.find((f) => f.path === '/ephemera/history.jsonl');
    await p.stderr(
      `history lines: ${history ? history.content.toString().trim().split('\n').filter(Boolean).length : 0}`,
    );
    return p.spec.stdin.toString().includes('fail') ? 3 : 0;
  },
  forever: (p) => new Promise((_, reject) => p.signal.addEventListener('abort', () => reject(new Error('killed')))),
  flood: async (p) => {
    while (!p.signal.aborted) await p.stdout(Buffer.alloc(1 << 20, 0x61));
    return 137;
  },
};

let db: Db | undefined;
afterEach(() => db?.$client.close());

function service(config: Partial<ReturnType<typeof loadServiceConfig>> = {}) {
  db = openDatabase(':memory:');
  const store = new SqliteTranscriptStore(db);
  const runtime = new MemoryRuntime(PROGRAMS);
  const events = new SqliteRunEventStore(db);
  const settings = { ...loadServiceConfig({}), instanceId: 'unit', ...config };
  const runs = new RunService({
    store,
    workspaces: new SqliteWorkspaceStore(db),
    events: { store: events },
    runtime,
    profiles: PROFILES,
    config: settings,
    logger: pino({ level: 'silent' }),
    admission: new Admission(admissionLimits(settings)),
  });
  const run = async (prompt: string, opts: { agent?: string; sessionId?: string } = {}) => {
    const handle = await runs.begin({
      prompt,
      principal: LOCAL_OPERATOR,
      receivedAt: performance.now(),
      keepOutput: true,
      ...opts,
    });
    for await (const _event of handle.events); // a client reads the events as they come
    return handle.result;
  };
  /** A run's events as its client saw them, and as its log kept them. */
  const seen = async (prompt: string, agent?: string) => {
    const handle = await runs.begin({ prompt, principal: LOCAL_OPERATOR, receivedAt: performance.now(), agent });
    const live: NumberedEvent[] = [];
    for await (const o of handle.events) live.push(...o.events);
    await handle.result;
    const logged = await events.after(handle.runId, 0, 100_000);
    return { handle, live, logged };
  };
  return { store, runtime, runs, run, seen };
}

describe('RunService on the in-memory runtime', () => {
  it('stores a turn and its reply, and replays them into the next turn', async () => {
    const { store, run, runtime } = service();
    const first = await run('hello');
    expect(first).toMatchObject({ status: 'succeeded', exitCode: 0, output: 'hello', stderr: 'history lines: 0' });
    const second = await run('again', { sessionId: first.sessionId });
    expect(second.stderr).toBe('history lines: 2');
    expect((await store.messagesOf(first.sessionId)).map((m) => [m.role, m.content])).toEqual([
      ['user', 'hello'],
      ['assistant', 'hello'],
      ['user', 'again'],
      ['assistant', 'again'],
    ]);
    expect(runtime.specs.map((s) => s.labels['ephemera.session'])).toEqual([first.sessionId, first.sessionId]);
  });

  it('ends each way a run can end, with its status and code, and leaves nothing running', async () => {
    const { run, runs } = service({ maxOutputBytes: 3 << 20 });
    expect(await run('please fail')).toMatchObject({ status: 'failed', exitCode: 3, error: null });
    expect(await run('x', { agent: 'forever' })).toMatchObject({ status: 'timeout', error: { code: 'TIMEOUT' } });
    const flooded = await run('x', { agent: 'flood' });
    expect(flooded).toMatchObject({ status: 'output_limit', error: { code: 'OUTPUT_LIMIT' } });
    expect(flooded.output.length).toBe(3 << 20);
    expect(await run('x', { agent: 'broken' })).toMatchObject({ status: 'failed', error: { code: 'IMAGE_NOT_FOUND' } });
    expect(runs.runningCount).toBe(0);
    const statuses = db!.$client.prepare('select status from runs order by created_at').pluck().all();
    expect(statuses).toEqual(['failed', 'timeout', 'output_limit', 'failed']);
  });

  it('cancels a run whose client left, keeping what it printed', async () => {
    const { runs } = service();
    const handle = await runs.begin({
      prompt: 'x',
      agent: 'forever',
      principal: LOCAL_OPERATOR,
      receivedAt: performance.now(),
    });
    await handle.ready;
    handle.cancel();
    expect(await handle.result).toMatchObject({ status: 'cancelled', error: { code: 'CANCELLED' } });
  });

  it('logs every event in order, numbered as its client saw them, the end included', async () => {
    const { seen } = service();
    const { live, logged, handle } = await seen('hello');
    expect(live.map((e) => e.event)).toEqual(['run', 'stdout', 'stderr', 'done']);
    expect(live.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(logged.map((r) => ({ seq: r.seq, event: r.type, data: JSON.parse(r.data) }))).toEqual(
      live.map(({ seq, event, data }) => ({ seq, event, data: JSON.parse(JSON.stringify(data)) })),
    );
    expect(live[0]).toMatchObject({ data: { run_id: handle.runId, session_id: handle.sessionId } });
    expect(live[1]).toMatchObject({ data: { data: 'hello' } });
    expect(live.at(-1)).toMatchObject({ event: 'done', data: { status: 'succeeded', exit_code: 0 } });
  });

  it('cuts the log at its bound with a marker, and still keeps how the run ended', async () => {
    const { seen } = service({ maxOutputBytes: 5 << 20, eventLogMaxBytes: 3 << 20 });
    const { live, logged } = await seen('x', 'flood');
    const types = logged.map((r) => r.type);
    expect(types.slice(-3)).toEqual(['cut', 'error', 'done']);
    expect(types.filter((t) => t === 'cut')).toHaveLength(1);
    const kept = logged.filter((r) => r.type === 'stdout').reduce((n, r) => n + JSON.parse(r.data).data.length, 0);
    expect(kept).toBeLessThanOrEqual(3 << 20);
    expect(kept).toBeGreaterThanOrEqual(2 << 20);
    // The client saw all of it; the log's numbers are the client's.
    const liveSeqs = new Map(live.map((e) => [e.seq, e.event]));
    for (const r of logged) if (r.type !== 'cut') expect(liveSeqs.get(r.seq)).toBe(r.type);
    expect(JSON.parse(logged.at(-2)!.data)).toMatchObject({ error: { code: 'OUTPUT_LIMIT' } });
  });

  it("types no text past the log's bound for a reader of bytes only, and still hands it every byte", async () => {
    const { runs } = service({ maxOutputBytes: 6 << 20, eventLogMaxBytes: 1 << 20 });
    const handle = await runs.begin({
      prompt: 'x',
      agent: 'flood',
      principal: LOCAL_OPERATOR,
      receivedAt: performance.now(),
    });
    handle.readsBytesOnly();
    let bytes = 0;
    let typedText = 0;
    for await (const o of handle.events) {
      bytes += o.reply?.length ?? 0;
      typedText += o.events.filter((e) => e.event === 'stdout').length;
    }
    expect(await handle.result).toMatchObject({ status: 'output_limit' });
    expect(bytes).toBe(6 << 20);
    expect(typedText).toBeLessThanOrEqual(2); // the log's first MiB, then nothing
  });
});
