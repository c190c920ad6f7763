// `npm run bench:ab -- <git revision> [--runs 100] [--prompt 'echo hi']`: this working tree's
// service against the same service built from an earlier revision, side by side on one engine,
// requests interleaved (the order alternating) so that the machine's drift hits both alike.
// For a change's own claim ("first byte does not change"); the raw-engine baseline is
// `npm run bench`. Both builds use this checkout's node_modules. Loopback only; stops by itself.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePort, residentMb } from '../helpers/service-process.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const revision = process.argv[2];
if (!revision || revision.startsWith('--'))
  throw new Error('usage: npm run bench:ab -- <git revision> [--runs N] [--prompt TEXT]');
const RUNS = Number(arg('runs', '100'));
const PROMPT = arg('prompt', 'echo hi');

/**
 * The revision's service, bundled as `npm run build` bundles it, in bench-results/ab-<rev>/ (its own src and
 * migrations).
 */
function buildRevision(rev: string): string {
  const root = resolve('bench-results', `ab-${rev.replace(/[^\w.-]/g, '_')}`);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const tar = execFileSync('git', ['archive', rev, 'src', 'scripts', 'migrations', 'package.json'], {
    maxBuffer: 256 * 1024 * 1024,
  });
  execFileSync('tar', ['-x', '-C', root], { input: tar });
  symlinkSync(resolve('node_modules'), join(root, 'node_modules'));
  execFileSync(process.execPath, ['scripts/bundle.mjs', 'dist/bundle/index.js'], { cwd: root, stdio: 'inherit' });
  return root;
}

/** The node flags a checkout starts its service with (scripts/node-flags.mjs; none before it existed). */
async function nodeFlagsOf(root: string): Promise<string[]> {
  const file = join(root, 'scripts/node-flags.mjs');
  if (!existsSync(file)) return [];
  return ((await import(pathToFileURL(file).href)) as { SERVICE_NODE_FLAGS: string[] }).SERVICE_NODE_FLAGS;
}

/** A checkout's service, started as its `npm start` starts it (its node flags, its bundle). */
async function startService(root: string, name: string): Promise<{ port: number; proc: ChildProcess; dir: string }> {
  const [port, gateway] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), `ephemera-ab-${name}-`));
  const env = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    MODEL_GATEWAY_PORT: String(gateway),
    DATABASE_PATH: join(dir, 'db'),
    INSTANCE_ID: `ab-${name}-${port}`,
    LOG_LEVEL: 'warn',
  };
  const args = [...(await nodeFlagsOf(root)), join(root, 'dist/bundle/index.js')];
  const proc = spawn(process.execPath, args, { env, stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    if (await healthy(port)) return { port, proc, dir };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the ${name} service did not start`);
}

const healthy = (port: number) =>
  new Promise<boolean>((ok) =>
    http
      .get({ host: '127.0.0.1', port, path: '/healthz' }, (res) => {
        res.resume();
        ok(res.statusCode === 200);
      })
      .on('error', () => ok(false)),
  );

/** One run: ms to the body's first byte and to its end. */
function run(port: number): Promise<{ first: number; total: number }> {
  return new Promise((ok, fail) => {
    const t0 = performance.now();
    const req = http.request({ host: '127.0.0.1', port, path: '/v1/run', method: 'POST' }, (res) => {
      let first = NaN;
      res.on('data', () => (first = Number.isNaN(first) ? performance.now() - t0 : first));
      res.on('end', () => ok({ first, total: performance.now() - t0 }));
    });
    req.on('error', fail);
    req.end(PROMPT);
  });
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor(p * (xs.length - 1))]!;

async function main() {
  execFileSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
  const services = {
    revision: await startService(buildRevision(revision!), 'revision'),
    current: await startService(resolve('.'), 'current'),
  };
  const samples = {
    revision: [] as Array<{ first: number; total: number }>,
    current: [] as Array<{ first: number; total: number }>,
  };
  const memory = { idle: { revision: 0, current: 0 }, after: { revision: 0, current: 0 } };
  try {
    // Both ready and idle for a second, as `npm run bench` reads the idle figure.
    await new Promise((r) => setTimeout(r, 1000));
    for (const name of ['revision', 'current'] as const) memory.idle[name] = residentMb(services[name].proc.pid!);
    for (let i = 0; i < 5; i++) for (const s of Object.values(services)) await run(s.port); // warm-up
    for (let i = 0; i < RUNS; i++) {
      const order = i % 2 === 0 ? (['revision', 'current'] as const) : (['current', 'revision'] as const);
      for (const name of order) samples[name].push(await run(services[name].port));
    }
    for (const name of ['revision', 'current'] as const) memory.after[name] = residentMb(services[name].proc.pid!);
  } finally {
    for (const s of Object.values(services)) {
      s.proc.kill('SIGTERM');
      rmSync(s.dir, { recursive: true, force: true });
    }
  }
  const row = (measure: 'first' | 'total', p: number) => {
    const [a, b] = [
      pct(
        samples.revision.map((s) => s[measure]),
        p,
      ),
      pct(
        samples.current.map((s) => s[measure]),
        p,
      ),
    ];
    return {
      measure: `${measure === 'first' ? 'first byte' : 'total'} p${p * 100} ms`,
      revision: +a.toFixed(1),
      current: +b.toFixed(1),
      ratio: +(b / a).toFixed(3),
    };
  };
  const rss = (when: 'idle' | 'after') => ({
    measure: when === 'idle' ? 'RSS idle MB' : `RSS after ${RUNS * 2 + 10} runs MB`,
    revision: +memory[when].revision.toFixed(1),
    current: +memory[when].current.toFixed(1),
    ratio: +(memory[when].current / memory[when].revision).toFixed(3),
  });
  const table = [
    row('first', 0.5),
    row('first', 0.95),
    row('total', 0.5),
    row('total', 0.95),
    rss('idle'),
    rss('after'),
  ];
  console.table(table);
  writeFileSync('bench-results/ab.json', JSON.stringify({ revision, runs: RUNS, prompt: PROMPT, table }, null, 2));
}

await main();
