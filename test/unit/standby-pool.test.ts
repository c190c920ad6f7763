import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { standbySpec } from '../../src/runner/run/container-spec.js';
import type { StandbyEngine, WaitingContainer } from '../../src/runner/docker/standby/engine.js';
import { goLine, inlineFiles, plainGoLine } from '../../src/runner/protocol/go-line.js';
import { WORKSPACE_SHIM } from '../../src/runner/protocol/workspace.js';
import { MAX_IDLE_MS, START_TIMEOUT_MS, StandbyPool } from '../../src/runner/docker/standby/pool.js';
import type { ContainerRuntime, ContainerSpec } from '../../src/runner/runtime.js';
import { parseProfiles } from '../../src/settings.js';

const profiles = parseProfiles({
  default_agent: 'a',
  profiles: { a: { image: 'i', standby: 2 }, b: { image: 'i' } },
}).profiles;

/** An engine that keeps count, fails when told, and whose containers end when told. */
function fakeEngine() {
  const started: Array<WaitingContainer & { end(): void }> = [];
  const assigned: string[] = [];
  const discarded: string[] = [];
  let failing = false;
  const engine: StandbyEngine = {
    async startWaiting(base) {
      if (failing) throw new Error('engine down');
      let end!: () => void;
      const ended = new Promise<void>((r) => (end = r));
      const w = { id: `c${started.length}`, label: base.labels['ephemera.run']!, env: base.env, ended, end };
      started.push(w);
      return w;
    },
    assign(w, spec) {
      if (spec.command?.some((c) => c.includes('\n'))) return undefined;
      assigned.push(w.id);
      return Promise.resolve({ exitCode: 0, oomKilled: false });
    },
    async discard(w) {
      discarded.push(w.id);
    },
  };
  return { engine, started, assigned, discarded, fail: (v: boolean) => (failing = v) };
}

function poolWith(engine: StandbyEngine) {
  const cold: string[] = [];
  const runtime = {
    run: async (spec: ContainerSpec) => {
      cold.push(spec.labels['ephemera.agent']!);
      return { exitCode: 0, oomKilled: false };
    },
  } as unknown as ContainerRuntime;
  const pool = new StandbyPool({
    runtime,
    engine,
    profiles: profiles.values(),
    baseSpec: (p, label) => standbySpec(p, label, 'inst', Date.now(), MAX_IDLE_MS),
    logger: pino({ level: 'silent' }),
  });
  return { pool, cold };
}

const spec = (agent: string, command?: string[]) =>
  ({
    ...standbySpec(profiles.get(agent)!, 'x', 'inst', 0, 0),
    command,
    labels: { 'ephemera.agent': agent },
  }) as ContainerSpec;
const sink = { started() {}, async stdout() {}, async stderr() {} };
const tick = () => new Promise((r) => setTimeout(r, 5));

describe('StandbyPool', () => {
  it('fills each profile that asks, hands each container to one run, and refills', async () => {
    const f = fakeEngine();
    const { pool, cold } = poolWith(f.engine);
    pool.start();
    await tick();
    expect(f.started).toHaveLength(2);
    expect(pool.liveLabels()).toEqual(new Set(f.started.map((w) => w.label)));
    await pool.run(spec('a'), sink, new AbortController().signal);
    await pool.run(spec('a'), sink, new AbortController().signal);
    await tick();
    expect(new Set(f.assigned).size).toBe(2);
    expect(f.started).toHaveLength(4); // refilled
    await pool.run(spec('b'), sink, new AbortController().signal); // no standby: its own container
    expect(cold).toEqual(['b']);
    expect(pool.stats().get('a')).toEqual({ ready: 2, hits: 2, misses: 0 });
    await pool.close();
    expect(f.discarded).toHaveLength(2);
    expect(pool.liveLabels().size).toBe(0);
  });

  it('starts a run at once on its own container when none is ready, or when the gate cannot carry it', async () => {
    const f = fakeEngine();
    f.fail(true);
    const { pool, cold } = poolWith(f.engine);
    pool.start();
    await pool.run(spec('a'), sink, new AbortController().signal);
    expect(cold).toEqual(['a']);
    expect(pool.stats().get('a')!.misses).toBe(1);
    await pool.close();

    const g = fakeEngine();
    const other = poolWith(g.engine);
    other.pool.start();
    await tick();
    await other.pool.run(spec('a', ['echo', 'two\nlines']), sink, new AbortController().signal);
    expect(other.cold).toEqual(['a']);
    expect(other.pool.stats().get('a')!.ready).toBe(2); // the container stays for the next run
    await other.pool.close();
  });

  it('replaces a container that stopped waiting, and backs off when they die as they start', async () => {
    const f = fakeEngine();
    const { pool } = poolWith(f.engine);
    pool.start();
    await tick();
    f.started[0]!.end(); // dies young: not replaced at once
    await tick();
    expect(f.discarded).toEqual(['c0']);
    expect(f.started).toHaveLength(2);
    expect(pool.stats().get('a')!.ready).toBe(1);
    await pool.close();
  });
});

describe('the go line', () => {
  it('quotes every word for sh, adds the environment with env, and refuses a newline', () => {
    expect(goLine(['echo', "it's", '$HOME'], {})).toBe(`exec 'echo' 'it'\\''s' '$HOME'\n`);
    expect(goLine(['x'], { A: 'b c' })).toBe(`exec 'env' 'A=b c' 'x'\n`);
    // Files first: exactly their bytes from stdin, unpacked, made read-only.
    expect(goLine(['x'], {}, 1536)).toBe(
      `dd bs=65536 count=1536 iflag=count_bytes,fullblock 2>/dev/null | tar -x -C /ephemera && chmod -R a-w /ephemera && exec 'x'\n`,
    );
    expect(goLine(['x', 'a\nb'], {})).toBeUndefined();
    expect(goLine(['x'], { A: 'a\nb' })).toBeUndefined();
  });
});

describe("the plain gate's go line", () => {
  const history = { path: '/ephemera/history.jsonl', content: Buffer.alloc(0), mode: 0o444 };
  it('writes empty files with builtins, exports the environment, and execs the command', () => {
    const line = plainGoLine({
      argv: ['sh', '-s'],
      env: { A: "it's" },
      tarBytes: 0,
      inlineFiles: inlineFiles([history]),
    });
    expect(line).toBe(
      `exec 3>&-; umask 333 && : >'/ephemera/history.jsonl' && umask 022 && chmod a-w /ephemera && { export A='it'\\''s'; exec 'sh' '-s'; }\n`,
    );
  });
  it('hands the deadline to the waiting watcher, and runs the workspace shim in its own shell', () => {
    const line = plainGoLine({
      argv: ['sh', '-s'],
      env: {},
      tarBytes: 0,
      inlineFiles: '',
      deadlineSeconds: 25,
      keepWorkdir: '/workspace',
    })!;
    expect(line.startsWith("echo 25 >&3; exec 3>&-; chmod a-w /ephemera && { set -- '/workspace' 'sh' '-s'; ")).toBe(
      true,
    );
    expect(line.endsWith(`${WORKSPACE_SHIM}; }\n`)).toBe(true);
  });
  it('takes other files as a tar from stdin, and a variable sh cannot name through env', () => {
    const line = plainGoLine({ argv: ['x'], env: { 'A-B': 'c' }, tarBytes: 1536 });
    expect(line).toBe(
      `exec 3>&-; dd bs=65536 count=1536 iflag=count_bytes,fullblock 2>/dev/null | tar -x -C /ephemera && chmod -R a-w /ephemera && { exec 'env' 'A-B=c' 'x'; }\n`,
    );
    // Nor one the gate's shell itself would obey (the shim's words split on IFS).
    expect(plainGoLine({ argv: ['x'], env: { IFS: '0' }, tarBytes: 0 })).toContain(`exec 'env' 'IFS=0' 'x'`);
  });
  it('refuses a newline anywhere', () => {
    expect(plainGoLine({ argv: ['x', 'a\nb'], env: {}, tarBytes: 0 })).toBeUndefined();
    expect(plainGoLine({ argv: ['x'], env: { A: 'a\nb' }, tarBytes: 0 })).toBeUndefined();
    expect(plainGoLine({ argv: ['x'], env: {}, tarBytes: 0, keepWorkdir: '/w\n' })).toBeUndefined();
  });
  it('writes inline only empty files right under the files folder, with a mode a umask gives', () => {
    expect(inlineFiles([])).toBe('');
    expect(inlineFiles([{ ...history, content: Buffer.from('x') }])).toBeUndefined();
    expect(inlineFiles([{ ...history, path: '/ephemera/a/b' }])).toBeUndefined();
    expect(inlineFiles([{ ...history, path: '/ephemera/..' }])).toBeUndefined();
    expect(inlineFiles([{ ...history, path: '/etc/passwd' }])).toBeUndefined();
    expect(inlineFiles([{ ...history, path: "/ephemera/it's" }])).toBe(
      `umask 333 && : >'/ephemera/it'\\''s' && umask 022 && `,
    );
    expect(inlineFiles([{ ...history, mode: 0o555 }])).toBeUndefined();
    expect(inlineFiles([{ ...history, mode: 0o600 }])).toBe(
      `umask 177 && : >'/ephemera/history.jsonl' && umask 022 && `,
    );
  });
});

describe('standby, checked and bounded', () => {
  it('needs a numeric user, since the files folder is given to it by uid', () => {
    expect(() =>
      parseProfiles({ default_agent: 'a', profiles: { a: { image: 'i', standby: 1, user: 'runner' } } }),
    ).toThrow(/standby: needs a numeric user/);
    expect(() =>
      parseProfiles({ default_agent: 'a', profiles: { a: { image: 'i', standby: 1, user: '1000:1000' } } }),
    ).not.toThrow();
    expect(() => parseProfiles({ default_agent: 'a', profiles: { a: { image: 'i', user: 'runner' } } })).not.toThrow();
  });

  it('backs off, doubling, when its containers die as they start', async () => {
    vi.useFakeTimers();
    try {
      const f = fakeEngine();
      const started = f.engine.startWaiting.bind(f.engine);
      f.engine.startWaiting = async (base) => {
        const w = await started(base);
        (w as unknown as { end(): void }).end(); // dies at once
        return w;
      };
      const { pool } = poolWith(f.engine);
      pool.start();
      await vi.advanceTimersByTimeAsync(20_000);
      // Retries 1, 2, 4, 8 s apart: a handful of starts, not two every second.
      expect(f.started.length).toBeLessThanOrEqual(10);
      await pool.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('refills once the run that took a container answers, or 50 ms after, not while it starts', async () => {
    const f = fakeEngine();
    const sinks: Array<{ sink: Parameters<StandbyEngine['assign']>[2]; end(): void }> = [];
    f.engine.assign = (_w, _spec, s) =>
      new Promise((resolve) => sinks.push({ sink: s, end: () => resolve({ exitCode: 0, oomKilled: false }) }));
    const { pool } = poolWith(f.engine);
    pool.start();
    await tick();
    expect(f.started).toHaveLength(2);
    const talking = pool.run(spec('a'), sink, new AbortController().signal);
    await tick();
    expect(f.started).toHaveLength(2); // the run has not answered yet: the engine is its alone
    await sinks[0]!.sink.stdout(Buffer.from('hi'));
    await tick();
    expect(f.started).toHaveLength(3);
    const silent = pool.run(spec('a'), sink, new AbortController().signal);
    await tick();
    expect(f.started).toHaveLength(3);
    await new Promise((r) => setTimeout(r, 60)); // it prints nothing for long: refilled anyway
    expect(f.started).toHaveLength(4);
    for (const s of sinks) s.end();
    await Promise.all([talking, silent]);
    await pool.close();
  });

  it('keeps no standby for a profile the service disabled', async () => {
    const f = fakeEngine();
    const { pool, cold } = poolWith(f.engine);
    pool.start();
    await tick();
    pool.disable('a');
    await tick();
    expect(f.discarded.sort()).toEqual(['c0', 'c1']);
    // A start already under way when its profile was disabled is removed as it ends.
    const g = fakeEngine();
    let finish!: () => void;
    const gate = new Promise<void>((r) => (finish = r));
    const started = g.engine.startWaiting.bind(g.engine);
    g.engine.startWaiting = async (base) => {
      await gate;
      return started(base);
    };
    const other = poolWith(g.engine);
    other.pool.start();
    other.pool.disable('a');
    finish();
    await tick();
    expect(g.discarded.sort()).toEqual(['c0', 'c1']);
    expect(other.pool.liveLabels().size).toBe(0);
    await other.pool.close();
    await pool.run(spec('a'), sink, new AbortController().signal);
    expect(cold).toEqual(['a']);
    await pool.close();
  });
});

describe('an engine that hangs', () => {
  it('holds up neither runs nor the stop: a start not done in time is given up, and removed if it ever ends', async () => {
    vi.useFakeTimers();
    try {
      const f = fakeEngine();
      const resolvers: Array<(w: WaitingContainer) => void> = [];
      f.engine.startWaiting = (base) =>
        new Promise((resolve) => {
          const id = `late${resolvers.length + 1}`;
          resolvers.push(() =>
            resolve({ id, label: base.labels['ephemera.run']!, env: {}, ended: new Promise(() => {}) }),
          );
        });
      const { pool, cold } = poolWith(f.engine);
      pool.start();
      await pool.run(spec('a'), sink, new AbortController().signal);
      expect(cold).toEqual(['a']); // nothing ready: its own container at once
      await vi.advanceTimersByTimeAsync(START_TIMEOUT_MS + 10);
      expect(pool.liveLabels().size).toBe(0); // given up: the reaper may take whatever appears
      for (const r of resolvers) r({} as WaitingContainer);
      await vi.advanceTimersByTimeAsync(1);
      expect(f.discarded).toEqual(['late1', 'late2']);
      const closing = pool.close();
      for (const r of resolvers.slice(2)) r({} as WaitingContainer); // the retries, if any began
      await vi.advanceTimersByTimeAsync(START_TIMEOUT_MS + 10);
      await closing;
    } finally {
      vi.useRealTimers();
    }
  });
});
