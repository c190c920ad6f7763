import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerRuntime } from '../src/runner/docker/docker-runtime.js';
import { startEngineProxy } from './helpers/engine-proxy.js';
import { createHarness, jsonOf, post, TEST_PROFILES, waitFor, type Harness } from './helpers/harness.js';

// The engine restarts under a service that keeps containers waiting: the engine through a
// proxy that can be cut, and the waiting containers stopped on the real engine, as a
// restart without live-restore stops them.
let proxy: Awaited<ReturnType<typeof startEngineProxy>>;
let h: Harness;
beforeAll(async () => {
  proxy = await startEngineProxy();
  h = createHarness({
    runtime: new DockerRuntime(new Docker({ socketPath: proxy.path })),
    profiles: {
      ...TEST_PROFILES,
      profiles: { ...TEST_PROFILES.profiles, shell: { ...TEST_PROFILES.profiles.shell!, standby: 2 } },
    },
    reapIntervalMs: 500,
  });
  await h.service.startBackground();
  await waitFor(
    async () =>
      (await waiting()).length === 2 && h.service.standby!.stats().get('shell')!.ready === 2 ? true : undefined,
    15_000,
  );
});
afterAll(async () => {
  proxy.restore();
  await h.close();
  await proxy.close();
  expect(await h.leftovers()).toEqual([]);
});

const waiting = async () =>
  (await h.leftovers()).filter((c) => c.Labels['ephemera.standby'] === 'true' && c.State === 'running');

describe('standby across an engine restart', () => {
  it('loses its waiting containers, refuses runs while the engine is away, then refills and serves warm again', async () => {
    const before = await waiting();
    proxy.cut();
    // (A cut attach is EOF on their stdin, which may have ended them already: 304.)
    await Promise.all(
      before.map((c) =>
        h.docker
          .getContainer(c.Id)
          .stop({ t: 0 })
          .catch((err: { statusCode?: number }) => expect(err.statusCode).toBe(304)),
      ),
    );
    await waitFor(() => (h.service.standby!.stats().get('shell')!.ready === 0 ? true : undefined), 5000);

    // While it is gone, a run is refused as any would be, and the message is kept.
    const refused = await h.app.request(post('/v1/run', 'echo while down'));
    expect(refused.status).toBe(503);
    expect(await jsonOf(refused)).toMatchObject({ error: { code: 'RUNTIME_UNAVAILABLE' } });

    proxy.restore();
    // Refilled with new containers (the refill backs off while the engine is away: 1 s, 2 s, ...),
    // and the stopped ones are reaped: nothing of the old standby is left.
    await waitFor(async () => {
      const now = await waiting();
      return now.length === 2 && h.service.standby!.stats().get('shell')!.ready === 2 ? true : undefined;
    }, 20_000);
    await waitFor(
      async () => ((await h.leftovers()).some((c) => before.some((b) => b.Id === c.Id)) ? undefined : true),
      5000,
    );
    const ids = new Set((await waiting()).map((c) => c.Id));
    for (const b of before) expect(ids.has(b.Id)).toBe(false);

    const hits = h.service.standby!.stats().get('shell')!.hits;
    const body = await jsonOf(h.app.request(post('/v1/run', 'hostname', { accept: 'application/json' })));
    expect(body).toMatchObject({ status: 'succeeded' });
    const served = (body.output as string).trim(); // its hostname: the start of its id
    expect([...ids].some((id) => id.startsWith(served))).toBe(true); // one of the new waiting ones
    expect((await h.leftovers()).some((c) => c.Id.startsWith(served))).toBe(false); // and removed after its run
    expect(h.service.standby!.stats().get('shell')!.hits).toBe(hits + 1);
  });
});
