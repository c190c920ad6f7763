// npm run bench: the service against the raw Engine API floor, measured in the same run.
// Loopback only, bounded (a few minutes), stops by itself. Prints a table and writes
// bench-results/service.json. Figures are ratios against the raw floor: machines are noisy.
import { execFileSync, spawn } from 'node:child_process';
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
    HostConfig: { NetworkMode: 'none' },
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

async function serviceRun(url: string, prompt: string): Promise<{ firstByteMs: number; totalMs: number; bytes: number }> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/run`, { method: 'POST', body: prompt });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  let first = 0;
  let bytes = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    if (first === 0) first = performance.now() - t0;
    bytes += chunk.length;
  }
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
  const svc = spawn(process.execPath, ['dist/index.js'], {
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

    phase(`latency: ${ITER} runs each way`);
    // 1. First byte and total, one at a time, alternating so drift hits both alike.
    const raw: Array<{ firstByteMs: number; totalMs: number }> = [];
    const service: Array<{ firstByteMs: number; totalMs: number }> = [];
    for (let i = 0; i < ITER; i++) {
      raw.push(await rawRun('echo hi'));
      service.push(await serviceRun(url, 'echo hi'));
    }
    const latency = {
      raw: { first_byte_p50: pct(raw.map((x) => x.firstByteMs), 50), first_byte_p95: pct(raw.map((x) => x.firstByteMs), 95), total_p50: pct(raw.map((x) => x.totalMs), 50), total_p95: pct(raw.map((x) => x.totalMs), 95) },
      service: { first_byte_p50: pct(service.map((x) => x.firstByteMs), 50), first_byte_p95: pct(service.map((x) => x.firstByteMs), 95), total_p50: pct(service.map((x) => x.totalMs), 50), total_p95: pct(service.map((x) => x.totalMs), 95) },
    };

    phase('throughput at concurrency 1, 4, 8, 16');
    // 2. Throughput at concurrency 1, 4, 8, 16.
    const tput: Array<{ concurrency: number; raw_per_s: number; service_per_s: number; ratio: number }> = [];
    for (const c of [1, 4, 8, 16]) {
      const n = Math.max(16, c * 3);
      const rawRate = await throughput(c, n, () => rawRun('echo hi'));
      const svcRate = await throughput(c, n, () => serviceRun(url, 'echo hi'));
      tput.push({ concurrency: c, raw_per_s: r2(rawRate), service_per_s: r2(svcRate), ratio: r2(svcRate / rawRate) });
    }

    phase('RSS with 16 runs in flight');
    // 3. RSS with 16 runs in flight.
    const inflight = Array.from({ length: 16 }, () => serviceRun(url, 'echo go; sleep 3'));
    await new Promise((r) => setTimeout(r, 2000));
    const rss16 = rssMb(svc.pid!);
    await Promise.all(inflight);

    phase('streaming 100 MB');
    // 4. Streaming 100 MB.
    const cmd = `head -c ${STREAM_BYTES} /dev/zero | tr '\\0' 'a'`;
    const rawStream = await rawRun(cmd);
    const svcStream = await serviceRun(url, cmd);
    if (svcStream.bytes !== STREAM_BYTES || rawStream.bytes !== STREAM_BYTES) throw new Error(`streamed ${svcStream.bytes} / ${rawStream.bytes} bytes`);
    const mbps = (x: { totalMs: number }) => r2(STREAM_BYTES / 1e6 / (x.totalMs / 1000));
    const streaming = { raw_mb_per_s: mbps(rawStream), service_mb_per_s: mbps(svcStream), ratio: r2(mbps(svcStream) / mbps(rawStream)) };

    const result = {
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, memory_gb: Math.round(totalmem() / 2 ** 30), node: process.version, engine: (await docker.version()).Version },
      iterations: ITER,
      latency_ms: latency,
      first_byte_ratio: r2(latency.service.first_byte_p50 / latency.raw.first_byte_p50),
      total_ratio: r2(latency.service.total_p50 / latency.raw.total_p50),
      throughput: tput,
      streaming_100mb: streaming,
      rss_mb: { idle: rssIdle, in_flight_16: rss16 },
      targets: { first_byte_ratio: '<= 1.10', throughput_ratio_c8: '>= 0.9', streaming_ratio: '>= 0.8', rss_idle_mb: '<= 80' },
    };
    mkdirSync('bench-results', { recursive: true });
    writeFileSync('bench-results/service.json', `${JSON.stringify(result, null, 2)}\n`);

    const row = (...cols: Array<string | number>) => console.log(cols.map((c) => String(c).padEnd(22)).join(''));
    row('measure', 'raw engine', 'service', 'ratio (target)');
    row('first byte p50 ms', r2(latency.raw.first_byte_p50), r2(latency.service.first_byte_p50), `${result.first_byte_ratio} (<= 1.10)`);
    row('first byte p95 ms', r2(latency.raw.first_byte_p95), r2(latency.service.first_byte_p95), r2(latency.service.first_byte_p95 / latency.raw.first_byte_p95));
    row('total p50 ms', r2(latency.raw.total_p50), r2(latency.service.total_p50), result.total_ratio);
    row('total p95 ms', r2(latency.raw.total_p95), r2(latency.service.total_p95), r2(latency.service.total_p95 / latency.raw.total_p95));
    for (const t of tput) row(`runs/s at c=${t.concurrency}`, t.raw_per_s, t.service_per_s, `${t.ratio}${t.concurrency === 8 ? ' (>= 0.9)' : ''}`);
    row('100 MB stream MB/s', streaming.raw_mb_per_s, streaming.service_mb_per_s, `${streaming.ratio} (>= 0.8)`);
    row('service RSS MB', '', `idle ${rssIdle}, 16 runs ${rss16}`, `(idle <= 80)`);
    console.log('\nwritten: bench-results/service.json');
  } finally {
    svc.kill('SIGTERM');
    await new Promise((r) => svc.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
    const left = await docker.listContainers({ all: true, filters: { label: ['ephemera.bench=raw'] } });
    await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true })));
  }
}

await main();
