// Measures a Gemini turn in the gemini image against a fake model on the host, in containers
// with the service's options, cold and in the standby shape. Needs only node and docker.
//
//   node images/gemini/bench.mjs [--runs 10] [--image ephemera/gemini:0.61.0] [--baseline <image>]
//                                [--fake http://172.17.0.1:PORT]... [--json out.json]
//
// Each --fake is a running fake Gemini API reachable from a bridged container (e.g.
// `npx tsx test/fake-gemini/server.ts 18181` answers in ~0.3 s; images/gemini/bench-fake.mjs
// answers at once). For each fake and each of {first turn, turn with a 3-pair --session-file}:
//   cold      docker create + docker cp (the request's files) + docker start -ai, until exit
//   standby   the container already started and waiting in its gate; the files copied in; then
//             from writing the go line (+ prompt, stdin closed) until exit; both the image's
//             Node gate (label ephemera.standby.gate) and the plain sh gate
// Times: to the first stdout byte, to the first assistant text, to exit (the docker client's
// exit, i.e. the container's). Containers carry the label ephemera.helper=gemini-warm and are
// removed after each run. Also: RSS of an idle standby container, per gate.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const opt = { runs: 10, image: 'ephemera/gemini:0.61.0', baseline: undefined, fakes: [], json: undefined };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i],
    v = process.argv[++i];
  if (a === '--runs') opt.runs = Number(v);
  else if (a === '--image') opt.image = v;
  else if (a === '--baseline') opt.baseline = v;
  else if (a === '--fake') opt.fakes.push(v);
  else if (a === '--json') opt.json = v;
  else throw new Error(`unknown option ${a}`);
}
if (opt.fakes.length === 0) opt.fakes.push('http://172.17.0.1:18181');

const LABEL = 'ephemera.helper=gemini-warm';
const ENTRY = '/usr/local/bin/ephemera-gemini';
const ARGS = [
  '--output-format',
  'stream-json',
  '--model',
  'gemini-2.5-flash',
  '--approval-mode',
  'default',
  '--skip-trust',
];
const SH_GATE = ['sh', '-c', 'IFS= read -r go && eval "exec $go"'];
const q = (s) => `'${s.replaceAll("'", "'\\''")}'`;
const docker = (...a) => execFileSync('docker', a, { encoding: 'utf8' }).trim();

// The files the service copies into /ephemera (see src/runner/agents/gemini/agent.ts).
const files = mkdtempSync(join(tmpdir(), 'gemini-bench-'));
mkdirSync(join(files, 'gemini'));
writeFileSync(
  join(files, 'gemini', 'settings.json'),
  JSON.stringify({
    security: { auth: { selectedType: 'gemini-api-key' } },
    privacy: { usageStatisticsEnabled: false },
  }),
);
writeFileSync(join(files, 'gemini', '.env'), 'GEMINI_API_KEY=bench-token\n');
const t0 = Date.now() - 600_000;
const lines = [
  {
    sessionId: '11111111-1111-4111-8111-111111111111',
    projectHash: 'x',
    startTime: new Date(t0).toISOString(),
    lastUpdated: new Date(t0 + 6000).toISOString(),
    kind: 'main',
  },
];
for (let i = 0; i < 3; i++) {
  lines.push({
    id: `u${i}`,
    timestamp: new Date(t0 + i * 2000).toISOString(),
    type: 'user',
    content: [{ text: `question ${i}: name a river` }],
  });
  lines.push({
    id: `g${i}`,
    timestamp: new Date(t0 + i * 2000 + 1000).toISOString(),
    type: 'gemini',
    content: `answer ${i}: the Danube`,
  });
}
writeFileSync(join(files, 'session.jsonl'), lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
for (const [p, mode] of [
  ['gemini/settings.json', 0o444],
  ['gemini/.env', 0o400],
  ['session.jsonl', 0o444],
]) {
  chownSync(join(files, p), 1000, 1000);
  chmodSync(join(files, p), mode);
}
for (const d of ['', 'gemini']) chmodSync(join(files, d), 0o555);

function createArgs(image, entrypoint, env) {
  return [
    'create',
    '-i',
    '--label',
    LABEL,
    '--read-only',
    '--init',
    '--log-driver',
    'none',
    '--tmpfs',
    '/tmp:rw,nosuid,nodev,size=64m,mode=1777',
    '--tmpfs',
    '/workspace:rw,nosuid,nodev,size=64m,mode=0700,uid=1000,gid=1000',
    '--tmpfs',
    '/home/gemini:rw,size=64m,uid=1000,gid=1000,mode=0700',
    '-v',
    '/ephemera',
    '--user',
    '1000:1000',
    '-w',
    '/workspace',
    '--cap-drop',
    'ALL',
    '--security-opt',
    'no-new-privileges',
    '--memory',
    '1024m',
    '--memory-swap',
    '1024m',
    '--cpus',
    '1',
    '--pids-limit',
    '256',
    '--ulimit',
    'nofile=1024:1024',
    ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    ...(entrypoint ? ['--entrypoint', entrypoint[0]] : []),
    image,
    ...(entrypoint ? entrypoint.slice(1) : []),
  ];
}

/** Starts `docker start -ai id`, returns its process and a timeline recorder. */
function attach(id, marks) {
  const p = spawn('docker', ['start', '-ai', id], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '',
    err = '';
  p.stdout.on('data', (d) => {
    const now = performance.now();
    marks.firstByte ??= now;
    out += d;
    if (marks.text === undefined && out.includes('"role":"assistant"')) marks.text = now;
  });
  p.stderr.on('data', (d) => {
    err += d;
    if (marks.ready === undefined && (err.includes('CLI loaded') || marks.readyOnStart))
      marks.ready = performance.now();
  });
  const exited = new Promise((r) =>
    p.on('exit', (code) => {
      marks.exit = performance.now();
      r(code);
    }),
  );
  return { p, exited, out: () => out, err: () => err };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function coldRun(image, fake, withSession) {
  const marks = {};
  const args = [...ARGS, ...(withSession ? ['--session-file', '/ephemera/session.jsonl'] : [])];
  const start = performance.now();
  const id = docker(...createArgs(image, undefined, { GOOGLE_GEMINI_BASE_URL: fake }), ...args);
  try {
    docker('cp', `${files}/.`, `${id}:/ephemera`);
    const a = attach(id, marks);
    a.p.stdin.end('Name three rivers');
    const code = await a.exited;
    return check(code, a, start, marks, withSession);
  } finally {
    docker('rm', '-f', '-v', id);
  }
}

async function standbyRun(image, fake, withSession, gate) {
  const marks = {};
  const id = docker(...createArgs(image, gate, gate === SH_GATE ? {} : { EPHEMERA_GATE_TRACE: '1' }));
  try {
    const a = attach(id, marks);
    if (gate === SH_GATE) await sleep(1000);
    else
      while (marks.ready === undefined) {
        if (a.p.exitCode !== null) throw new Error(a.err());
        await sleep(20);
      }
    await sleep(300); // idle, as a standby container would be
    docker('cp', `${files}/.`, `${id}:/ephemera`); // assignment: the request's files
    const args = [...ARGS, ...(withSession ? ['--session-file', '/ephemera/session.jsonl'] : [])];
    const go = ['env', `GOOGLE_GEMINI_BASE_URL=${fake}`, 'timeout', '-s', 'KILL', '300', ENTRY, ...args]
      .map(q)
      .join(' ');
    const start = performance.now();
    a.p.stdin.end(`${go}\nName three rivers`);
    const code = await a.exited;
    return check(code, a, start, marks, withSession);
  } finally {
    docker('rm', '-f', '-v', id);
  }
}

function check(code, a, start, marks, withSession) {
  const out = a.out();
  const want = withSession ? 'turns=7' : 'turns=1';
  if (code !== 0 || !out.includes('"type":"result"') || !out.includes(want)) {
    throw new Error(`run failed (exit ${code}, wanted ${want}):\n${out}\n${a.err()}`);
  }
  const ms = (t) => (t === undefined ? NaN : Math.round(t - start));
  return { firstByte: ms(marks.firstByte), text: ms(marks.text), exit: ms(marks.exit) };
}

async function idleRss(image, gate) {
  const id = docker(...createArgs(image, gate, gate === SH_GATE ? {} : { EPHEMERA_GATE_TRACE: '1' }));
  const marks = {};
  const a = attach(id, marks);
  try {
    if (gate === SH_GATE) await sleep(1500);
    else while (marks.ready === undefined) await sleep(20);
    await sleep(1000);
    const top = docker('top', id, '-o', 'pid,rss,args');
    const rss = top
      .split('\n')
      .slice(1)
      .reduce((s, l) => s + Number(l.trim().split(/\s+/)[1]), 0);
    const cg = docker('stats', '--no-stream', '--format', '{{.MemUsage}}', id);
    return {
      rssKb: rss,
      cgroup: cg.split(' / ')[0],
      processes: top
        .split('\n')
        .slice(1)
        .map((l) => l.trim().replace(/\s+/, ' ')),
    };
  } finally {
    a.p.stdin.destroy();
    docker('rm', '-f', '-v', id);
  }
}

const median = (xs) => {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
};
const results = [];
async function series(name, fake, withSession, fn) {
  const rs = [];
  for (let i = 0; i < opt.runs; i++) rs.push(await fn());
  const row = {
    name,
    fake,
    turn: withSession ? 'session (3 pairs)' : 'first',
    runs: rs.length,
    firstByteP50: median(rs.map((r) => r.firstByte)),
    textP50: median(rs.map((r) => r.text)),
    exitP50: median(rs.map((r) => r.exit)),
    exitMin: Math.min(...rs.map((r) => r.exit)),
    exitMax: Math.max(...rs.map((r) => r.exit)),
  };
  results.push(row);
  console.log(JSON.stringify(row));
}

try {
  const label = JSON.parse(docker('image', 'inspect', '-f', '{{json .Config.Labels}}', opt.image) || 'null') ?? {};
  const nodeGate = label['ephemera.standby.gate'] ? JSON.parse(label['ephemera.standby.gate']) : undefined;
  for (const fake of opt.fakes) {
    for (const withSession of [false, true]) {
      if (opt.baseline)
        await series(`cold ${opt.baseline}`, fake, withSession, () => coldRun(opt.baseline, fake, withSession));
      await series(`cold ${opt.image}`, fake, withSession, () => coldRun(opt.image, fake, withSession));
      await series(`standby sh gate ${opt.image}`, fake, withSession, () =>
        standbyRun(opt.image, fake, withSession, SH_GATE),
      );
      if (nodeGate)
        await series(`standby node gate ${opt.image}`, fake, withSession, () =>
          standbyRun(opt.image, fake, withSession, nodeGate),
        );
    }
  }
  const memory = {
    shGate: await idleRss(opt.image, SH_GATE),
    ...(nodeGate && { nodeGate: await idleRss(opt.image, nodeGate) }),
  };
  console.log(JSON.stringify({ memory }, null, 1));
  if (opt.json) writeFileSync(opt.json, JSON.stringify({ results, memory }, null, 1));
} finally {
  rmSync(files, { recursive: true, force: true });
}
