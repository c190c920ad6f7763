// `npm run bench -- --only podman`: the same profiles on the Docker engine and on Podman's API
// (ENGINE=podman), two services side by side, requests interleaved so that drift hits both
// alike: cold and warm first byte, a 100 MB reply, what an idle standby container holds. The
// Docker rows are the baseline; the target is Podman within 1.3x.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { pct, r2 } from './figures.js';
import { idleMemoryMb, standbyHits, waitingContainers } from './standby-probe.js';
import type { ServiceRun, StartService, StartedService } from './service-parts.js';

export interface PodmanBenchParts {
  image: string;
  iterations: number;
  startService: StartService;
  serviceRun: ServiceRun;
}

const STREAM_BYTES = 100_000_000;
const ENGINES = ['docker', 'podman'] as const;
type Engine = (typeof ENGINES)[number];
const PODMAN_SOCKET = '/run/podman/podman.sock';

export async function podmanBench(parts: PodmanBenchParts) {
  const dir = mkdtempSync(join(tmpdir(), 'ephemera-bench-podman-'));
  const shell = {
    image: parts.image,
    command: ['sh', '-s'],
    workdir: '/workspace',
    network: 'none',
    timeout_ms: 60_000,
  };
  const profiles = { cold: shell, warm: { ...shell, standby: 2 } };
  writeFileSync(join(dir, 'profiles.json'), JSON.stringify({ default_agent: 'cold', profiles }));
  const engines = { docker: new Docker(), podman: new Docker({ socketPath: PODMAN_SOCKET }) };
  const base = { PROFILES_PATH: join(dir, 'profiles.json') };
  const svc: Partial<Record<Engine, StartedService>> = {};
  try {
    svc.docker = await parts.startService({ ...base, ENGINE: 'docker' });
    svc.podman = await parts.startService({ ...base, ENGINE: 'podman', PODMAN_SOCKET });
    const ready = async (e: Engine) => {
      for (let i = 0; i < 400 && (await waitingContainers(engines[e], 'warm')).length < 2; i++)
        await new Promise((r) => setTimeout(r, 25));
    };
    for (const e of ENGINES) await ready(e);
    const idle = {
      docker: await idleMemoryMb(engines.docker, await waitingContainers(engines.docker, 'warm')),
      podman: await idleMemoryMb(engines.podman, await waitingContainers(engines.podman, 'warm')),
    };
    const first = {
      cold: { docker: [] as number[], podman: [] as number[] },
      warm: { docker: [] as number[], podman: [] as number[] },
    };
    for (let i = 0; i < parts.iterations; i++) {
      for (const e of i % 2 === 0 ? ENGINES : ([...ENGINES].reverse() as Engine[])) {
        first.cold[e].push((await parts.serviceRun(svc[e]!.url, 'echo hi', '/v1/run?agent=cold')).firstByteMs);
        await ready(e); // warm only when the refill has kept up
        first.warm[e].push((await parts.serviceRun(svc[e]!.url, 'echo hi', '/v1/run?agent=warm')).firstByteMs);
      }
    }
    for (const e of ENGINES) {
      const hits = (await standbyHits(svc[e]!.url)).warm;
      if (hits !== parts.iterations) throw new Error(`${e}: ${hits} standby hits for ${parts.iterations} warm runs`);
    }
    const streamMs = { docker: [] as number[], podman: [] as number[] };
    const cmd = `head -c ${STREAM_BYTES} /dev/zero | tr '\\0' 'a'`;
    for (let i = 0; i < 3; i++) {
      for (const e of ENGINES) {
        const s = await parts.serviceRun(svc[e]!.url, cmd, '/v1/run?agent=cold');
        if (s.bytes !== STREAM_BYTES) throw new Error(`streamed ${s.bytes} bytes on ${e}`);
        streamMs[e].push(s.totalMs);
      }
    }
    const p = (xs: number[]) => ({ p50: r2(pct(xs, 50)), p95: r2(pct(xs, 95)) });
    const mbps = (xs: number[]) => r2(STREAM_BYTES / 1e6 / (pct(xs, 50) / 1000));
    const ratio = (a: number[], b: number[]) => r2(pct(a, 50) / pct(b, 50));
    return {
      first_byte_ms: {
        cold: { docker: p(first.cold.docker), podman: p(first.cold.podman) },
        warm: { docker: p(first.warm.docker), podman: p(first.warm.podman) },
      },
      ratios: {
        cold: ratio(first.cold.podman, first.cold.docker),
        warm: ratio(first.warm.podman, first.warm.docker),
        stream_time: ratio(streamMs.podman, streamMs.docker),
      },
      stream_mb_per_s: { docker: mbps(streamMs.docker), podman: mbps(streamMs.podman) },
      idle_standby_memory_mb: idle,
    };
  } finally {
    await Promise.all(Object.values(svc).map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printPodman(
  g: Awaited<ReturnType<typeof podmanBench>>,
  row: (...cells: Array<string | number>) => void,
) {
  console.log('');
  row('echo hi, first byte', 'Docker', 'Podman', 'Podman / Docker (<= 1.3x)');
  row('cold p50 ms', g.first_byte_ms.cold.docker.p50, g.first_byte_ms.cold.podman.p50, `${g.ratios.cold}x`);
  row('cold p95 ms', g.first_byte_ms.cold.docker.p95, g.first_byte_ms.cold.podman.p95, '');
  row('warm p50 ms', g.first_byte_ms.warm.docker.p50, g.first_byte_ms.warm.podman.p50, `${g.ratios.warm}x`);
  row('warm p95 ms', g.first_byte_ms.warm.docker.p95, g.first_byte_ms.warm.podman.p95, '');
  row('100 MB stream MB/s', g.stream_mb_per_s.docker, g.stream_mb_per_s.podman, `${g.ratios.stream_time}x the time`);
  row('idle standby MB', g.idle_standby_memory_mb.docker.join(' / '), g.idle_standby_memory_mb.podman.join(' / '), '');
}
