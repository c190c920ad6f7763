import { mkdtempSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A unix socket that forwards to the real Docker engine and can be cut and restored,
 * so tests can take "the engine" away mid-run without stopping the real one that the
 * rest of the suite uses.
 */
/** The engine's socket the tests use: DOCKER_HOST's (the podman project points it at Podman's), else Docker's. */
export function engineSocket(): string {
  const host = process.env.DOCKER_HOST;
  return host?.startsWith('unix://') ? host.slice('unix://'.length) : '/var/run/docker.sock';
}

/** The tests run on Podman's API (the `podman` projects): where its words differ, they say so. */
export const ON_PODMAN = /podman/.test(process.env.DOCKER_HOST ?? '');

export async function startEngineProxy(target = engineSocket()) {
  const path = join(mkdtempSync(join(tmpdir(), 'ephemera-engine-')), 'docker.sock');
  const open = new Set<Socket>();
  let up = true;
  // Half-open: the runtime closes its side of an attach (stdin EOF) and still reads the output.
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    if (!up) return client.destroy();
    const engine = connect({ path: target, allowHalfOpen: true });
    open.add(client).add(engine);
    const drop = () => {
      client.destroy();
      engine.destroy();
      open.delete(client);
      open.delete(engine);
    };
    client.on('error', drop).on('close', drop);
    engine.on('error', drop).on('close', drop);
    client.pipe(engine);
    engine.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    path,
    /** Drops every connection and refuses new ones, as a dead engine would. */
    cut() {
      up = false;
      for (const s of open) s.destroy();
      open.clear();
    },
    restore() {
      up = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}
