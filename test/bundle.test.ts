import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processDatabases } from './helpers/process-database.js';
import { spawnService } from './helpers/service-process.js';

// `npm start` and the Docker image run the esbuild bundle, not src/: it must serve the same,
// and keep dockerode's ssh2/gRPC dependencies unloaded until an ssh:// engine needs them.
const OUT = 'dist/bundle-test/index.js'; // two folders deep, like dist/bundle/index.js
const LAZY = /node_modules\/(ssh2|@grpc\/grpc-js|@grpc\/proto-loader)\//;

beforeAll(() => {
  execFileSync(process.execPath, ['scripts/bundle.mjs', OUT]);
});
const databases = processDatabases();
afterAll(async () => {
  rmSync('dist/bundle-test', { recursive: true, force: true });
  await databases.close();
});

// On the project's store: on Postgres, the bundle must carry the pg driver too.
const start = async (env: Record<string, string>) =>
  spawnService(
    { NODE_DEBUG: 'module', LOG_LEVEL: 'info', ...(await databases.env(`${Math.random()}`.slice(2))), ...env },
    [OUT],
  );

describe('the bundled service', () => {
  it('runs a prompt, with none of the engine transports it does not use loaded', async () => {
    const svc = await start({});
    try {
      const res = await fetch(`${svc.url}/v1/run`, { method: 'POST', body: 'echo hi from the bundle' });
      expect(await res.text()).toBe('hi from the bundle\n');
      expect((await fetch(`${svc.url}/openapi.json`)).status).toBe(200);
      expect(svc.logs.filter((l) => LAZY.test(l))).toEqual([]);
    } finally {
      svc.proc.kill('SIGTERM');
      expect(await svc.exited).toBe(0);
    }
  });

  it('loads ssh2 when DOCKER_HOST is ssh://, and answers that the engine is unreachable', async () => {
    const svc = await start({ DOCKER_HOST: 'ssh://nobody@127.0.0.1:1' });
    try {
      const res = await fetch(`${svc.url}/readyz`);
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ checks: { engine: 'unavailable', database: 'ok' } });
      expect(svc.logs.some((l) => /node_modules\/ssh2\/lib\/index\.js/.test(l))).toBe(true);
    } finally {
      svc.proc.kill('SIGTERM');
      await svc.exited;
    }
  });
});
