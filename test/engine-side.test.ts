import { workspaceShim } from '../src/runner/protocol/workspace.js';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, jsonOf, post, SHELL_IMAGE, TEST_PROFILES, waitFor, type Harness } from './helpers/harness.js';
import { processDatabases } from './helpers/process-database.js';
import { shippedWithoutStandby, spawnService } from './helpers/service-process.js';

// What the engine keeps of a run, and what it does by itself when the service is gone.

const docker = new Docker();
let h: Harness;
const databases = processDatabases();
beforeAll(() => {
  // An image "without timeout": PATH leads nowhere, so the wrapper cannot be found, while
  // the command itself is given by its full path.
  const noTimeout = { image: SHELL_IMAGE, command: ['/bin/cat'], env: { PATH: '/nowhere' }, replay: 'none' as const };
  h = createHarness({
    profiles: {
      ...TEST_PROFILES,
      profiles: {
        ...TEST_PROFILES.profiles,
        'no-timeout': noTimeout,
        'no-timeout-off': { ...noTimeout, own_deadline: false },
      },
    },
  });
});
afterEach(async () => expect(await h.leftovers()).toEqual([]));
afterAll(async () => {
  await h.close();
  await databases.close();
});

const managedBy = (instance: string) =>
  docker.listContainers({ all: true, filters: { label: [`ephemera.instance=${instance}`] } });

/**
 * Host processes whose command line is exactly `args` (the engine runs on this machine, so container processes show
 * here too).
 */
function hostProcesses(args: string[]): number[] {
  const want = `${args.join('\0')}\0`;
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'latin1') === want;
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}

/**
 * Reads a streamed reply until `marker` has arrived; `rest` resolves with the whole text (what came, if the connection
 * broke).
 */
async function readUntil(res: Response, marker: string) {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (!text.includes(marker)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  const rest = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return text;
        text += decoder.decode(value, { stream: true });
      }
    } catch {
      return text;
    }
  })();
  return { text, rest };
}

/** `docker logs` of a container, or '' when its log driver keeps nothing to read. */
async function engineLogs(id: string): Promise<string> {
  try {
    return (await docker.getContainer(id).logs({ stdout: true, stderr: true, follow: false })).toString('latin1');
  } catch (err) {
    expect((err as { statusCode?: number }).statusCode).toBe(501); // "configured logging driver does not support reading"
    return '';
  }
}

describe('the engine keeps nothing of the output', () => {
  it('runs the container with log driver none: the output streams to the client and is not in docker logs', async () => {
    const marker = `engine-log-marker-${Date.now()}`;
    const res = await h.app.request(post('/v1/run', `echo ${marker}; echo ${marker}-err >&2; sleep 1; echo done`));
    const seen = await readUntil(res, marker);
    expect(seen.text).toContain(marker);

    const [info] = await waitFor(async () => ((await h.leftovers()).length > 0 ? h.leftovers() : undefined));
    const inspect = await docker.getContainer(info!.Id).inspect();
    expect(inspect.State.Running).toBe(true);
    expect(inspect.HostConfig.LogConfig).toEqual({ Type: 'none', Config: {} });
    expect(await engineLogs(info!.Id)).not.toContain(marker);

    expect(await seen.rest).toBe(`${marker}\ndone\n`);
  });
});

describe('the container keeps its deadline by itself', () => {
  it('after the service is SIGKILLed mid-run, the container ends by itself, its whole process tree with it', async () => {
    // Cold: the run's container is the instance's only one (no waiting ones of the shipped shell profile).
    const profiles = shippedWithoutStandby(mkdtempSync(join(tmpdir(), 'ephemera-engine-side-')));
    const svc = await spawnService({
      ...(await databases.env('killed')),
      REAP_INTERVAL_MS: '1000',
      PROFILES_PATH: profiles,
    });
    const instance = /"instance":"([^"]+)"/.exec(svc.logs.join('\n'))![1]!;
    // A child of sh that would outlive a KILL sent to sh alone, with a number of its own to find it by.
    const child = ['sleep', String(6000 + Math.floor(Math.random() * 3000))];
    try {
      const startedAt = Date.now();
      const res = await fetch(`${svc.url}/v1/run?timeout_ms=3000`, {
        method: 'POST',
        body: `${child.join(' ')} & echo up; sleep 600`,
      });
      await readUntil(res, 'up');
      svc.proc.kill('SIGKILL'); // at once: before the service's own 3 s timer can end the run
      await svc.exited;
      const [info] = await managedBy(instance);
      expect((await docker.getContainer(info!.Id).inspect()).State.Running).toBe(true);
      expect(hostProcesses(child)).toHaveLength(1); // the check sees the container's processes

      // Its own deadline: 3 s + 5 s after the run began, whole seconds; then a few seconds of slack.
      const state = await waitFor(
        async () => {
          const s = (await docker.getContainer(info!.Id).inspect()).State;
          return s.Running ? undefined : s;
        },
        3000 + 5000 + 1000 + 5000 - (Date.now() - startedAt),
        200,
      );
      expect(state.ExitCode).toBe(137);
      expect(hostProcesses(child)).toEqual([]);
    } finally {
      if (svc.proc.exitCode === null && svc.proc.signalCode === null) svc.proc.kill('SIGKILL');
      await svc.exited;
      for (const c of await managedBy(instance)) await docker.getContainer(c.Id).remove({ force: true, v: true });
    }
    expect(await managedBy(instance)).toEqual([]);
  });

  it('ends a run with a clear error when the image has no timeout program, at once', async () => {
    const t0 = performance.now();
    const body = await jsonOf(h.app.request(post('/v1/run?agent=no-timeout', 'hi', { accept: 'application/json' })));
    expect(body).toMatchObject({ status: 'failed', error: { code: 'RUNTIME_ERROR' } });
    expect(body.error.message).toContain('has no "timeout" program');
    expect(body.error.message).toContain('"own_deadline": false');
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it('runs such an image as is when its profile turns the own deadline off', async () => {
    const body = await jsonOf(
      h.app.request(post('/v1/run?agent=no-timeout-off', 'hi', { accept: 'application/json' })),
    );
    expect(body).toMatchObject({ status: 'succeeded', output: 'hi' });
  });

  it('runs the command under timeout, a little after the service deadline; exit codes and stdin pass through', async () => {
    const res = await h.app.request(post('/v1/run?timeout_ms=3000', 'echo up; sleep 1'));
    const seen = await readUntil(res, 'up');
    const [info] = await h.leftovers();
    const inspect = await docker.getContainer(info!.Id).inspect();
    // The shim that hands the workspace back, then timeout: 3 s + 5 s, in whole seconds
    expect([inspect.Path, ...inspect.Args]).toEqual([
      ...workspaceShim('/workspace'),
      'timeout',
      '-s',
      'KILL',
      '8',
      'sh',
      '-s',
    ]);
    const body = await jsonOf(h.app.request(post('/v1/run?agent=cat', 'abc\nxyz', { accept: 'application/json' })));
    expect(body).toMatchObject({ status: 'succeeded', output: 'abc\nxyz' });
    const exit = await jsonOf(h.app.request(post('/v1/run', 'exit 3', { accept: 'application/json' })));
    expect(exit).toMatchObject({ status: 'failed', exit_code: 3 });
    expect(await seen.rest).toBe('up\n');
  });
});
