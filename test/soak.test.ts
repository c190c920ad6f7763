import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, listen, type Harness } from './helpers/harness.js';
import { runSoak, sqliteIntegrity } from './soak/soak.js';

// The small version of `npm run soak`: the same mix and the same checks, bounded.
let h: Harness;
let server: Awaited<ReturnType<typeof listen>>;
beforeAll(async () => {
  h = createHarness({
    maxBodyBytes: 16 * 1024,
    maxOutputBytes: 128 * 1024,
    maxConcurrentRuns: 8,
    maxQueuedRuns: 100,
    queueTimeoutMs: 60_000,
  });
  await h.service.startBackground();
  server = await listen(h.app);
});
afterAll(async () => {
  await server.close();
  await h.close();
});

describe('a mixed load', () => {
  it('leaks no container, leaves no run running, loses no transcript', async () => {
    const report = await runSoak({
      url: server.url,
      rows: (text) => h.rows(text),
      integrity: async () => (h.database.dialect === 'sqlite' ? sqliteIntegrity(h.db) : undefined),
      instanceId: h.instanceId,
      total: 60,
      concurrency: 8,
      maxBodyBytes: 16 * 1024,
    });
    expect(report.problems).toEqual([]);
    expect(Object.keys(report.byKind).sort()).toEqual([
      'abort',
      'crash',
      'flood',
      'follow-up',
      'normal',
      'oversize',
      'timeout',
    ]);
    expect(report.httpStatuses['500']).toBeUndefined();
  }, 120_000);
});
