// `npm run bench -- --only claude-standby`: a Claude Code turn, cold and through a standby
// container, against the fake Anthropic API answering at once (FAKE_FAST); first turns and
// follow-ups (which replay the session through --resume), alternating, on a quiet machine.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { startFakeAnthropic } from '../fake-anthropic/server.js';
import { pct, r2 } from './figures.js';
import { standbyHits, waitingContainers } from './standby-probe.js';
import type { StartService } from './service-parts.js';

export interface ClaudeStandbyParts {
  docker: Docker;
  iterations: number;
  startService: StartService;
}

/** A refilled container may still be starting: both kinds of turn are measured on a settled machine. */
const SETTLE_MS = 2000;

export async function claudeStandbyBench(parts: ClaudeStandbyParts) {
  const dir = mkdtempSync(join(tmpdir(), 'ephemera-bench-claude-'));
  const base = JSON.parse(readFileSync('config/profiles.json', 'utf8')).profiles.claude;
  const profiles = join(dir, 'profiles.json');
  writeFileSync(
    profiles,
    JSON.stringify({ default_agent: 'cold', profiles: { cold: base, warm: { ...base, standby: 1 } } }),
  );
  const key = 'bench-key';
  const fake = await startFakeAnthropic({ host: '0.0.0.0', apiKey: key });
  const svc = await parts.startService({
    PROFILES_PATH: profiles,
    ANTHROPIC_API_KEY: key,
    ANTHROPIC_UPSTREAM_URL: fake.url,
  });
  const ready = async () => {
    for (let i = 0; i < 400 && (await waitingContainers(parts.docker, 'warm')).length < 1; i++)
      await new Promise((r) => setTimeout(r, 25));
    await new Promise((r) => setTimeout(r, SETTLE_MS));
  };
  const turn = async (path: string, prompt: string) => {
    const t0 = performance.now();
    const res = await fetch(`${svc.url}${path}`, { method: 'POST', body: prompt });
    const text = await res.text();
    if (!/turns=\d+/.test(text)) throw new Error(`claude turn failed: ${res.status} ${text.slice(0, 300)}`);
    return { ms: performance.now() - t0, session: res.headers.get('x-session-id')! };
  };
  const out: Record<string, number[]> = {};
  const add = (k: string, ms: number) => {
    out[k] ??= [];
    out[k].push(ms);
  };
  try {
    for (let i = 0; i < parts.iterations; i++) {
      for (const agent of i % 2 === 0 ? ['cold', 'warm'] : ['warm', 'cold']) {
        await ready();
        const first = await turn(`/v1/run?agent=${agent}`, 'FAKE_FAST first question');
        add(`${agent}_first`, first.ms);
        await ready();
        add(
          `${agent}_followup`,
          (await turn(`/v1/sessions/${first.session}/messages`, 'FAKE_FAST second question')).ms,
        );
      }
    }
    const hits = (await standbyHits(svc.url)).warm;
    if (hits !== 2 * parts.iterations) throw new Error(`${hits} standby hits for ${2 * parts.iterations} warm turns`);
    return Object.fromEntries(
      Object.entries(out).map(([k, xs]) => [k, { p50: r2(pct(xs, 50)), p95: r2(pct(xs, 95)) }]),
    );
  } finally {
    await svc.stop();
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printClaudeStandby(
  c: Awaited<ReturnType<typeof claudeStandbyBench>>,
  row: (...cells: Array<string | number>) => void,
) {
  console.log('');
  row('claude turn (fake answers at once)', 'cold p50 / p95 ms', 'warm p50 / p95 ms', 'target (warm p50)');
  const cell = (k: string) => `${c[k]?.p50} / ${c[k]?.p95}`;
  row('first turn', cell('cold_first'), cell('warm_first'), '<= 700');
  row('follow-up (replayed)', cell('cold_followup'), cell('warm_followup'), '<= 800');
}
