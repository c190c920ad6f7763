// Run once at image build (as the uid the CLI runs as): fills NODE_COMPILE_CACHE, and the
// standby gate's list of modules to preload, by running
// real headless turns, a continued one (--session-file) through the CLI's own entry and a
// first one through the standby gate, against a fake model on loopback. Nothing it writes
// outside the cache stays (HOME and the working folder are temporary).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

const CLI = '/opt/gemini-cli/node_modules/@google/gemini-cli/bundle/gemini.js';
const GATE = '/usr/local/lib/ephemera/gate.mjs';
const PRELOAD_LIST = '/opt/gemini-cli/warm/preload.json';
if (!process.env.NODE_COMPILE_CACHE) throw new Error('warm.mjs: NODE_COMPILE_CACHE is not set');

const server = createServer(async (req, res) => {
  for await (const _ of req);
  const action = /:(\w+)$/.exec(new URL(req.url, 'http://x').pathname)?.[1];
  const answer = {
    candidates: [{ content: { role: 'model', parts: [{ text: 'ok' }] }, finishReason: 'STOP', index: 0 }],
    usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 1, totalTokenCount: 2 },
  };
  if (action === 'streamGenerateContent') {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    return res.end(`data: ${JSON.stringify(answer)}\r\n\r\n`);
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(action === 'countTokens' ? { totalTokens: 1 } : answer));
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${server.address().port}`;

const tmp = mkdtempSync('/tmp/gemini-warm-');
const home = join(tmp, 'home'),
  work = join(tmp, 'work');
mkdirSync(join(home, '.gemini'), { recursive: true });
mkdirSync(work);
writeFileSync(
  join(home, '.gemini', 'settings.json'),
  JSON.stringify({
    security: { auth: { selectedType: 'gemini-api-key' } },
    privacy: { usageStatisticsEnabled: false },
  }),
);
const session = join(tmp, 'session.jsonl');
const t = new Date().toISOString();
writeFileSync(
  session,
  [
    { sessionId: '00000000-0000-4000-8000-000000000000', projectHash: '0', startTime: t, lastUpdated: t, kind: 'main' },
    { id: 'u1', timestamp: t, type: 'user', content: [{ text: 'hello' }] },
    { id: 'g1', timestamp: t, type: 'gemini', content: 'hi' },
  ]
    .map((l) => `${JSON.stringify(l)}\n`)
    .join(''),
);

const args = [
  '--output-format',
  'stream-json',
  '--model',
  'gemini-2.5-flash',
  '--approval-mode',
  'default',
  '--skip-trust',
];
const env = {
  ...process.env,
  HOME: home,
  GEMINI_API_KEY: 'warm',
  GOOGLE_GEMINI_BASE_URL: url,
  GEMINI_CLI_NO_RELAUNCH: 'true',
};
function run(argv, stdin) {
  return new Promise((resolve, reject) => {
    // With this process's node flags (the Dockerfile's, as the gate and the entrypoint have them):
    // V8 takes a compile cache only from a process whose flags match.
    const child = spawn(process.execPath, [...process.execArgv, ...argv], {
      cwd: work,
      env,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 && out.includes('"type":"result"')
        ? resolve()
        : reject(new Error(`warm run ${argv.join(' ')} exited ${code}: ${out}`)),
    );
    child.stdin.end(stdin);
  });
}
const q = (s) => `'${s.replaceAll("'", "'\\''")}'`;
// Through the gate first (it records what main imports late, for later gates to preload),
// continuing a session; then a first turn through the CLI's own entry.
env.EPHEMERA_GATE_RECORD = PRELOAD_LIST;
await run(
  [GATE],
  `exec ${['/usr/local/bin/ephemera-gemini', ...args, '--session-file', session].map(q).join(' ')}\nwarm the cache\n`,
);
delete env.EPHEMERA_GATE_RECORD;
await run([CLI, ...args], 'warm the cache');
server.close();
rmSync(tmp, { recursive: true, force: true });
process.stdout.write(
  `compile cache filled in ${process.env.NODE_COMPILE_CACHE}; late imports in ${PRELOAD_LIST}: ${readFileSync(PRELOAD_LIST, 'utf8')}`,
);
