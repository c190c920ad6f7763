import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runBatch } from '../src/client/batch.js';
import { EphemeraClient } from '../src/client/ephemera-client.js';
import { createHarness, listen, type Harness } from './helpers/harness.js';

let h: Harness;
let server: Awaited<ReturnType<typeof listen>>;
let dir: string;
beforeAll(async () => {
  h = createHarness({ maxConcurrentRuns: 12, maxRunsPerKey: 12 });
  server = await listen(h.app);
  dir = mkdtempSync(join(tmpdir(), 'ephemera-batch-detached-'));
});
afterEach(async () => expect(await h.leftovers()).toEqual([]));
afterAll(async () => {
  await server.close();
  await h.close();
  rmSync(dir, { recursive: true, force: true });
});

const PROMPTS = Array.from({ length: 10 }, (_, i) => ({ prompt: `sleep 1; echo line-${i}`, id: i }));

/** Runs the prompts as a batch, 10 in flight; the results, and the most connections open at once. */
async function batch(name: string, detached: boolean) {
  const input = join(dir, `${name}.jsonl`);
  const out = join(dir, `${name}.out.jsonl`);
  writeFileSync(input, PROMPTS.map((p) => JSON.stringify(p)).join('\n'));
  const client = new EphemeraClient({ baseUrl: server.url, pollMs: 200, ...(detached && { maxRequests: 2 }) });
  server.peakConnections();
  const summary = await runBatch({ inputPath: input, outPath: out, concurrency: 10, client, detached });
  const results = readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  return { summary, results, connections: server.peakConnections() };
}

describe('the batch client, detached', () => {
  it('keeps ten runs in flight on a few connections (two requests at once), and collects each outcome in input order', async () => {
    const { summary, results, connections } = await batch('detached', true);
    expect(summary).toMatchObject({ total: 10, done: 10, ok: 10, failed: 0, interrupted: false });
    expect(results.map((r) => [r.id, r.ok, r.output])).toEqual(PROMPTS.map((p, i) => [p.id, true, `line-${i}\n`]));
    // Two requests at once; the client's pool may open a socket or two more as it recycles them.
    expect(connections).toBeLessThanOrEqual(4);
    // In flight together, not one after another: most of the runs overlapped.
    const spans = await Promise.all(results.map(async (r) => (await h.service.transcripts.getRun(r.run_id))!));
    const most = Math.max(
      ...spans.map((a) => spans.filter((b) => b.createdAt <= a.createdAt && b.endedAt! > a.createdAt).length),
    );
    expect(most).toBeGreaterThanOrEqual(5);
  });

  it('where a batch holding its connections opens one a run', async () => {
    const { summary, connections } = await batch('attached', false);
    expect(summary.ok).toBe(10);
    expect(connections).toBeGreaterThanOrEqual(10);
  });
});
