import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, jsonOf, post, waitFor, type Harness } from './helpers/harness.js';

let a: Harness;
let b: Harness;
beforeAll(async () => {
  a = createHarness({ reapIntervalMs: 200 });
  b = createHarness({ reapIntervalMs: 200 });
  await a.service.startBackground();
  await b.service.startBackground();
});
afterAll(async () => {
  await a.close();
  await b.close();
});

describe('two instances on one engine', () => {
  it("never reap each other's live containers", async () => {
    const pending = a.app.request(post('/v1/run', 'sleep 2; echo survived', { accept: 'application/json' }));
    await waitFor(async () => (await a.leftovers()).length === 1);
    // b sweeps many times while a's run is live
    for (let i = 0; i < 5; i++) {
      expect(await b.service.reaper.sweep()).toBe(0);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(await jsonOf(pending)).toMatchObject({ status: 'succeeded', output: 'survived\n' });
    expect(await a.leftovers()).toEqual([]);
  });
});
