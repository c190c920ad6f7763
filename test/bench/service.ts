// npm run bench: the service against the raw Engine API floor, measured in the same run.
// Loopback only, bounded (a few minutes), stops by itself. Prints a table and writes
// bench-results/service.json. Figures are ratios against the raw floor: machines are noisy.
import { execFileSync, spawn } from 'node:child_process';
import http from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import Docker from 'dockerode';
import { FrameDecoder } from '../../src/runner/frames.js';
import { freePort } from '../helpers/service-process.js';

const IMAGE = 'ephemera/shell:0.1';
const ITER = Number(process.env.BENCH_ITERATIONS ?? 30);
const STREAM_BYTES = 100_000_000;
const STREAM_REPS = 3;
// `npm run bench -- --only streaming` (or latency, throughput, rss): one part, for profiling work.
const ONLY = (() => {
  const i = process.argv.indexOf('--only');
  return i >= 0 ? process.argv[i + 1] : undefined;
})();
const wants = (part: 'latency' | 'throughput' | 'rss' | 'streaming') => ONLY === undefined || ONLY === part;
const docker = new Docker();

// ---------- the raw floor: the Engine API, no service ----------
async function rawRun(cmd: string, onData?: (n: number) => void): Promise<{ firstByteMs: number; totalMs: number; bytes: number }> {
  const t0 = performance.now();
  const c = await docker.createContainer({
    Image: IMAGE,
    Cmd: ['sh', '-c', cmd],
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    OpenStdin: true,
    StdinOnce: true,
    Tty: false,
    // No engine-side log, as the service's containers: a json-file floor would pay for a disk
    // copy of the output that the service no longer makes, and the ratio would flatter it.
    HostConfig: { NetworkMode: 'none', LogConfig: { Type: 'none', Config: {} } },
    Labels: { 'ephemera.bench': 'raw' },
  });
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
  await c.remove({ force: true });
  T('removed\n');
  return { firstByteMs: first, totalMs: performance.now() - t0, bytes };
}

// ---------- the service, as its own process (built dist) ----------
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

// node:http, not fetch: the raw floor reads a Node socket too, and undici's web streams
// would spend CPU in this process that the two cores here share with the service.
const agent = new http.Agent({ keepAlive: true });
async function serviceRun(url: string, prompt: string): Promise<{ firstByteMs: number; totalMs: number; bytes: number }> {
  const t0 = performance.now();
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.request(`${url}/v1/run`, { method: 'POST', agent }, resolve);
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

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
};
const r2 = (x: number) => Math.round(x * 100) / 100;

async function throughput(concurrency: number, total: number, one: () => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => { while (next++ < total) await one(); }));
  return total / ((performance.now() - t0) / 1000);
}

async function main() {
  execFileSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
  const dir = mkdtempSync(join(tmpdir(), 'ephemera-bench-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const svc = spawn(process.execPath, ['dist/bundle/index.js'], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_PATH: join(dir, 'bench.db'),
      MAX_OUTPUT_BYTES: String(STREAM_BYTES * 2),
      MAX_CONCURRENT_RUNS: '16',
      LOG_LEVEL: 'warn',
    },
    stdio: 'ignore',
  });
  try {
    for (let i = 0; i < 100; i++) {
      if ((await fetch(`${url}/readyz`).catch(() => undefined))?.ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 1000));
    const rssIdle = rssMb(svc.pid!);

    const phase = (name: string) => process.stderr.write(`[bench] ${name}\n`);
    phase(`service up, idle RSS ${rssIdle} MB; warming up`);
    // Warm both paths.
    for (let i = 0; i < 3; i++) {
      await rawRun('echo hi');
      await serviceRun(url, 'echo hi');
    }

    type Latency = { first_byte_p50: number; first_byte_p95: number; total_p50: number; total_p95: number };
    let latency: { raw: Latency; service: Latency } | undefined;
    if (wants('latency')) {
      phase(`latency: ${ITER} runs each way`);
      // 1. First byte and total, one at a time, alternating so drift hits both alike.
      const raw: Array<{ firstByteMs: number; totalMs: number }> = [];
      const service: Array<{ firstByteMs: number; totalMs: number }> = [];
      for (let i = 0; i < ITER; i++) {
        raw.push(await rawRun('echo hi'));
        service.push(await serviceRun(url, 'echo hi'));
      }
      const summary = (xs: typeof raw): Latency => ({
        first_byte_p50: pct(xs.map((x) => x.firstByteMs), 50),
        first_byte_p95: pct(xs.map((x) => x.firstByteMs), 95),
        total_p50: pct(xs.map((x) => x.totalMs), 50),
        total_p95: pct(xs.map((x) => x.totalMs), 95),
      });
      latency = { raw: summary(raw), service: summary(service) };
    }

    // 2. Throughput at concurrency 1, 4, 8, 16.
    const tput: Array<{ concurrency: number; raw_per_s: number; service_per_s: number; ratio: number }> = [];
    if (wants('throughput')) {
      phase('throughput at concurrency 1, 4, 8, 16');
      for (const c of [1, 4, 8, 16]) {
        const n = Math.max(16, c * 3);
        const rawRate = await throughput(c, n, () => rawRun('echo hi'));
        const svcRate = await throughput(c, n, () => serviceRun(url, 'echo hi'));
        tput.push({ concurrency: c, raw_per_s: r2(rawRate), service_per_s: r2(svcRate), ratio: r2(svcRate / rawRate) });
      }
    }

    // 3. RSS with 16 runs in flight.
    let rss16: number | undefined;
    if (wants('rss')) {
      phase('RSS with 16 runs in flight');
      const inflight = Array.from({ length: 16 }, () => serviceRun(url, 'echo go; sleep 3'));
      await new Promise((r) => setTimeout(r, 2000));
      rss16 = rssMb(svc.pid!);
      await Promise.all(inflight);
    }

    // 4. Streaming 100 MB, STREAM_REPS times each way, alternating; the median of each.
    let streaming: { raw_mb_per_s: number; service_mb_per_s: number; ratio: number; service_rss_after_mb: number } | undefined;
    if (wants('streaming')) {
      phase(`streaming 100 MB, ${STREAM_REPS} times each way`);
      const cmd = `head -c ${STREAM_BYTES} /dev/zero | tr '\\0' 'a'`;
      const rawMs: number[] = [];
      const svcMs: number[] = [];
      for (let i = 0; i < STREAM_REPS; i++) {
        const r = await rawRun(cmd);
        const s = await serviceRun(url, cmd);
        if (s.bytes !== STREAM_BYTES || r.bytes !== STREAM_BYTES) throw new Error(`streamed ${s.bytes} / ${r.bytes} bytes`);
        rawMs.push(r.totalMs);
        svcMs.push(s.totalMs);
      }
      const mbps = (ms: number) => r2(STREAM_BYTES / 1e6 / (ms / 1000));
      const raw = mbps(pct(rawMs, 50));
      const service = mbps(pct(svcMs, 50));
      streaming = { raw_mb_per_s: raw, service_mb_per_s: service, ratio: r2(service / raw), service_rss_after_mb: rssMb(svc.pid!) };
    }

    const result = {
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, memory_gb: Math.round(totalmem() / 2 ** 30), node: process.version, engine: (await docker.version()).Version },
      only: ONLY ?? null,
      iterations: ITER,
      latency_ms: latency ?? null,
      first_byte_ratio: latency ? r2(latency.service.first_byte_p50 / latency.raw.first_byte_p50) : null,
      total_ratio: latency ? r2(latency.service.total_p50 / latency.raw.total_p50) : null,
      throughput: tput,
      streaming_100mb: streaming ?? null,
      rss_mb: { idle: rssIdle, in_flight_16: rss16 ?? null },
      targets: { first_byte_ratio: '<= 1.10', throughput_ratio_c8: '>= 0.9', streaming_ratio: '>= 0.8', rss_idle_mb: '<= 80' },
    };
    mkdirSync('bench-results', { recursive: true });
    const out = ONLY ? `bench-results/service-${ONLY}.json` : 'bench-results/service.json';
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);

    const row = (...cols: Array<string | number>) => console.log(cols.map((c) => String(c).padEnd(22)).join(''));
    row('measure', 'raw engine', 'service', 'ratio (target)');
    if (latency) {
      const { raw, service } = latency;
      row('first byte p50 ms', r2(raw.first_byte_p50), r2(service.first_byte_p50), `${result.first_byte_ratio} (<= 1.10)`);
      row('first byte p95 ms', r2(raw.first_byte_p95), r2(service.first_byte_p95), r2(service.first_byte_p95 / raw.first_byte_p95));
      row('total p50 ms', r2(raw.total_p50), r2(service.total_p50), result.total_ratio ?? '');
      row('total p95 ms', r2(raw.total_p95), r2(service.total_p95), r2(service.total_p95 / raw.total_p95));
    }
    for (const t of tput) row(`runs/s at c=${t.concurrency}`, t.raw_per_s, t.service_per_s, `${t.ratio}${t.concurrency === 8 ? ' (>= 0.9)' : ''}`);
    if (streaming) row('100 MB stream MB/s', streaming.raw_mb_per_s, streaming.service_mb_per_s, `${streaming.ratio} (>= 0.8)`);
    row('service RSS MB', '', `idle ${rssIdle}${rss16 === undefined ? '' : `, 16 runs ${rss16}`}`, '(idle <= 80)');
    if (streaming) row('service RSS MB', '', `after streaming ${streaming.service_rss_after_mb}`, '');
    console.log(`\nwritten: ${out}`);
  } finally {
    svc.kill('SIGTERM');
    await new Promise((r) => svc.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
    const left = await docker.listContainers({ all: true, filters: { label: ['ephemera.bench=raw'] } });
    await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true })));
  }
}

await main();
