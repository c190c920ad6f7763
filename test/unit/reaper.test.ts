import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { Reaper } from '../../src/runner/reaper.js';
import type { ContainerRuntime, ManagedContainer } from '../../src/runner/runtime.js';

function fakeRuntime(containers: ManagedContainer[], opts: { down?: boolean } = {}) {
  const removed: string[] = [];
  const runtime = {
    listManaged: async () => {
      if (opts.down) throw new Error('engine down');
      return containers.filter((c) => !removed.includes(c.id));
    },
    remove: async (id: string) => void removed.push(id),
  } as unknown as ContainerRuntime;
  return { runtime, removed };
}

/** A reaper whose database is already closed: reading the live runs throws. */
function reaperWithClosedDatabase(runtime: ContainerRuntime) {
  return new Reaper({
    runtime,
    instanceId: 'me',
    liveRunIds: () => {
      throw new Error('database closed');
    },
    staleInstances: async () => new Set(),
    logger: pino({ level: 'silent' }),
  });
}

const later = Date.now() + 60_000;
const earlier = Date.now() - 1;

describe('Reaper', () => {
  const containers: ManagedContainer[] = [
    { id: 'mine-live', runId: 'r1', instanceId: 'me', deadline: later },
    { id: 'mine-orphan', runId: 'r2', instanceId: 'me', deadline: later },
    { id: 'other-live', runId: 'r3', instanceId: 'other', deadline: later },
    { id: 'other-expired', runId: 'r4', instanceId: 'other', deadline: earlier },
    { id: 'stale-instance', runId: 'r5', instanceId: 'dead', deadline: later },
    { id: 'unknown-no-deadline', runId: 'r6', instanceId: 'elsewhere', deadline: null },
  ];

  it('removes only containers that belong to no live run', async () => {
    const { runtime, removed } = fakeRuntime(containers);
    const reaper = new Reaper({
      runtime,
      instanceId: 'me',
      liveRunIds: () => new Set(['r1']),
      staleInstances: async () => new Set(['dead']),
      logger: pino({ level: 'silent' }),
    });
    expect(await reaper.sweep()).toBe(3);
    expect(removed.sort()).toEqual(['mine-orphan', 'other-expired', 'stale-instance']);
  });

  it('does nothing, and does not throw, while the engine is unreachable', async () => {
    const { runtime, removed } = fakeRuntime(containers, { down: true });
    const reaper = new Reaper({
      runtime,
      instanceId: 'me',
      liveRunIds: () => new Set(),
      staleInstances: async () => new Set(),
      logger: pino({ level: 'silent' }),
    });
    expect(await reaper.sweep()).toBe(0);
    expect(removed).toEqual([]);
  });
});

describe('Reaper.stop', () => {
  it('waits for a pass in progress, which then touches nothing (the database may be closing)', async () => {
    let release!: () => void;
    const runtime = {
      listManaged: () =>
        new Promise<ManagedContainer[]>(
          (r) => (release = () => r([{ id: 'c', runId: 'r', instanceId: 'me', deadline: null }])),
        ),
      remove: async () => {
        throw new Error('must not remove after stop');
      },
    } as unknown as ContainerRuntime;
    const reaper = reaperWithClosedDatabase(runtime);
    const pass = reaper.sweep();
    const stopped = reaper.stop();
    release();
    await stopped;
    expect(await pass).toBe(0);
  });

  it('never rejects, even when a dependency throws', async () => {
    const { runtime } = fakeRuntime([{ id: 'x', runId: 'r', instanceId: 'me', deadline: null }]);
    const reaper = reaperWithClosedDatabase(runtime);
    await expect(reaper.sweep()).resolves.toBe(0);
  });
});
