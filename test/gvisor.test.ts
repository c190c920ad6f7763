import { release } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineRuntimes } from '../src/runner/docker/runtimes.js';
import { EGRESS_NETWORK } from './helpers/gemini.js';
import { createHarness, jsonOf, post, TEST_PROFILES, waitFor, type Harness } from './helpers/harness.js';

// A profile with "runtime": "runsc" runs its containers under gVisor: a kernel of its own between
// the run and the host's. Everything a runc profile does works the same (plain commands, the
// workspace, standby); what the run can see of the kernel differs. The locked egress network and
// the model agents under gVisor are in gemini.test.ts and claude.test.ts.
const shell = TEST_PROFILES.profiles.shell!;
const PROFILES = {
  ...TEST_PROFILES,
  profiles: {
    ...TEST_PROFILES.profiles,
    walled: { ...shell, runtime: 'runsc' as const },
    // On the locked network: gVisor on the container's namespace (the probe there is in gemini.test.ts).
    'walled-net': { ...shell, runtime: 'runsc' as const, network: EGRESS_NETWORK },
    'walled-warm': { ...shell, runtime: 'runsc' as const, standby: 1 },
  },
};

let h: Harness;
beforeAll(async () => {
  h = createHarness({ profiles: PROFILES });
  await h.service.startBackground();
});
afterAll(async () => {
  await h.close();
  expect(await h.leftovers()).toEqual([]);
});

const run = async (prompt: string, agent: string, session?: string) => {
  const path = session ? `/v1/sessions/${session}/messages` : `/v1/run?agent=${agent}`;
  const body = await jsonOf(h.app.request(post(path, prompt, { accept: 'application/json' })));
  expect(body).toMatchObject({ status: 'succeeded' });
  return body as { output: string; session_id: string; run_id: string };
};

describe('a profile under gVisor', () => {
  it('is what the engine was given by set-up', async () => {
    const runtimes = await engineRuntimes(h.docker);
    expect([...runtimes!]).toEqual(expect.arrayContaining(['runc', 'ephemera-runsc', 'ephemera-runsc-net']));
  });

  it("runs on gVisor's kernel, where a runc run sees the host's", async () => {
    const probe = 'uname -r; cat /proc/version; dmesg 2>&1 | head -1';
    const [walled, plain] = [await run(probe, 'walled'), await run(probe, 'shell')];
    const [kernel, version, dmesg] = walled.output.split('\n');
    expect(kernel).toBe('4.4.0');
    expect(version).toContain('4.4.0');
    expect(dmesg).toContain('gVisor'); // its own boot log, nothing of the host's
    const [hostKernel, , hostDmesg] = plain.output.split('\n');
    expect(hostKernel).toBe(release()); // the host's kernel, shared with the run
    expect(hostDmesg).toMatch(/not permitted|denied/i); // the host's log exists, and is refused
    expect(await engineRuntimeOf('walled')).toBe('ephemera-runsc');
  });

  it("on a network, runs on the container's own namespace: its bridge address, gVisor's kernel", async () => {
    const r = await run('uname -r; ip -4 -o addr show eth0 2>/dev/null | wc -l', 'walled-net');
    expect(r.output).toBe('4.4.0\n1\n');
    expect(await engineRuntimeOf('walled-net')).toBe('ephemera-runsc-net');
  });

  it("leaves a runc profile to the engine's default runtime", async () => {
    expect(await engineRuntimeOf('shell')).toBe('runc');
  });

  it('carries the workspace from turn to turn', async () => {
    const first = await run('echo kept > notes.txt; echo written', 'walled');
    expect(first.output).toBe('written\n');
    const second = await run('cat notes.txt; uname -r', 'walled', first.session_id);
    expect(second.output).toBe('kept\n4.4.0\n');
  });

  it('serves a run from a standby container started ahead under gVisor', async () => {
    await waitFor(() => (h.service.standby!.stats().get('walled-warm')?.ready ?? 0) > 0, 30_000);
    const hits = h.service.standby!.stats().get('walled-warm')!.hits;
    const r = await run('uname -r', 'walled-warm');
    expect(r.output).toBe('4.4.0\n');
    expect(h.service.standby!.stats().get('walled-warm')!.hits).toBe(hits + 1);
  });
});

/** The engine runtime of a run's container (HostConfig.Runtime), read while it runs; after the run has ended. */
async function engineRuntimeOf(agent: string): Promise<string> {
  const done = jsonOf(h.app.request(post(`/v1/run?agent=${agent}`, 'sleep 3', { accept: 'application/json' })));
  const id = await waitFor(async () => {
    const mine = (await h.leftovers()).find(
      (c) => c.Labels['ephemera.agent'] === agent && c.Labels['ephemera.standby'] !== 'true' && c.State === 'running',
    );
    return mine?.Id;
  }, 15_000);
  const runtime = (await h.docker.getContainer(id).inspect()).HostConfig.Runtime!;
  expect(await done).toMatchObject({ status: 'succeeded' });
  return runtime;
}
