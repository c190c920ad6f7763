import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { ON_PODMAN } from './helpers/engine-proxy.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProfilesFile } from '../src/config/profiles.js';
import { standbySpec } from '../src/runner/run/container-spec.js';
import { DockerRuntime } from '../src/runner/docker/docker-runtime.js';
import { createHarness, jsonOf, post, SHELL_IMAGE, TEST_PROFILES, waitFor, type Harness } from './helpers/harness.js';
import { processDatabases } from './helpers/process-database.js';
import { spawnService } from './helpers/service-process.js';
import { parseProfiles } from '../src/settings.js';

// Standby: containers started before their request, each for exactly one run.
const STANDBY_PROFILES: ProfilesFile = {
  default_agent: 'shell',
  profiles: {
    ...TEST_PROFILES.profiles,
    shell: { ...TEST_PROFILES.profiles.shell!, standby: 2 },
    cat: { ...TEST_PROFILES.profiles.cat!, standby: 1 },
    'shell-cold': { ...TEST_PROFILES.profiles.shell!, timeout_ms: 20_000 },
  },
};

let h: Harness;
beforeAll(async () => {
  h = createHarness({ profiles: STANDBY_PROFILES });
  await h.service.startBackground();
  await readyCount('shell', 2);
  await readyCount('cat', 1);
});
const databases = processDatabases();
afterAll(async () => {
  await h.close();
  expect(await h.leftovers()).toEqual([]); // closing removed the waiting ones too
  await databases.close();
});

const waitingOf = async (agent: string) =>
  (await h.leftovers()).filter(
    (c) => c.Labels['ephemera.standby'] === 'true' && c.Labels['ephemera.agent'] === agent && c.State === 'running',
  );
const readyCount = (agent: string, n: number) =>
  waitFor(
    async () =>
      (await waitingOf(agent)).length === n && h.service.standby!.stats().get(agent)!.ready === n ? true : undefined,
    15_000,
  );
/** The container's hostname is the start of its id: which container served a run. */
const servedBy = async (agent = 'shell') => {
  const body = await jsonOf(
    h.app.request(
      post(`/v1/run?agent=${agent}`, 'hostname; ls -A /tmp /workspace; touch /tmp/mark /workspace/mark', {
        accept: 'application/json',
      }),
    ),
  );
  expect(body.status).toBe('succeeded');
  return body.output as string;
};

describe('standby containers', () => {
  it('wait started, holding nothing of any request, before any request', async () => {
    const waiting = await waitingOf('shell');
    expect(waiting).toHaveLength(2);
    for (const c of waiting) {
      const info = await h.docker.getContainer(c.Id).inspect();
      expect(info.State.Running).toBe(true);
      expect(info.Config.Labels['ephemera.run']).toMatch(/^standby_/);
      expect(info.Config.Labels['ephemera.session']).toBeUndefined();
      // Podman lists what ALL took away, one capability at a time.
      const allDropped = ON_PODMAN
        ? expect.arrayContaining(['CHOWN', 'DAC_OVERRIDE', 'KILL', 'NET_RAW', 'SETUID'])
        : ['ALL'];
      expect(info.HostConfig).toMatchObject({ ReadonlyRootfs: true, NetworkMode: 'none', CapDrop: allDropped });
      expect(info.Config.User).toBe('1000:1000');
    }
    expect(await (await h.app.request('/metrics')).text()).toMatch(/ephemera_standby_ready\{agent="shell"\} 2/);
  });

  it('each serve exactly one run, and a run sees nothing of the one before', async () => {
    const before = new Set((await waitingOf('shell')).map((c) => c.Id.slice(0, 12)));
    const outputs: string[] = [];
    for (let i = 0; i < 4; i++) {
      outputs.push(await servedBy());
      await readyCount('shell', 2); // refilled in the background
    }
    const hosts = outputs.map((o) => o.split('\n')[0]!);
    expect(new Set(hosts).size).toBe(4); // never the same container twice
    expect(before.has(hosts[0]!)).toBe(true); // the first run took a container that was waiting
    for (const o of outputs) expect(o.split('\n').slice(1).join('\n')).toBe('/tmp:\n\n/workspace:\n'); // no mark left by another run
    const stats = h.service.standby!.stats().get('shell')!;
    expect(stats.hits).toBeGreaterThanOrEqual(4);
    expect(await (await h.app.request('/metrics')).text()).toMatch(
      /ephemera_standby_hits_total\{agent="shell"\} [4-9]/,
    );
  });

  it('pass the prompt byte for byte, and give the process EOF', async () => {
    for (const prompt of [
      'no trailing newline',
      'two\nlines\n',
      'quotes \' " $HOME `x` \\n',
      'UTF-8: héllo 日本語 🚀',
      'x'.repeat(200_000),
    ]) {
      const res = await h.app.request(post('/v1/run?agent=cat', prompt));
      expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(prompt, 'utf8'))).toBe(true);
      await readyCount('cat', 1);
    }
    expect(h.service.standby!.stats().get('cat')!.hits).toBeGreaterThanOrEqual(5);
  });

  it('replay the session into the container at assignment', async () => {
    const first = await jsonOf(h.app.request(post('/v1/run', 'echo one', { accept: 'application/json' })));
    await readyCount('shell', 2);
    const second = await jsonOf(
      h.app.request(
        post(
          `/v1/sessions/${first.session_id}/messages`,
          'wc -l < /ephemera/history.jsonl; ls -ln /ephemera/history.jsonl | cut -d" " -f1',
          { accept: 'application/json' },
        ),
      ),
    );
    expect(second.output).toBe('2\n-r--r--r--\n');
    await readyCount('shell', 2);
    // As in a container of its own: the prompt cannot write, remove or add files there.
    const tamper = await jsonOf(
      h.app.request(
        post(
          `/v1/sessions/${first.session_id}/messages`,
          'id -u; echo tamper > /ephemera/history.jsonl 2>/dev/null && echo WROTE; rm -f /ephemera/history.jsonl 2>/dev/null && echo REMOVED; touch /ephemera/new 2>/dev/null && echo CREATED; wc -l < /ephemera/history.jsonl',
          { accept: 'application/json' },
        ),
      ),
    );
    expect(tamper.output).toBe('1000\n4\n');
  });

  it("start the deadline at assignment, not at the container's start", async () => {
    // The waiting containers are older than this run's 2 s deadline would allow if it had started with them.
    await new Promise((r) => setTimeout(r, 2500));
    const res = await jsonOf(
      h.app.request(
        post('/v1/run', JSON.stringify({ prompt: 'sleep 1; echo woke', timeout_ms: 2000 }), {
          'content-type': 'application/json',
          accept: 'application/json',
        }),
      ),
    );
    expect(res).toMatchObject({ status: 'succeeded', output: 'woke\n' });
    const late = await jsonOf(
      h.app.request(
        post('/v1/run', JSON.stringify({ prompt: 'sleep 5', timeout_ms: 1000 }), {
          'content-type': 'application/json',
          accept: 'application/json',
        }),
      ),
    );
    expect(late).toMatchObject({ status: 'timeout', error: { code: 'TIMEOUT' } });
    await readyCount('shell', 2);
  });

  it("keep the container's own deadline, counted from assignment", async () => {
    // Served warm, that is: a run that missed (a standby container the loaded engine could not
    // hand over in time) starts cold, as it should, with no gate and no watcher; it is sent again.
    let body: { output?: string } = {};
    for (let attempt = 0; attempt < 3; attempt++) {
      await readyCount('shell', 2);
      await new Promise((r) => setTimeout(r, 1500)); // waiting longer does not shorten it
      const hits = h.service.standby!.stats().get('shell')!.hits;
      // The watcher is started at assignment, beside the run: looked for a few times, not once.
      const find =
        'for i in 1 2 3 4 5 6 7 8 9 10; do ps -o args | grep "^sleep" | grep -v grep && break; sleep 0.2; done';
      body = await jsonOf(h.app.request(post('/v1/run', find, { accept: 'application/json' })));
      if (h.service.standby!.stats().get('shell')!.hits > hits) break;
    }
    // The profile's 20 s deadline, and the container's own 5 s after it, kept by the gate's watcher.
    expect(body.output).toBe('sleep 25\n');
    await readyCount('shell', 2);
  });

  it('leave a profile without standby as it was: its runs start their own container', async () => {
    const before = (await h.leftovers()).length;
    const body = await jsonOf(
      h.app.request(post('/v1/run?agent=shell-cold', 'echo cold', { accept: 'application/json' })),
    );
    expect(body).toMatchObject({ status: 'succeeded', output: 'cold\n' });
    expect((await h.leftovers()).length).toBe(before);
    expect(h.service.standby!.stats().has('shell-cold')).toBe(false);
  });

  it('come back after their containers are killed behind the service', async () => {
    const victims = await waitingOf('shell');
    await Promise.all(victims.map((c) => h.docker.getContainer(c.Id).remove({ force: true })));
    await readyCount('shell', 2);
    const now = new Set((await waitingOf('shell')).map((c) => c.Id));
    for (const v of victims) expect(now.has(v.Id)).toBe(false);
    expect(await servedBy()).toMatch(/^[0-9a-f]{12}\n/);
  });
});

describe('a waiting container', () => {
  it('that printed something and then died is seen as gone, not handed to a run', async () => {
    const docker = new Docker();
    const runtime = new DockerRuntime(docker);
    const profile = parseProfiles({
      default_agent: 's',
      profiles: { s: { image: SHELL_IMAGE, command: ['sh', '-s'], standby: 1 } },
    }).profiles.get('s')!;
    const waiting = await runtime.standby.startWaiting(
      standbySpec(profile, `standby_test_${process.pid}`, `standby-noisy-${process.pid}`, Date.now(), 60_000),
    );
    try {
      // Something writes to the stream nobody reads while it waits, then the container dies.
      // Detached: Podman refuses an exec start that attaches no stream.
      await (await docker.getContainer(waiting.id).exec({ Cmd: ['sh', '-c', 'echo noise > /proc/1/fd/2'] })).start({
        Detach: true,
      });
      await new Promise((r) => setTimeout(r, 200));
      await docker.getContainer(waiting.id).kill();
      const seen = await Promise.race([
        waiting.ended.then(() => 'ended'),
        new Promise((r) => setTimeout(() => r('still waiting'), 5000)),
      ]);
      expect(seen).toBe('ended');
    } finally {
      await runtime.standby.discard(waiting);
    }
  });
});

describe('standby and the service process', () => {
  it('after a SIGKILL mid-run, the container keeps its own deadline and ends by itself', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ephemera-standby-'));
    const profiles = join(dir, 'profiles.json');
    writeFileSync(
      profiles,
      JSON.stringify({
        default_agent: 'shell',
        profiles: { shell: { image: SHELL_IMAGE, command: ['sh', '-s'], workdir: '/workspace', standby: 1 } },
      }),
    );
    const env = {
      ...(await databases.env('deadline')),
      PROFILES_PATH: profiles,
      INSTANCE_ID: `standby-deadline-${process.pid}`,
    };
    const docker = new Docker();
    const mine = () =>
      docker.listContainers({ all: true, filters: { label: [`ephemera.instance=${env.INSTANCE_ID}`] } });
    const svc = await spawnService(env);
    try {
      // Waiting in the pool (not only created): the run takes it.
      const ready = async () =>
        /ephemera_standby_ready\{agent="shell"\} 1\b/.test(await (await fetch(`${svc.url}/metrics`)).text());
      const [waiting] = await waitFor(
        async () => ((await ready()) && (await mine()).length === 1 ? mine() : undefined),
        15_000,
      );
      const startedAt = Date.now();
      const res = await fetch(`${svc.url}/v1/run?timeout_ms=2000`, {
        method: 'POST',
        body: 'sleep 600 & echo up; sleep 600',
      });
      expect(new TextDecoder().decode((await res.body!.getReader().read()).value)).toBe('up\n');
      svc.proc.kill('SIGKILL'); // before the service's own 2 s timer can end the run
      await svc.exited;
      const served = docker.getContainer(waiting!.Id);
      expect((await served.inspect()).State.Running).toBe(true);
      // Its own deadline: 2 s + 5 s after assignment, in whole seconds; then a few seconds of slack.
      const state = await waitFor(
        async () => {
          const s = (await served.inspect()).State;
          return s.Running ? undefined : s;
        },
        2000 + 5000 + 5000 - (Date.now() - startedAt),
        200,
      );
      expect(state.ExitCode).toBe(137);
      expect(Date.now() - startedAt).toBeGreaterThan(6000); // not before it
    } finally {
      if (svc.proc.exitCode === null && svc.proc.signalCode === null) svc.proc.kill('SIGKILL');
      await svc.exited;
      for (const c of await mine())
        await docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  it('after a SIGKILL, the next start removes the waiting containers the dead process left', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ephemera-standby-'));
    const profiles = join(dir, 'profiles.json');
    writeFileSync(
      profiles,
      JSON.stringify({
        default_agent: 'shell',
        profiles: { shell: { image: SHELL_IMAGE, command: ['sh', '-s'], workdir: '/workspace', standby: 2 } },
      }),
    );
    const env = {
      ...(await databases.env('kill')),
      PROFILES_PATH: profiles,
      INSTANCE_ID: `standby-kill-${process.pid}`,
      REAP_INTERVAL_MS: '500',
    };
    const docker = new Docker();
    const mine = async () =>
      (await docker.listContainers({ all: true, filters: { label: [`ephemera.instance=${env.INSTANCE_ID}`] } })).map(
        (c) => c.Id,
      );
    try {
      const first = await spawnService(env);
      const left = await waitFor(async () => ((await mine()).length === 2 ? mine() : undefined), 15_000);
      first.proc.kill('SIGKILL');
      await first.exited;
      expect((await mine()).sort()).toEqual([...left].sort()); // nobody removed them
      const second = await spawnService(env);
      try {
        await waitFor(async () => ((await mine()).some((id) => left.includes(id)) ? undefined : true), 15_000);
        expect(await (await fetch(`${second.url}/v1/run`, { method: 'POST', body: 'echo alive' })).text()).toBe(
          'alive\n',
        );
      } finally {
        second.proc.kill('SIGTERM');
        await second.exited;
      }
      expect(await mine()).toEqual([]); // a clean stop removes the waiting ones
    } finally {
      for (const id of await mine())
        await docker
          .getContainer(id)
          .remove({ force: true })
          .catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
