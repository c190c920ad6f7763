// `npm run bench -- --only gvisor`: the same profile under runc and under gVisor (runsc), in one
// service, requests interleaved so that drift hits both alike: cold and warm first byte, a 100 MB
// reply, and what an idle standby container holds. The runc rows are the baseline.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { pct, r2 } from './figures.js';
import { idleMemoryMb, standbyHits, waitingContainers } from './standby-probe.js';
import type { ServiceRun, StartService } from './service-parts.js';

export interface GvisorBenchParts {
  docker: Docker;
  image: string;
  iterations: number;
  startService: StartService;
  serviceRun: ServiceRun;
}

const STREAM_BYTES = 100_000_000;
const RUNTIMES = ['runc', 'runsc'] as const;

export async function gvisorBench(parts: GvisorBenchParts) {
  const dir = mkdtempSync(join(tmpdir(), 'ephemera-bench-gvisor-'));
  const shell = {
    image: parts.image,
    command: ['sh', '-s'],
    workdir: '/workspace',
    network: 'none',
    timeout_ms: 60_000,
  };
  const profiles = Object.fromEntries(
    RUNTIMES.flatMap((runtime) => [
      [`cold-${runtime}`, { ...shell, runtime }],
      [`warm-${runtime}`, { ...shell, runtime, standby: 2 }],
    ]),
  );
  writeFileSync(join(dir, 'profiles.json'), JSON.stringify({ default_agent: 'cold-runc', profiles }));
  const svc = await parts.startService({ PROFILES_PATH: join(dir, 'profiles.json') });
  try {
    const waiting = (agent: string) => waitingContainers(parts.docker, agent);
    const ready = async (agent: string) => {
      for (let i = 0; i < 400 && (await waiting(agent)).length < 2; i++) await new Promise((r) => setTimeout(r, 25));
    };
    for (const r of RUNTIMES) await ready(`warm-${r}`);
    const idle = {
      runc: await idleMemoryMb(parts.docker, await waiting('warm-runc')),
      runsc: await idleMemoryMb(parts.docker, await waiting('warm-runsc')),
    };
    const first = {
      cold: { runc: [] as number[], runsc: [] as number[] },
      warm: { runc: [] as number[], runsc: [] as number[] },
    };
    for (let i = 0; i < parts.iterations; i++) {
      const order = i % 2 === 0 ? RUNTIMES : ([...RUNTIMES].reverse() as (typeof RUNTIMES)[number][]);
      for (const r of order) {
        first.cold[r].push((await parts.serviceRun(svc.url, 'echo hi', `/v1/run?agent=cold-${r}`)).firstByteMs);
        await ready(`warm-${r}`); // warm only when the refill has kept up
        first.warm[r].push((await parts.serviceRun(svc.url, 'echo hi', `/v1/run?agent=warm-${r}`)).firstByteMs);
      }
    }
    // Every warm sample a standby hit, or the warm rows would mix in cold starts.
    const hits = await standbyHits(svc.url);
    for (const r of RUNTIMES)
      if (hits[`warm-${r}`] !== parts.iterations)
        throw new Error(`warm-${r}: ${hits[`warm-${r}`]} standby hits for ${parts.iterations} runs`);
    const streamMs = { runc: [] as number[], runsc: [] as number[] };
    const cmd = `head -c ${STREAM_BYTES} /dev/zero | tr '\\0' 'a'`;
    for (let i = 0; i < 3; i++) {
      for (const r of RUNTIMES) {
        const s = await parts.serviceRun(svc.url, cmd, `/v1/run?agent=cold-${r}`);
        if (s.bytes !== STREAM_BYTES) throw new Error(`streamed ${s.bytes} bytes under ${r}`);
        streamMs[r].push(s.totalMs);
      }
    }
    const p = (xs: number[]) => ({ p50: r2(pct(xs, 50)), p95: r2(pct(xs, 95)) });
    const mbps = (xs: number[]) => r2(STREAM_BYTES / 1e6 / (pct(xs, 50) / 1000));
    return {
      first_byte_ms: {
        cold: { runc: p(first.cold.runc), runsc: p(first.cold.runsc) },
        warm: { runc: p(first.warm.runc), runsc: p(first.warm.runsc) },
      },
      cold_ratio: r2(pct(first.cold.runsc, 50) / pct(first.cold.runc, 50)),
      stream_mb_per_s: { runc: mbps(streamMs.runc), runsc: mbps(streamMs.runsc) },
      idle_standby_memory_mb: idle,
    };
  } finally {
    await svc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printGvisor(
  g: Awaited<ReturnType<typeof gvisorBench>>,
  row: (...cells: Array<string | number>) => void,
) {
  console.log('');
  row('echo hi, first byte', 'runc', 'runsc (gVisor)', 'target (runsc)');
  row('cold p50 ms', g.first_byte_ms.cold.runc.p50, g.first_byte_ms.cold.runsc.p50, `${g.cold_ratio}x (<= 1.5x)`);
  row('cold p95 ms', g.first_byte_ms.cold.runc.p95, g.first_byte_ms.cold.runsc.p95, '');
  row('warm p50 ms', g.first_byte_ms.warm.runc.p50, g.first_byte_ms.warm.runsc.p50, '<= 12');
  row('warm p95 ms', g.first_byte_ms.warm.runc.p95, g.first_byte_ms.warm.runsc.p95, '');
  row('100 MB stream MB/s', g.stream_mb_per_s.runc, g.stream_mb_per_s.runsc, '');
  row('idle standby MB', g.idle_standby_memory_mb.runc.join(' / '), g.idle_standby_memory_mb.runsc.join(' / '), '');
}
