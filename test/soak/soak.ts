import { request } from 'node:http';
import Docker from 'dockerode';
import type { Db } from '../../src/db/sqlite/open.js';

/**
 * A bounded load against a running service on loopback: normal, timeout, crash,
 * client-abort, output-flood, oversize and follow-up runs, mixed; then the checks that
 * nothing leaked and nothing was lost.
 */
export interface SoakOptions {
  url: string;
  /** Rows of a statement from the service's database (SQLite or Postgres). */
  rows(text: string): Promise<Record<string, unknown>[]>;
  /** The database's own consistency check, where it has one: a problem, or undefined. */
  integrity?: () => Promise<string | undefined>;
  instanceId: string;
  total: number;
  concurrency: number;
  maxBodyBytes: number;
  onProgress?: (done: number, total: number) => void;
}

type Kind = 'normal' | 'timeout' | 'crash' | 'abort' | 'flood' | 'oversize' | 'follow-up';
const EXPECTED: Record<Kind, string> = {
  normal: 'succeeded',
  timeout: 'timeout',
  crash: 'failed',
  abort: 'cancelled',
  flood: 'output_limit',
  oversize: '413',
  'follow-up': 'succeeded',
};

export interface SoakReport {
  requests: number;
  byKind: Record<string, number>;
  httpStatuses: Record<string, number>;
  seconds: number;
  problems: string[];
}

function kindOf(i: number): Kind {
  const r = (i * 7919) % 100; // deterministic, well spread
  if (r < 50) return 'normal';
  if (r < 60) return 'timeout';
  if (r < 70) return 'crash';
  if (r < 80) return 'abort';
  if (r < 85) return 'flood';
  if (r < 92) return 'oversize';
  return 'follow-up';
}

export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const started = performance.now();
  const problems: string[] = [];
  const expectations = new Map<string, { kind: Kind; output?: string }>();
  const byKind: Record<string, number> = {};
  const httpStatuses: Record<string, number> = {};
  const sessions: string[] = [];
  let next = 0;
  let done = 0;

  const one = async (i: number) => {
    let kind = kindOf(i);
    if (kind === 'follow-up' && sessions.length === 0) kind = 'normal';
    byKind[kind] = (byKind[kind] ?? 0) + 1;
    const body: Record<Kind, string> = {
      normal: `echo normal-${i}`,
      timeout: 'echo slow; sleep 10',
      crash: 'echo crash; exit 3',
      abort: 'echo abort-me; sleep 10',
      flood: 'yes flood',
      oversize: 'x'.repeat(o.maxBodyBytes + 1),
      'follow-up': `wc -l < /ephemera/history.jsonl | tr -d ' '`,
    };
    const path = kind === 'follow-up' ? `/v1/sessions/${sessions[i % sessions.length]}/messages` : '/v1/run';
    const query = kind === 'timeout' ? '?timeout_ms=800' : '';
    const controller = new AbortController();
    try {
      if (kind === 'oversize') {
        // node:http, not fetch: the server answers 413 before reading the body and may close
        // the connection under a client still writing, which undici reports as an unhandled error.
        const status = await postRaw(`${o.url}${path}`, body[kind]);
        httpStatuses[status] = (httpStatuses[status] ?? 0) + 1;
        if (status !== 413) problems.push(`request ${i} (oversize): HTTP ${status}`);
        return;
      }
      const res = await fetch(`${o.url}${path}${query}`, {
        method: 'POST',
        body: body[kind],
        signal: controller.signal,
      });
      httpStatuses[res.status] = (httpStatuses[res.status] ?? 0) + 1;
      if (res.status === 409 && kind === 'follow-up') {
        await res.arrayBuffer(); // the session was busy with another follow-up: a correct refusal
        byKind[kind] = (byKind[kind] ?? 1) - 1;
        return;
      }
      // Under load a run can pass its deadline before it prints: its answer is then a 504 of its own.
      const timedOutSilent = kind === 'timeout' && res.status === 504;
      if (res.status !== 200 && !timedOutSilent) {
        problems.push(`request ${i} (${kind}): HTTP ${res.status} ${await res.text()}`);
        return;
      }
      const runId = res.headers.get('x-run-id')!;
      if (kind === 'abort') {
        const reader = res.body!.getReader();
        reader.closed.catch(() => {}); // the abort below errors the body stream: expected
        await reader.read();
        controller.abort();
        expectations.set(runId, { kind });
        return;
      }
      const text = await res.text();
      expectations.set(runId, { kind, ...(kind === 'normal' ? { output: `normal-${i}\n` } : {}) });
      if (kind === 'normal') sessions.push(res.headers.get('x-session-id')!);
      if (kind === 'normal' && text !== `normal-${i}\n`)
        problems.push(`request ${i}: streamed ${JSON.stringify(text.slice(0, 50))}`);
    } catch (err) {
      if (kind !== 'abort') problems.push(`request ${i} (${kind}): ${(err as Error).message}`);
    } finally {
      o.onProgress?.(++done, o.total);
    }
  };

  await Promise.all(
    Array.from({ length: o.concurrency }, async () => {
      while (next < o.total) await one(next++);
    }),
  );

  // Aborted runs end on their own within 2 s of the disconnect.
  const docker = new Docker();
  const deadline = Date.now() + 10_000;
  let left = await docker.listContainers({ all: true, filters: { label: [`ephemera.instance=${o.instanceId}`] } });
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    left = await docker.listContainers({ all: true, filters: { label: [`ephemera.instance=${o.instanceId}`] } });
  }
  if (left.length > 0) problems.push(`${left.length} managed container(s) left`);

  const [stillRunning] = (await o.rows(`select count(*) as n from runs where status = 'running'`)) as Array<{
    n: number;
  }>;
  if (stillRunning!.n > 0) problems.push(`${stillRunning!.n} run(s) still running`);
  const runs = (await o.rows(
    `select r.id, r.status, r.start_ms as "startMs",
            (select count(*) from messages m where m.run_id = r.id and m.role = 'user') as users,
            (select count(*) from messages m where m.run_id = r.id and m.role = 'assistant') as replies,
            (select min(content) from messages m where m.run_id = r.id and m.role = 'assistant') as reply
       from runs r`,
  )) as Array<{
    id: string;
    status: string;
    startMs: number | null;
    users: number;
    replies: number;
    reply: string | null;
  }>;
  for (const r of runs) {
    if (r.users !== 1) problems.push(`run ${r.id}: ${r.users} user messages`);
    if (r.startMs !== null && r.replies !== 1) problems.push(`run ${r.id}: ${r.replies} replies`);
    const want = expectations.get(r.id);
    if (!want) continue;
    if (r.status !== EXPECTED[want.kind]) problems.push(`run ${r.id} (${want.kind}): status ${r.status}`);
    if (want.output !== undefined && r.reply !== want.output)
      problems.push(`run ${r.id}: stored ${JSON.stringify(r.reply)}`);
  }
  for (const id of expectations.keys()) if (!runs.some((r) => r.id === id)) problems.push(`run ${id} missing`);
  const integrity = await o.integrity?.();
  if (integrity !== undefined) problems.push(integrity);
  return { requests: o.total, byKind, httpStatuses, seconds: (performance.now() - started) / 1000, problems };
}

/** SQLite's integrity_check: a problem, or undefined. */
export function sqliteIntegrity(db: Db): string | undefined {
  const integrity = db.$client.pragma('integrity_check', { simple: true });
  return integrity === 'ok' ? undefined : `integrity_check: ${String(integrity)}`;
}

/** POSTs a body and resolves with the status; a connection the server closes early is fine. */
function postRaw(url: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}
