// npm run bench: the service against the raw Engine API floor, measured in the same run, and
// the model gateway against the fake model reached directly.
// Loopback only, bounded (a few minutes), stops by itself. Prints a table and writes
// bench-results/service.json. Figures are ratios against the raw floor: machines are noisy.
import { createTestDatabase } from '../helpers/postgres.js';
import { postgresHistoryBench } from './postgres-history.js';
import { replayBuildBench, resumeBench } from './event-log.js';
import { gvisorBench, printGvisor } from './gvisor.js';
import { podmanBench, printPodman } from './podman.js';
import { claudeStandbyBench, printClaudeStandby } from './claude-standby.js';
import { execFileSync, spawn } from 'node:child_process';
import http from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import Docker from 'dockerode';
import pino from 'pino';
import { pack } from 'tar-stream';
import { geminiGateway } from '../../src/runner/agents/gemini/gateway.js';
import { RunTokens } from '../../src/gateway/run-tokens.js';
import { ModelGatewayServer } from '../../src/gateway/server.js';
import { FrameDecoder } from '../../src/runner/docker/frames.js';
import { createOptions } from '../../src/runner/docker/docker-container.js';
import { loadProfiles } from '../../src/settings.js';
import { startFakeGemini } from '../fake-gemini/server.js';
import { freePort, residentMb, shippedWithoutStandby } from '../helpers/service-process.js';
import { SERVICE_NODE_FLAGS } from '../../scripts/node-flags.mjs';
import { pct, r2 } from './figures.js';

const IMAGE = 'ephemera/shell:0.1';
const ITER = Number(process.env.BENCH_ITERATIONS ?? 30);
const STREAM_BYTES = 100_000_000;
const STREAM_REPS = Number(process.env.BENCH_STREAM_REPS ?? 5);
// `npm run bench -- --only streaming` (or any of PARTS below): one part, for
// profiling work. `gateway` needs neither the build, the service nor the engine.
const SERVICE_PARTS = ['latency', 'throughput', 'rss', 'streaming'] as const;
const PARTS = [
  ...SERVICE_PARTS,
  'gateway',
  'standby',
  'gemini-standby',
  'workspace',
  'replicas',
  'postgres-history',
  'replay-build',
  'resume',
  'gvisor',
  'podman',
  'claude-standby',
] as const;
type Part = (typeof PARTS)[number];
const ONLY = (() => {
  const i = process.argv.indexOf('--only');
  if (i < 0) return undefined;
  const part = process.argv[i + 1];
  if (!PARTS.includes(part as Part)) throw new Error(`--only: expected one of ${PARTS.join(', ')}, got ${part}`);
  return part as Part;
})();
const wants = (part: Part) => ONLY === undefined || ONLY === part;
const docker = new Docker();

// ---------- the raw floor: the Engine API, no service ----------
/**
 * The floor's container: the service's own options for its default profile (limits, CPU
 * share, Init, read-only root, tmpfs, user, log driver `none`), built by the service's own
 * `createOptions`, with the bare command and none of the service's work around it (no
 * workspace shim, no replay file, no prompt on stdin). Until issue 27 the floor's container had
 * no CPU limit: its `head | tr` took both cores from the engine that relays their output, the
 * floor ran at 49-78 MB/s instead of 74-95, and the service's streaming ratio looked 0.15 better
 * than it is (BENCHMARKS.md, "The event log").
 */
function floorOptions(cmd: string): Docker.ContainerCreateOptions {
  const set = loadProfiles(undefined);
  const profile = set.profiles.get(set.defaultAgent);
  if (!profile) throw new Error(`no profile ${set.defaultAgent}`);
  const { image, user, workdir, network, limits, readOnlyRoot, runtime, tmpfs } = profile;
  const options = createOptions({
    image,
    user,
    workdir,
    network,
    limits,
    readOnlyRoot,
    runtime,
    tmpfs,
    command: ['sh', '-c', cmd],
    env: { ...profile.env },
    labels: { 'ephemera.bench': 'raw' },
    files: [],
    stdin: Buffer.alloc(0),
    ownDeadlineAt: undefined,
    workspace: undefined,
  });
  if (options.Image !== IMAGE) throw new Error(`the default profile runs ${options.Image}, the bench expects ${IMAGE}`);
  return options;
}
async function rawRun(
  cmd: string,
  onData?: (n: number) => void,
): Promise<{ firstByteMs: number; totalMs: number; bytes: number }> {
  const options = floorOptions(cmd); // parsed before the clock starts: the service parses its profiles once
  const t0 = performance.now();
  const c = await docker.createContainer(options);
  const T = (m: string) => process.env.BENCH_TRACE && process.stderr.write(`${m} `);
  T('created');
  const stream = (await c.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as Duplex;
  stream.on('error', () => {});
  T('attached');
  await c.start();
  T('started');
  stream.end();
  let first = 0;
  let bytes = 0;
  const decoder = new FrameDecoder();
  try {
    for await (const chunk of stream) {
      for (const f of decoder.push(chunk as Buffer)) {
        if (first === 0) first = performance.now() - t0;
        bytes += f.payload.length;
        onData?.(f.payload.length);
      }
    }
  } finally {
    T('streamed');
  }
  // Asked after the output ended (not-running): a next-exit wait sent before start can miss a quick exit.
  await c.wait();
  T('waited');
  await c.remove({ force: true, v: true });
  T('removed\n');
  return { firstByteMs: first, totalMs: performance.now() - t0, bytes };
}

// ---------- the service, as its own process (built dist) ----------
const rssMb = (pid: number) => Math.round(residentMb(pid));

// node:http, not fetch: the raw floor reads a Node socket too, and undici's web streams
// would spend CPU in this process that the two cores here share with the service.
const agent = new http.Agent({ keepAlive: true });
async function serviceRun(
  url: string,
  prompt: string,
  path = '/v1/run',
): Promise<{ firstByteMs: number; totalMs: number; bytes: number }> {
  const t0 = performance.now();
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.request(`${url}${path}`, { method: 'POST', agent }, resolve);
    req.on('error', reject);
    req.end(prompt);
  });
  let first = 0;
  let bytes = 0;
  const body: Buffer[] = [];
  for await (const chunk of res as AsyncIterable<Buffer>) {
    if (first === 0) first = performance.now() - t0;
    bytes += chunk.length;
    if (res.statusCode !== 200) body.push(chunk);
  }
  if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${Buffer.concat(body).toString()}`);
  return { firstByteMs: first, totalMs: performance.now() - t0, bytes };
}

async function throughput(concurrency: number, total: number, one: () => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < total) await one();
    }),
  );
  return total / ((performance.now() - t0) / 1000);
}

// ---------- the model gateway against the fake model reached directly ----------
// Both run here, in the bench process: the service runs its gateway in its own process too
// (src/app.ts, a second listener), and here the client and the fake share one event loop with
// it, which the direct path pays for just the same. What the gateway adds is its own work:
// parse the request, check the run token, forward with the real key (global fetch, so undici's
// global keep-alive pool, as in the service), count usage while streaming the answer back.
const GATEWAY_WARMUP = 5;
const GATEWAY_TARGET_MS = 5;
// Nothing special in the last user text (no FAKE_ marker): the fake streams three SSE chunks
// 150 ms apart; the first is what is timed, the rest is read so the connection can be reused.
const MODEL_BODY = JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'say hello' }] }] });
const MODEL_PATH = '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse';

async function modelCall(
  base: string,
  key: string,
  agent: http.Agent,
): Promise<{ firstByteMs: number; reused: boolean }> {
  const t0 = performance.now();
  const { res, reused } = await new Promise<{ res: http.IncomingMessage; reused: boolean }>((resolve, reject) => {
    const req = http.request(
      `${base}${MODEL_PATH}`,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'x-goog-api-key': key } },
      (res) => resolve({ res, reused: req.reusedSocket }),
    );
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer from ${base} in 10 s`)));
    req.on('error', reject);
    req.end(MODEL_BODY);
  });
  let first = 0;
  const body: Buffer[] = [];
  for await (const chunk of res as AsyncIterable<Buffer>) {
    if (first === 0) first = performance.now() - t0;
    body.push(chunk);
  }
  const text = Buffer.concat(body).toString();
  if (res.statusCode !== 200 || !text.includes('turns=1'))
    throw new Error(`${base}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`);
  return { firstByteMs: first, reused };
}

type ModelLatency = { first_byte_p50: number; first_byte_p95: number; reused_connections: number };
async function gatewayBench(): Promise<{
  direct: ModelLatency;
  gateway: ModelLatency;
  added_p50_ms: number;
  added_p95_ms: number;
}> {
  const apiKey = 'bench-real-key';
  const fake = await startFakeGemini({ host: '127.0.0.1', apiKey });
  const tokens = new RunTokens();
  const grant = tokens.issue('bench', {});
  const gateway = new ModelGatewayServer(
    geminiGateway({ tokens, upstream: fake.url, apiKey, logger: pino({ level: 'silent' }) }),
  );
  // A keep-alive agent each way, so both reuse one connection from the client; the gateway's
  // own upstream leg reuses one from undici's global pool.
  const directAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const gatewayAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const gatewayUrl = await gateway.listen('127.0.0.1', 0);
    const direct = () => modelCall(fake.url, apiKey, directAgent);
    const through = () => modelCall(gatewayUrl, grant.token, gatewayAgent);
    for (let i = 0; i < GATEWAY_WARMUP; i++) {
      await direct();
      await through();
    }
    const d: Array<{ firstByteMs: number; reused: boolean }> = [];
    const g: typeof d = [];
    // Interleaved, and which goes first alternates, so drift and order hit both alike.
    for (let i = 0; i < ITER; i++) {
      if (i % 2 === 0) {
        d.push(await direct());
        g.push(await through());
      } else {
        g.push(await through());
        d.push(await direct());
      }
    }
    // The gateway did its whole job on every call: forwarded, and counted what came back.
    if (grant.usage.calls !== GATEWAY_WARMUP + ITER || grant.usage.errors !== 0 || grant.usage.outputTokens === 0) {
      throw new Error(`gateway usage: ${JSON.stringify(grant.usage)}`);
    }
    const summary = (xs: typeof d): ModelLatency => ({
      first_byte_p50: r2(
        pct(
          xs.map((x) => x.firstByteMs),
          50,
        ),
      ),
      first_byte_p95: r2(
        pct(
          xs.map((x) => x.firstByteMs),
          95,
        ),
      ),
      reused_connections: xs.filter((x) => x.reused).length,
    });
    const ds = summary(d);
    const gs = summary(g);
    if (ds.reused_connections < ITER || gs.reused_connections < ITER) {
      process.stderr.write(
        `[bench] gateway: connections reused ${ds.reused_connections} direct, ${gs.reused_connections} through the gateway, of ${ITER}\n`,
      );
    }
    return {
      direct: ds,
      gateway: gs,
      added_p50_ms: r2(gs.first_byte_p50 - ds.first_byte_p50),
      added_p95_ms: r2(gs.first_byte_p95 - ds.first_byte_p95),
    };
  } finally {
    directAgent.destroy();
    gatewayAgent.destroy();
    await gateway.close();
    await fake.close();
  }
}

/** Builds the service and starts it as its own process, as `npm start` does; ready, then idle 1 s. */
async function startService(
  extraEnv: Record<string, string> = {},
): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  execFileSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
  const dir = mkdtempSync(join(tmpdir(), 'ephemera-bench-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const svc = spawn(process.execPath, [...SERVICE_NODE_FLAGS, 'dist/bundle/index.js'], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_PATH: join(dir, 'bench.db'),
      MAX_OUTPUT_BYTES: String(STREAM_BYTES * 2),
      MAX_CONCURRENT_RUNS: '16',
      LOG_LEVEL: 'warn',
      ...extraEnv,
    },
    stdio: 'ignore',
  });
  const stop = async () => {
    if (svc.exitCode === null && svc.signalCode === null) {
      svc.kill('SIGTERM');
      await new Promise((r) => svc.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 100; i++) {
      if ((await fetch(`${url}/readyz`).catch(() => undefined))?.ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 1000));
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, pid: svc.pid!, stop };
}

/**
 * 4. Streaming 100 MB, STREAM_REPS times each way, interleaved; the median of each: the raw
 * floor, the service, and a second service with its event log off (`EVENT_LOG_MAX_BYTES=1`:
 * cut at its first event, nothing encoded or written after), which tells the log's share
 * apart from the relay's.
 */
async function streamingBench(svc: { url: string; pid: number }) {
  phase(`streaming 100 MB, ${STREAM_REPS} times each way`);
  const unlogged = await startService({ EVENT_LOG_MAX_BYTES: '1' });
  try {
    const cmd = `head -c ${STREAM_BYTES} /dev/zero | tr '\\0' 'a'`;
    const ms = { raw: [] as number[], logged: [] as number[], unlogged: [] as number[] };
    for (let i = 0; i < STREAM_REPS; i++) {
      const runs = [await rawRun(cmd), await serviceRun(svc.url, cmd), await serviceRun(unlogged.url, cmd)];
      if (runs.some((r) => r.bytes !== STREAM_BYTES)) throw new Error(`streamed ${runs.map((r) => r.bytes)} bytes`);
      ms.raw.push(runs[0]!.totalMs);
      ms.logged.push(runs[1]!.totalMs);
      ms.unlogged.push(runs[2]!.totalMs);
    }
    const mbps = (xs: number[]) => r2(STREAM_BYTES / 1e6 / (pct(xs, 50) / 1000));
    const raw = mbps(ms.raw);
    return {
      raw_mb_per_s: raw,
      service_mb_per_s: mbps(ms.logged),
      ratio: r2(mbps(ms.logged) / raw),
      log_off_mb_per_s: mbps(ms.unlogged),
      log_off_ratio: r2(mbps(ms.unlogged) / raw),
      per_run_ratios: ms.raw.map((r, i) => ({ logged: r2(r / ms.logged[i]!), log_off: r2(r / ms.unlogged[i]!) })),
      service_rss_after_mb: rssMb(svc.pid),
    };
  } finally {
    await unlogged.stop();
  }
}

// ---------- replicas: runs/s from one service, then two, sharing one Postgres database and the engine ----------
// The same client load both ways (16 at a time, `echo hi`, a new session each), spread round
// robin over the replicas by the client; the same container options (one image, the services'
// defaults), so the ratio compares the services, not the runs.
const REPLICA_RUNS = Number(process.env.BENCH_REPLICA_RUNS ?? 200);
async function replicasBench() {
  const pg = await createTestDatabase();
  const started: Array<Awaited<ReturnType<typeof startService>>> = [];
  try {
    const replica = async (name: string) => {
      const svc = await startService({
        DATABASE_URL: pg.url,
        INSTANCE_ID: `bench-${name}-${process.pid}`,
        MAX_CONCURRENT_RUNS: '16',
      });
      started.push(svc);
      return svc;
    };
    const a = await replica('a');
    for (let i = 0; i < 5; i++) await serviceRun(a.url, 'echo hi');
    const one = await throughput(16, REPLICA_RUNS, () => serviceRun(a.url, 'echo hi'));
    const b = await replica('b');
    for (let i = 0; i < 5; i++) await serviceRun(b.url, 'echo hi');
    let turn = 0;
    const two = await throughput(16, REPLICA_RUNS, () => serviceRun(turn++ % 2 ? b.url : a.url, 'echo hi'));
    return {
      runs: REPLICA_RUNS,
      concurrency: 16,
      one_replica_runs_per_s: r2(one),
      two_replicas_runs_per_s: r2(two),
      ratio: r2(two / one),
    };
  } finally {
    for (const svc of started) await svc.stop();
    await pg.drop();
  }
}

// ---------- resume: a live run's events after Last-Event-ID, from a SQLite service and a Postgres one ----------
async function resumeOnBoth() {
  const pg = await createTestDatabase();
  const started: Array<Awaited<ReturnType<typeof startService>>> = [];
  try {
    const lite = await startService();
    started.push(lite);
    const sqlite = await resumeBench(lite.url, ITER);
    const onPg = await startService({ DATABASE_URL: pg.url, INSTANCE_ID: `bench-resume-${process.pid}` });
    started.push(onPg);
    const postgres = await resumeBench(onPg.url, ITER);
    return { sqlite, postgres };
  } finally {
    for (const svc of started) await svc.stop();
    await pg.drop();
  }
}

// ---------- standby: one profile warm (containers waiting), its twin cold, in one service ----------
async function standbyBench() {
  const dir = mkdtempSync(join(tmpdir(), 'ephemera-bench-standby-'));
  const shell = { image: IMAGE, command: ['sh', '-s'], workdir: '/workspace', network: 'none', timeout_ms: 60_000 };
  const profiles = join(dir, 'profiles.json');
  writeFileSync(
    profiles,
    JSON.stringify({
      default_agent: 'cold',
      profiles: { cold: shell, warm: { ...shell, standby: 2, replay: process.env.BENCH_REPLAY ?? 'history-file' } },
    }),
  );
  const svc = await startService({ PROFILES_PATH: profiles });
  const waiting = async () =>
    (
      await docker.listContainers({
        filters: { label: ['ephemera.standby=true', 'ephemera.agent=warm'], status: ['running'] },
      })
    ).map((c) => c.Id);
  const ready = async () => {
    for (let i = 0; i < 200 && (await waiting()).length < 2; i++) await new Promise((r) => setTimeout(r, 25));
  };
  const session = async (agent: string) => {
    const res = await fetch(`${svc.url}/v1/run?agent=${agent}`, { method: 'POST', body: 'echo one' });
    await res.text(); // the turn ends before the next may begin
    return res.headers.get('x-session-id')!;
  };
  try {
    await ready();
    const idle = await Promise.all(
      (await waiting()).map(
        async (id) => (await docker.getContainer(id).stats({ stream: false })).memory_stats.usage ?? 0,
      ),
    );
    const runs = {
      cold: [] as number[],
      warm: [] as number[],
      cold_followup: [] as number[],
      warm_followup: [] as number[],
    };
    for (let i = 0; i < ITER; i++) {
      runs.cold.push((await serviceRun(svc.url, 'echo hi', '/v1/run?agent=cold')).firstByteMs);
      await ready(); // measured warm only when the refill has kept up: sustained load is another row
      runs.warm.push((await serviceRun(svc.url, 'echo hi', '/v1/run?agent=warm')).firstByteMs);
      const [c, w] = [await session('cold'), await session('warm')];
      runs.cold_followup.push((await serviceRun(svc.url, 'echo hi', `/v1/sessions/${c}/messages`)).firstByteMs);
      await ready();
      runs.warm_followup.push((await serviceRun(svc.url, 'echo hi', `/v1/sessions/${w}/messages`)).firstByteMs);
      await ready();
    }
    const p = (xs: number[]) => ({ p50: r2(pct(xs, 50)), p95: r2(pct(xs, 95)) });
    const sustained = [];
    for (const [rate, seconds] of [
      [5, 60],
      [15, 10],
    ] as const)
      sustained.push({ rate_per_s: rate, seconds, ...(await atRate(svc.url, rate, seconds)) });
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    const refill =
      /ephemera_standby_refill_seconds_sum\{agent="warm"\} ([\d.e-]+)[\s\S]*?ephemera_standby_refill_seconds_count\{agent="warm"\} (\d+)/.exec(
        metrics,
      );
    return {
      first_byte_ms: {
        cold: p(runs.cold),
        warm: p(runs.warm),
        cold_followup: p(runs.cold_followup),
        warm_followup: p(runs.warm_followup),
      },
      sustained,
      refill_mean_ms: refill ? r2((Number(refill[1]) / Number(refill[2])) * 1000) : null,
      idle_container_memory_mb: idle.map((b) => r2(b / 2 ** 20)),
    };
  } finally {
    await svc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------- a Gemini turn, cold and through a standby container, against the fake model ----------
async function geminiStandbyBench() {
  const dir = mkdtempSync(join(tmpdir(), 'ephemera-bench-gemini-'));
  const base = JSON.parse(readFileSync('config/profiles.json', 'utf8')).profiles.gemini;
  const profiles = join(dir, 'profiles.json');
  writeFileSync(
    profiles,
    JSON.stringify({ default_agent: 'cold', profiles: { cold: base, warm: { ...base, standby: 1 } } }),
  );
  const key = 'bench-key';
  const fake = await startFakeGemini({ host: '0.0.0.0', apiKey: key });
  const svc = await startService({ PROFILES_PATH: profiles, GEMINI_API_KEY: key, GEMINI_UPSTREAM_URL: fake.url });
  // A refilled container loads the CLI (~1.5 s of CPU) while it waits: on two cores a turn
  // measured meanwhile would pay for it. Steady state is a container that has finished loading.
  const ready = async () => {
    for (let i = 0; i < 400; i++) {
      if (
        (
          await docker.listContainers({
            filters: { label: ['ephemera.standby=true', 'ephemera.agent=warm'], status: ['running'] },
          })
        ).length >= 1
      )
        break;
      await new Promise((r) => setTimeout(r, 25));
    }
    await new Promise((r) => setTimeout(r, 2500));
  };
  const turn = async (path: string, prompt: string) => {
    const t0 = performance.now();
    const res = await fetch(`${svc.url}${path}`, { method: 'POST', body: prompt });
    const text = await res.text();
    if (!text.startsWith('Hello from the fake model'))
      throw new Error(`gemini turn failed: ${res.status} ${text.slice(0, 300)}`);
    return { ms: performance.now() - t0, session: res.headers.get('x-session-id')! };
  };
  const n = Math.min(ITER, 10);
  const out: Record<string, number[]> = {};
  const add = (k: string, ms: number) => {
    out[k] ??= [];
    out[k].push(ms);
  };
  try {
    for (let i = 0; i < n; i++) {
      for (const speed of ['', 'FAKE_FAST ']) {
        for (const agent of ['cold', 'warm']) {
          await ready(); // the same quiet machine for both
          const first = await turn(`/v1/run?agent=${agent}`, `${speed}first question`);
          add(`${agent}${speed ? '_fast' : ''}_first`, first.ms);
          await ready();
          add(
            `${agent}${speed ? '_fast' : ''}_followup`,
            (await turn(`/v1/sessions/${first.session}/messages`, `${speed}second question`)).ms,
          );
        }
      }
    }
    return Object.fromEntries(
      Object.entries(out).map(([k, xs]) => [k, { p50: r2(pct(xs, 50)), p95: r2(pct(xs, 95)) }]),
    );
  } finally {
    await svc.stop();
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------- the workspace: restoring a 1 MiB / 1,000-file one, and taking it back, cold and warm ----------
async function workspaceBench() {
  const dir = mkdtempSync(join(tmpdir(), 'ephemera-bench-workspace-'));
  const shell = { image: IMAGE, command: ['sh', '-s'], workdir: '/workspace', network: 'none', timeout_ms: 60_000 };
  const profiles = join(dir, 'profiles.json');
  // The same profile keeping no workspace is the baseline: what the shim itself costs shows too.
  writeFileSync(
    profiles,
    JSON.stringify({
      default_agent: 'cold',
      profiles: { cold: shell, warm: { ...shell, standby: 2 }, plain: { ...shell, standby: 2, keep_workspace: false } },
    }),
  );
  const svc = await startService({ PROFILES_PATH: profiles });
  const tar = await workspaceTar(1000, 1024);
  const session = async (agent: string, files: boolean) => {
    const res = await fetch(`${svc.url}/v1/run?agent=${agent}`, { method: 'POST', body: 'echo one' });
    await res.text();
    const id = res.headers.get('x-session-id')!;
    if (files) {
      const up = await fetch(`${svc.url}/v1/sessions/${id}/workspace`, { method: 'PUT', body: tar });
      if (up.status !== 200) throw new Error(`workspace upload: ${up.status} ${await up.text()}`);
    }
    return id;
  };
  const waiting = async (agent: string) =>
    (
      await docker.listContainers({
        filters: { label: ['ephemera.standby=true', `ephemera.agent=${agent}`], status: ['running'] },
      })
    ).length;
  const ready = async () => {
    for (let i = 0; i < 200 && ((await waiting('warm')) < 2 || (await waiting('plain')) < 2); i++)
      await new Promise((r) => setTimeout(r, 25));
  };
  try {
    const ids = {
      plain: await session('plain', false),
      empty: await session('warm', false),
      full: await session('warm', true),
      coldEmpty: await session('cold', false),
      coldFull: await session('cold', true),
    };
    const runs: Record<keyof typeof ids, Array<{ firstByteMs: number; totalMs: number }>> = {
      plain: [],
      empty: [],
      full: [],
      coldEmpty: [],
      coldFull: [],
    };
    for (let i = 0; i < ITER; i++) {
      for (const k of Object.keys(ids) as Array<keyof typeof ids>) {
        await ready();
        runs[k].push(await serviceRun(svc.url, 'echo hi', `/v1/sessions/${ids[k]}/messages`));
      }
    }
    const p = (xs: Array<{ firstByteMs: number; totalMs: number }>) => ({
      first_byte_p50: r2(
        pct(
          xs.map((x) => x.firstByteMs),
          50,
        ),
      ),
      first_byte_p95: r2(
        pct(
          xs.map((x) => x.firstByteMs),
          95,
        ),
      ),
      total_p50: r2(
        pct(
          xs.map((x) => x.totalMs),
          50,
        ),
      ),
    });
    const out = Object.fromEntries(Object.entries(runs).map(([k, xs]) => [k, p(xs)])) as Record<
      keyof typeof ids,
      ReturnType<typeof p>
    >;
    return {
      tar_bytes: tar.length,
      files: 1000,
      ...out,
      added_first_byte_warm_p50_ms: r2(out.full.first_byte_p50 - out.empty.first_byte_p50),
    };
  } finally {
    await svc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A tar of `n` files of `size` bytes each, in 10 folders. */
async function workspaceTar(n: number, size: number): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  const ended = new Promise<void>((r) => p.on('end', () => r()));
  for (let i = 0; i < n; i++)
    p.entry({ name: `d${i % 10}/f${i}.txt`, size, mode: 0o644 }, Buffer.alloc(size, 97 + (i % 26)));
  p.finalize();
  await ended;
  return Buffer.concat(chunks);
}

/** `echo hi` on the warm profile at a steady rate: how many found a container waiting, and first byte. */
async function atRate(url: string, perSecond: number, seconds: number) {
  const hits = async () =>
    Number(
      /ephemera_standby_hits_total\{agent="warm"\} (\d+)/.exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? 0,
    );
  const before = await hits();
  const runs: Array<Promise<number>> = [];
  const t0 = performance.now();
  for (let i = 0; i < perSecond * seconds; i++) {
    const due = t0 + (i * 1000) / perSecond;
    await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    runs.push(serviceRun(url, 'echo hi', '/v1/run?agent=warm').then((r) => r.firstByteMs));
  }
  const firstBytes = await Promise.all(runs);
  const warm = (await hits()) - before;
  return {
    runs: firstBytes.length,
    served_warm_pct: r2((100 * warm) / firstBytes.length),
    first_byte_p50_ms: r2(pct(firstBytes, 50)),
    first_byte_p95_ms: r2(pct(firstBytes, 95)),
  };
}

const phase = (name: string) => process.stderr.write(`[bench] ${name}\n`);

async function main() {
  // 0. The model gateway, first: nothing else of the bench is running yet.
  let gateway: Awaited<ReturnType<typeof gatewayBench>> | undefined;
  if (wants('gateway')) {
    phase(`gateway: ${ITER} model calls each way, first byte`);
    gateway = await gatewayBench();
  }

  let claudeStandby: Awaited<ReturnType<typeof claudeStandbyBench>> | undefined;
  if (wants('claude-standby')) {
    phase('claude-standby: a Claude Code turn and its follow-up, cold and warm, against a fake answering at once');
    claudeStandby = await claudeStandbyBench({ docker, iterations: Math.min(ITER, 10), startService });
  }
  let podman: Awaited<ReturnType<typeof podmanBench>> | undefined;
  if (wants('podman')) {
    phase(`podman: ${ITER} runs each of cold and warm on Docker and on Podman, then 100 MB three times each`);
    podman = await podmanBench({ image: IMAGE, iterations: ITER, startService, serviceRun });
  }
  let gvisor: Awaited<ReturnType<typeof gvisorBench>> | undefined;
  if (wants('gvisor')) {
    phase(`gvisor: ${ITER} runs each of cold and warm under runc and runsc, then 100 MB three times each`);
    gvisor = await gvisorBench({ docker, image: IMAGE, iterations: ITER, startService, serviceRun });
  }

  let standby: Awaited<ReturnType<typeof standbyBench>> | undefined;
  if (wants('standby')) {
    phase(`standby: ${ITER} runs each of cold and warm, new session and follow-up`);
    standby = await standbyBench();
  }

  let geminiStandby: Awaited<ReturnType<typeof geminiStandbyBench>> | undefined;
  if (wants('gemini-standby')) {
    phase(
      'gemini: turns cold and warm through the service, against the fake model (its 3 chunks 150 ms apart, and FAKE_FAST)',
    );
    geminiStandby = await geminiStandbyBench();
  }

  let workspace: Awaited<ReturnType<typeof workspaceBench>> | undefined;
  if (wants('workspace')) {
    phase(
      `workspace: ${ITER} follow-up turns each, no workspace kept / kept empty / kept 1 MiB in 1,000 files, warm and cold`,
    );
    workspace = await workspaceBench();
  }

  let replicas: Awaited<ReturnType<typeof replicasBench>> | undefined;
  if (wants('replicas')) {
    phase(
      `replicas: ${REPLICA_RUNS} runs, 16 at a time, through one service and then two sharing one Postgres database`,
    );
    replicas = await replicasBench();
  }

  let postgresHistory: Awaited<ReturnType<typeof postgresHistoryBench>> | undefined;
  if (wants('postgres-history')) {
    phase('postgres history: 100k sessions seeded, then the history endpoints in-process');
    postgresHistory = await postgresHistoryBench((line) => phase(line));
  }

  let replayBuild: Awaited<ReturnType<typeof replayBuildBench>> | undefined;
  if (wants('replay-build')) {
    phase(
      `replay build: a 50-turn session with 200 tool calls, ${ITER} builds with and without the tools, SQLite and Postgres`,
    );
    replayBuild = await replayBuildBench(ITER);
  }

  let resume:
    | { sqlite: Awaited<ReturnType<typeof resumeBench>>; postgres: Awaited<ReturnType<typeof resumeBench>> }
    | undefined;
  if (wants('resume')) {
    phase(`resume: ${ITER} GET …/events with Last-Event-ID on a live run, first event, SQLite and Postgres services`);
    resume = await resumeOnBoth();
  }

  const svc = SERVICE_PARTS.some(wants)
    ? await startService({
        // One cold container against one: the `standby` part measures the warm path.
        PROFILES_PATH: shippedWithoutStandby(mkdtempSync(join(tmpdir(), 'ephemera-bench-cold-'))),
      })
    : undefined;
  try {
    const rssIdle = svc ? rssMb(svc.pid) : undefined;
    if (svc) {
      phase(`service up, idle RSS ${rssIdle} MB; warming up`);
      // Warm both paths.
      for (let i = 0; i < 3; i++) {
        await rawRun('echo hi');
        await serviceRun(svc.url, 'echo hi');
      }
    }

    type Latency = { first_byte_p50: number; first_byte_p95: number; total_p50: number; total_p95: number };
    let latency: { raw: Latency; service: Latency } | undefined;
    if (svc && wants('latency')) {
      phase(`latency: ${ITER} runs each way`);
      // 1. First byte and total, one at a time, alternating so drift hits both alike.
      const raw: Array<{ firstByteMs: number; totalMs: number }> = [];
      const service: Array<{ firstByteMs: number; totalMs: number }> = [];
      for (let i = 0; i < ITER; i++) {
        raw.push(await rawRun('echo hi'));
        service.push(await serviceRun(svc.url, 'echo hi'));
      }
      const summary = (xs: typeof raw): Latency => ({
        first_byte_p50: pct(
          xs.map((x) => x.firstByteMs),
          50,
        ),
        first_byte_p95: pct(
          xs.map((x) => x.firstByteMs),
          95,
        ),
        total_p50: pct(
          xs.map((x) => x.totalMs),
          50,
        ),
        total_p95: pct(
          xs.map((x) => x.totalMs),
          95,
        ),
      });
      latency = { raw: summary(raw), service: summary(service) };
    }

    // 2. Throughput at concurrency 1, 4, 8, 16.
    const tput: Array<{ concurrency: number; raw_per_s: number; service_per_s: number; ratio: number }> = [];
    if (svc && wants('throughput')) {
      phase('throughput at concurrency 1, 4, 8, 16');
      for (const c of [1, 4, 8, 16]) {
        const n = Math.max(16, c * 3);
        const rawRate = await throughput(c, n, () => rawRun('echo hi'));
        const svcRate = await throughput(c, n, () => serviceRun(svc.url, 'echo hi'));
        tput.push({ concurrency: c, raw_per_s: r2(rawRate), service_per_s: r2(svcRate), ratio: r2(svcRate / rawRate) });
      }
    }

    // 3. RSS with 16 runs in flight.
    let rss16: number | undefined;
    if (svc && wants('rss')) {
      phase('RSS with 16 runs in flight');
      const inflight = Array.from({ length: 16 }, () => serviceRun(svc.url, 'echo go; sleep 3'));
      await new Promise((r) => setTimeout(r, 2000));
      rss16 = rssMb(svc.pid);
      await Promise.all(inflight);
    }

    // 4. Streaming 100 MB: the floor, the service, the service with its log off.
    const streaming = svc && wants('streaming') ? await streamingBench(svc) : undefined;

    const result = {
      date: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        memory_gb: Math.round(totalmem() / 2 ** 30),
        node: process.version,
        engine: (await docker.version().catch(() => undefined))?.Version ?? null,
      },
      only: ONLY ?? null,
      iterations: ITER,
      latency_ms: latency ?? null,
      first_byte_ratio: latency ? r2(latency.service.first_byte_p50 / latency.raw.first_byte_p50) : null,
      total_ratio: latency ? r2(latency.service.total_p50 / latency.raw.total_p50) : null,
      throughput: tput,
      streaming_100mb: streaming ?? null,
      rss_mb: svc ? { idle: rssIdle, in_flight_16: rss16 ?? null } : null,
      model_first_byte_ms: gateway ?? null,
      standby: standby ?? null,
      gvisor: gvisor ?? null,
      podman: podman ?? null,
      claude_standby: claudeStandby ?? null,
      gemini_turn_ms: geminiStandby ?? null,
      workspace_ms: workspace ?? null,
      replicas: replicas ?? null,
      postgres_history_ms: postgresHistory ?? null,
      replay_build_ms: replayBuild ?? null,
      resume_ms: resume ?? null,
      targets: {
        replay_build_with_tools_p50_ms: '<= 20 (50 turns, 200 tool calls)',
        resume_first_event_p50_ms: '<= 5 on SQLite, <= 15 on Postgres',
        first_byte_ratio: '<= 1.10',
        throughput_ratio_c8: '>= 0.9',
        streaming_ratio: '>= 0.95, with the event log written (its default bound, 16 MiB)',
        rss_idle_mb: '<= 80',
        gateway_added_p50_ms: `<= ${GATEWAY_TARGET_MS}`,
        standby_warm_first_byte_ms: 'p50 <= 5, p95 <= 15; follow-up p50 <= 15',
        gemini_warm_turn_ms: 'fake answering at once (*_fast_*): first p50 <= 500, follow-up p50 <= 600',
        workspace_added_first_byte_warm_p50_ms: '<= 20 (1 MiB, 1,000 files)',
        postgres_history_p50_ms: '<= 10 at 100k sessions',
        replicas: 'reported: two replicas vs one, same engine, same run',
      },
    };
    mkdirSync('bench-results', { recursive: true });
    const out = ONLY ? `bench-results/service-${ONLY}.json` : 'bench-results/service.json';
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);

    const row = (...cols: Array<string | number>) => console.log(cols.map((c) => String(c).padEnd(22)).join(''));
    if (svc) row('measure', 'raw engine', 'service', 'ratio (target)');
    if (latency) {
      const { raw, service } = latency;
      row(
        'first byte p50 ms',
        r2(raw.first_byte_p50),
        r2(service.first_byte_p50),
        `${result.first_byte_ratio} (<= 1.10)`,
      );
      row(
        'first byte p95 ms',
        r2(raw.first_byte_p95),
        r2(service.first_byte_p95),
        r2(service.first_byte_p95 / raw.first_byte_p95),
      );
      row('total p50 ms', r2(raw.total_p50), r2(service.total_p50), result.total_ratio ?? '');
      row('total p95 ms', r2(raw.total_p95), r2(service.total_p95), r2(service.total_p95 / raw.total_p95));
    }
    for (const t of tput)
      row(
        `runs/s at c=${t.concurrency}`,
        t.raw_per_s,
        t.service_per_s,
        `${t.ratio}${t.concurrency === 8 ? ' (>= 0.9)' : ''}`,
      );
    if (streaming) {
      row('100 MB stream MB/s', streaming.raw_mb_per_s, streaming.service_mb_per_s, `${streaming.ratio} (>= 0.95)`);
      row('  the same, log off', streaming.raw_mb_per_s, streaming.log_off_mb_per_s, `${streaming.log_off_ratio}`);
    }
    if (svc)
      row('service RSS MB', '', `idle ${rssIdle}${rss16 === undefined ? '' : `, 16 runs ${rss16}`}`, '(idle <= 80)');
    if (streaming) row('service RSS MB', '', `after streaming ${streaming.service_rss_after_mb}`, '');
    if (gateway) {
      const { direct, gateway: through } = gateway;
      const plus = (ms: number) => `${ms >= 0 ? '+' : ''}${ms} ms`;
      if (svc) console.log('');
      row('model call', 'fake model direct', 'through gateway', 'added (target)');
      row(
        'first byte p50 ms',
        direct.first_byte_p50,
        through.first_byte_p50,
        `${plus(gateway.added_p50_ms)} (<= ${GATEWAY_TARGET_MS})`,
      );
      row('first byte p95 ms', direct.first_byte_p95, through.first_byte_p95, plus(gateway.added_p95_ms));
    }
    if (gvisor) printGvisor(gvisor, row);
    if (podman) printPodman(podman, row);
    if (claudeStandby) printClaudeStandby(claudeStandby, row);
    if (standby) {
      const { cold, warm, cold_followup, warm_followup } = standby.first_byte_ms;
      console.log('');
      row('echo hi, first byte', 'cold (own container)', 'warm (standby)', 'target (warm)');
      row('new session p50 ms', cold.p50, warm.p50, '<= 5');
      row('new session p95 ms', cold.p95, warm.p95, '<= 15');
      row('follow-up p50 ms', cold_followup.p50, warm_followup.p50, '<= 15');
      row('follow-up p95 ms', cold_followup.p95, warm_followup.p95, '');
      row('refill mean ms', '', standby.refill_mean_ms ?? '', '');
      for (const r of standby.sustained) {
        row(
          `${r.rate_per_s}/s for ${r.seconds} s`,
          `${r.runs} runs`,
          `${r.served_warm_pct}% warm`,
          r.rate_per_s === 5 ? '>= 95%' : '(above refill)',
        );
        row(
          '  first byte p50/p95',
          '',
          `${r.first_byte_p50_ms} / ${r.first_byte_p95_ms}`,
          r.rate_per_s === 5 ? 'p50 <= 5' : '',
        );
      }
      row('idle standby MB each', '', standby.idle_container_memory_mb.join(', '), '');
    }
    if (geminiStandby) {
      const g = geminiStandby;
      console.log('');
      row('gemini turn, total', 'cold', 'warm (standby)', 'target (warm)');
      // The targets' "today 1.7 s" was this turn against a fake that answers at once; the
      // chunked fake sleeps 300 ms of its own in every turn.
      row('first turn p50 ms', g.cold_fast_first?.p50 ?? '', g.warm_fast_first?.p50 ?? '', '<= 500');
      row('follow-up p50 ms', g.cold_fast_followup?.p50 ?? '', g.warm_fast_followup?.p50 ?? '', '<= 600');
      row('+300 ms fake: first', g.cold_first?.p50 ?? '', g.warm_first?.p50 ?? '', '(chunks 150 ms apart)');
      row('+300 ms fake: follow-up', g.cold_followup?.p50 ?? '', g.warm_followup?.p50 ?? '', '');
    }
    if (workspace) {
      const w = workspace;
      console.log('');
      row('echo hi follow-up', 'first byte p50/p95', 'total p50', 'target');
      row('warm, none kept', `${w.plain.first_byte_p50} / ${w.plain.first_byte_p95}`, w.plain.total_p50, '');
      row('warm, kept, empty', `${w.empty.first_byte_p50} / ${w.empty.first_byte_p95}`, w.empty.total_p50, '');
      row(
        'warm, kept, 1 MiB/1000',
        `${w.full.first_byte_p50} / ${w.full.first_byte_p95}`,
        w.full.total_p50,
        `+${w.added_first_byte_warm_p50_ms} (<= 20)`,
      );
      row(
        'cold, kept, empty',
        `${w.coldEmpty.first_byte_p50} / ${w.coldEmpty.first_byte_p95}`,
        w.coldEmpty.total_p50,
        '',
      );
      row(
        'cold, kept, 1 MiB/1000',
        `${w.coldFull.first_byte_p50} / ${w.coldFull.first_byte_p95}`,
        w.coldFull.total_p50,
        '',
      );
    }
    if (replayBuild) {
      console.log('');
      row('replay build, 50 turns', 'text only p50 ms', 'with 200 tool calls', 'p50 / p95 (target)');
      for (const [db, f] of Object.entries(replayBuild))
        row(db, f.text_only_p50_ms, f.with_tools_p50_ms, `${f.with_tools_p50_ms} / ${f.with_tools_p95_ms} (<= 20)`);
    }
    if (resume) {
      console.log('');
      row('live run, first event', 'GET run p50 ms', 'resume p50 ms', 'p95 (target p50)');
      row(
        'sqlite',
        resume.sqlite.get_run_p50_ms,
        resume.sqlite.resume_first_event_p50_ms,
        `${resume.sqlite.resume_first_event_p95_ms} (<= 5)`,
      );
      row(
        'postgres',
        resume.postgres.get_run_p50_ms,
        resume.postgres.resume_first_event_p50_ms,
        `${resume.postgres.resume_first_event_p95_ms} (<= 15)`,
      );
    }
    console.log(`\nwritten: ${out}`);
  } finally {
    if (svc) {
      await svc.stop();
      const left = await docker.listContainers({ all: true, filters: { label: ['ephemera.bench=raw'] } });
      await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true })));
    }
  }
}

await main();
