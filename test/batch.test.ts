import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDone, runBatch } from '../src/client/batch.js';
import { EphemeraClient } from '../src/client/ephemera-client.js';
import { geminiProfiles } from './helpers/gemini.js';
import { createHarness, listen, type Harness } from './helpers/harness.js';

// One slot and no queue: with 3 clients at once most requests get 429 and must retry.
let h: Harness;
let server: Awaited<ReturnType<typeof listen>>;
let dir: string;
let key: string;
beforeAll(async () => {
  h = createHarness({ maxConcurrentRuns: 1, maxQueuedRuns: 0, queueTimeoutMs: 1000 });
  key = (await h.service.keys.create('batch', 'user')).key;
  server = await listen(h.app);
  dir = mkdtempSync(join(tmpdir(), 'ephemera-batch-'));
});
afterAll(async () => {
  await server.close();
  await h.close();
  rmSync(dir, { recursive: true, force: true });
});

const jsonl = (rows: unknown[]) => `${rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n')}\n`;
const lines = (path: string) =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

describe('the batch client', () => {
  it('retries 429s honouring Retry-After and writes results in input order', async () => {
    const input = join(dir, 'in.jsonl');
    const out = join(dir, 'out.jsonl');
    writeFileSync(
      input,
      jsonl([
        ...Array.from({ length: 5 }, (_, i) => ({ prompt: `echo item-${i}`, id: i })),
        'not json',
        { prompt: 'exit 4' },
      ]),
    );
    let requests = 0;
    const counting: typeof fetch = (url, init) => {
      requests++;
      return fetch(url, init);
    };
    const client = new EphemeraClient({ baseUrl: server.url, apiKey: key, maxRetries: 20, fetch: counting });
    const summary = await runBatch({ inputPath: input, outPath: out, concurrency: 3, client });
    const rows = lines(out);
    expect(rows.map((r) => r.line)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(rows.slice(0, 5).map((r) => [r.id, r.ok, r.output])).toEqual(
      Array.from({ length: 5 }, (_, i) => [i, true, `item-${i}\n`]),
    );
    expect(rows[5]).toMatchObject({ ok: false, status: 'invalid_input', error: { code: 'BAD_LINE' } });
    expect(rows[6]).toMatchObject({ ok: false, status: 'failed', exit_code: 4 });
    expect(requests).toBeGreaterThan(6); // some 429s were retried
    expect(rows.some((r) => r.attempts > 1)).toBe(true);
    expect(summary).toMatchObject({ total: 7, done: 7, ok: 5, failed: 2, interrupted: false });
    expect(summary.p95Ms).toBeGreaterThanOrEqual(summary.p50Ms!);
  }, 60_000);

  it('does not retry an agent the service refuses until its operator acts (503 AGENT_UNAVAILABLE)', async () => {
    const keyless = createHarness({ profiles: geminiProfiles() }); // a gemini profile, and no key for it
    const at = await listen(keyless.app);
    try {
      const client = new EphemeraClient({ baseUrl: at.url, maxRetries: 5 });
      const err = await client.run({ prompt: 'Name three rivers', agent: 'gemini' }).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'EphemeraError', status: 503, code: 'AGENT_UNAVAILABLE', attempts: 1 });
    } finally {
      await at.close();
      await keyless.close();
    }
  });

  it("gives each line's files to its session's workspace, and a line with bad files is a BAD_LINE", async () => {
    const input = join(dir, 'files.jsonl');
    const out = join(dir, 'files-out.jsonl');
    writeFileSync(
      input,
      jsonl([
        {
          prompt: 'cat data/in.txt; od -An -tx1 b',
          files: { 'data/in.txt': 'given\n', b: { base64: Buffer.from([7]).toString('base64') } },
        },
        { prompt: 'echo x', files: ['not', 'a', 'map'] },
        { prompt: 'echo x', files: { '../out': 'x' } },
      ]),
    );
    const client = new EphemeraClient({ baseUrl: server.url, apiKey: key, maxRetries: 20 });
    await runBatch({ inputPath: input, outPath: out, concurrency: 1, client });
    const rows = lines(out);
    expect(rows[0]).toMatchObject({ ok: true, output: 'given\n 07\n' });
    expect(rows[1]).toMatchObject({ ok: false, error: { code: 'BAD_LINE' } });
    expect(rows[2]).toMatchObject({ ok: false, error: { code: 'WORKSPACE_REJECTED' } });
  }, 60_000);

  it('resumes after the valid prefix of an earlier output, dropping a torn last line', async () => {
    const input = join(dir, 'resume.jsonl');
    const out = join(dir, 'resume-out.jsonl');
    writeFileSync(input, jsonl(Array.from({ length: 4 }, (_, i) => ({ prompt: `echo r${i}` }))));
    const kept = [
      {
        line: 1,
        ok: true,
        status: 'succeeded',
        session_id: 's',
        run_id: 'r',
        exit_code: 0,
        output: 'from before\n',
        error: null,
        attempts: 1,
        ms: 5,
      },
      {
        line: 2,
        ok: true,
        status: 'succeeded',
        session_id: 's',
        run_id: 'r',
        exit_code: 0,
        output: 'from before\n',
        error: null,
        attempts: 1,
        ms: 5,
      },
    ];
    writeFileSync(out, `${jsonl(kept)}{"line":3,"ok":tr`);
    const client = new EphemeraClient({ baseUrl: server.url, apiKey: key, maxRetries: 20 });
    const summary = await runBatch({ inputPath: input, outPath: out, concurrency: 2, client });
    const rows = lines(out);
    expect(rows.map((r) => r.line)).toEqual([1, 2, 3, 4]);
    expect(rows.slice(0, 2)).toEqual(kept);
    expect(rows.slice(2).map((r) => r.output)).toEqual(['r2\n', 'r3\n']);
    expect(summary.resumedFrom).toBe(2);
  }, 60_000);

  it('on Ctrl-C leaves a valid partial file, and the same command finishes it', async () => {
    const input = join(dir, 'sigint.jsonl');
    const out = join(dir, 'sigint-out.jsonl');
    writeFileSync(input, jsonl(Array.from({ length: 6 }, (_, i) => ({ prompt: `sleep 0.4; echo s${i}` }))));
    const cli = (onFirstLine?: (kill: () => void) => void) =>
      new Promise<number | null>((resolve) => {
        const p = spawn(
          process.execPath,
          ['--import', 'tsx', 'src/cli/batch.ts', input, '--out', out, '--concurrency', '1', '--url', server.url],
          {
            env: { ...process.env, EPHEMERA_KEY: key },
            stdio: ['ignore', 'ignore', 'pipe'],
          },
        );
        let seen = false;
        p.stderr!.on('data', (d: Buffer) => {
          if (!seen && /\] [1-9]\/6/.test(d.toString())) {
            seen = true;
            onFirstLine?.(() => p.kill('SIGINT'));
          }
        });
        p.on('exit', (code) => resolve(code));
      });
    const code = await cli((kill) => kill());
    expect(code).toBe(130);
    const partial = readDone(out);
    expect(partial.length).toBeGreaterThanOrEqual(1);
    expect(partial.length).toBeLessThan(6);
    expect(readFileSync(out, 'utf8').endsWith('\n')).toBe(true);
    expect(await cli()).toBe(0);
    expect(lines(out).map((r) => r.output)).toEqual(Array.from({ length: 6 }, (_, i) => `s${i}\n`));
    // The line cut off by Ctrl-C kept running (it has an Idempotency-Key); the resumed batch sent
    // the same key for it, so each prompt was stored, and ran, once.
    const stored = await h.rows<{ n: number }>(
      "select content, count(*) as n from messages where role = 'user' and content like 'sleep 0.4; echo s%' group by content",
    );
    expect(stored).toHaveLength(6);
    expect(stored.every((p) => p.n === 1)).toBe(true);
  }, 60_000);
});
