import { Hono } from 'hono';
import type { Store } from '../../db/contract.js';
import type { ContainerRuntime } from '../../runner/runtime.js';

/** /healthz: the process answers. /readyz: the engine and the database answer too. */
export function healthRoutes(deps: { database: Store; runtime: ContainerRuntime }) {
  return new Hono()
    .get('/healthz', (c) => c.json({ status: 'ok' }))
    .get('/readyz', async (c) => {
      const [engine, database] = await Promise.all([
        deps.runtime.ping().then(
          () => 'ok' as const,
          () => 'unavailable' as const,
        ),
        deps.database.healthy().then(
          (ok) => (ok ? ('ok' as const) : ('unavailable' as const)),
          () => 'unavailable' as const,
        ),
      ]);
      const ready = engine === 'ok' && database === 'ok';
      return c.json({ status: ready ? 'ready' : 'not_ready', checks: { engine, database } }, ready ? 200 : 503, {
        'Cache-Control': 'no-store',
      });
    });
}
