import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness, jsonOf } from './helpers/harness.js';

let h: Harness;
beforeAll(() => {
  h = createHarness();
});
afterAll(() => h.close());

describe('health', () => {
  it('/healthz says the process is up', async () => {
    const res = await h.app.request('/healthz');
    expect(res.status).toBe(200);
    expect(await jsonOf(res)).toEqual({ status: 'ok' });
  });

  it('/readyz checks the engine and the database', async () => {
    const res = await h.app.request('/readyz');
    expect(res.status).toBe(200);
    expect(await jsonOf(res)).toEqual({ status: 'ready', checks: { engine: 'ok', database: 'ok' } });
  });
});

describe('the store', () => {
  it('marks runs left running by a dead process as interrupted', async () => {
    const { transcripts: store, instances } = h.database;
    const now = Date.now();
    const begun = await store.beginTurn({
      sessionId: 'ses_test_interrupted',
      newSessionAgent: 'shell',
      runId: 'run_test_interrupted',
      agent: 'shell',
      image: 'img',
      instanceId: 'dead-instance',
      keyId: null,
      timeoutMs: 1000,
      prompt: 'left behind',
      now,
    });
    expect(begun).not.toBe('busy');
    await instances.heartbeat('dead-instance', 1, now - 60_000);
    expect(await instances.interruptLeftoverRuns('another-instance', now + 50, 10_000)).toBe(1);
    expect(await store.getRun('run_test_interrupted')).toMatchObject({
      status: 'interrupted',
      errorCode: 'INTERRUPTED',
      totalMs: 50,
    });
    expect((await store.messagesOf('ses_test_interrupted')).map((m) => m.content)).toEqual(['left behind']);
  });
});
