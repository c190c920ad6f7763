// npm run bench:history [-- --iterations 200 --warmup 20 --sessions 100000 --keep --db <file>]
//
// Seeds a large SQLite database (100k sessions, 500k runs, 1M messages over ~30 days),
// then times the history endpoints in-process through app.request (no network), with an
// admin key and, for text search, with user keys, and prints p50/p95 per endpoint; the same
// goes to bench-results/history.json.
// Bounded: a fixed number of iterations per endpoint, capped by --max-seconds each.
import { createHash, randomBytes } from 'node:crypto';
import { SqliteStore } from '../../src/db/sqlite/store.js';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, freemem, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { createApp } from '../../src/app.js';
import { Service } from '../../src/service.js';
import { SqliteApiKeyStore } from '../../src/db/sqlite/api-keys.js';
import { encodeCursor } from '../../src/db/shared/cursor.js';
import { openDatabase, type Db } from '../../src/db/sqlite/open.js';
import type { RunStatus } from '../../src/db/rows.js';
import type { ContainerRuntime } from '../../src/runner/runtime.js';
import { BUILTIN_PROFILES, loadServiceConfig, parseProfiles } from '../../src/settings.js';

const { values: args } = parseArgs({
  options: {
    iterations: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '20' },
    sessions: { type: 'string', default: '100000' },
    'max-seconds': { type: 'string', default: '30' },
    keep: { type: 'boolean', default: false },
    /** Reuse a database this script seeded before (kept with --keep); seeds it when missing. */
    db: { type: 'string' },
    out: { type: 'string', default: 'bench-results/history.json' },
  },
});

const positiveInt = (name: string, v: string | undefined): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name}: expected a positive integer, got ${v}`);
  return n;
};
const ITERATIONS = positiveInt('iterations', args.iterations);
const WARMUP = positiveInt('warmup', args.warmup);
const SESSIONS = positiveInt('sessions', args.sessions);
const MAX_MS_PER_ENDPOINT = positiveInt('max-seconds', args['max-seconds']) * 1000;
const TURNS = 5; // runs per session; two messages (user + assistant) per run
const DAYS = 30;
const TARGET_P50_MS = 5;

// Words the full-text queries look for, kept out of the vocabulary so their frequency is known.
const RARE_WORD = 'quixotic'; // ~0.1% of messages
const MID_WORD = 'kubernetes'; // ~1% of messages
const COMMON_WORD = 'deploy'; // ~25% of messages
const WORD_RATES: Array<[string, number]> = [
  [RARE_WORD, 0.001],
  [MID_WORD, 0.01],
  [COMMON_WORD, 0.25],
];

// ---------------------------------------------------------------- random helpers

/** Small seeded PRNG (mulberry32), so that the data's shape is the same run to run. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(0xeb1e);
const between = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
/** Log-normal around `median`, clamped to [lo, hi]. */
const logNormal = (median: number, sigma: number, lo: number, hi: number) => {
  const z = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  return Math.max(lo, Math.min(hi, Math.round(median * Math.exp(sigma * z))));
};
const weighted = <T>(table: ReadonlyArray<readonly [T, number]>): T => {
  let r = rand() * table.reduce((s, [, w]) => s + w, 0);
  for (const [v, w] of table) {
    r -= w;
    if (r < 0) return v;
  }
  return table.at(-1)![0];
};

/** Ids shaped like src/db/ids.ts newId(), but stamped with the row's own time. */
let hexPool = Buffer.alloc(0);
let hexAt = 0;
function idAt(prefix: 'ses' | 'run', ms: number): string {
  if (hexAt + 10 > hexPool.length) {
    hexPool = randomBytes(10 * 4096);
    hexAt = 0;
  }
  const hex = hexPool.toString('hex', hexAt, hexAt + 10);
  hexAt += 10;
  return `${prefix}_${ms.toString(36).padStart(9, '0')}${hex}`;
}

// ---------------------------------------------------------------- message text

const BASE_WORDS = (
  'the a to of and in is it for on that this with you can be not or as are from file run ' +
  'output error list show make add remove fix check test build write read print count find ' +
  'directory folder script shell command line lines json yaml config value key path user ' +
  'please thanks why how what when which where result results first last next previous ' +
  'function variable string number array object return loop sort filter map reduce date time ' +
  'log logs server client request response status code exit stdout stderr stream process ' +
  'memory cpu disk network port host container image session turn agent model prompt reply ' +
  'python node typescript sqlite query index table column row insert update delete select ' +
  'git branch commit merge diff patch tag release version install package module import'
).split(/\s+/);
// A long tail of made-up words, so that the index has many distinct terms.
const SYLLABLES = [
  'ka',
  'lo',
  'mi',
  'ren',
  'to',
  'sa',
  'vi',
  'dor',
  'pel',
  'qu',
  'zan',
  'mo',
  'ti',
  'bex',
  'lu',
  'nor',
];
const TAIL_WORDS = Array.from({ length: 4000 }, (_, i) => {
  let w = '';
  for (let n = i + 17; n > 0; n = Math.floor(n / SYLLABLES.length)) w += SYLLABLES[n % SYLLABLES.length];
  return w;
});
const VOCAB = [...BASE_WORDS, ...TAIL_WORDS].filter((w) => !WORD_RATES.some(([x]) => x === w));
/** Skewed towards the front of the vocabulary (common words), with a long tail. */
const word = () => VOCAB[Math.floor(VOCAB.length * rand() ** 3)]!;

function text(minWords: number, maxWords: number): string {
  const words: string[] = [];
  const n = between(minWords, maxWords);
  for (let i = 0; i < n; i++) words.push(word());
  for (const [w, rate] of WORD_RATES) if (rand() < rate) words.splice(between(0, words.length), 0, w);
  words[0] = words[0]!.charAt(0).toUpperCase() + words[0]!.slice(1);
  return `${words.join(' ')}.`;
}

// ---------------------------------------------------------------- seeding

const AGENTS = [
  ['shell', 0.5],
  ['cat', 0.15],
  ['gemini', 0.35],
] as const;
const IMAGES: Record<string, string> = {
  shell: 'ephemera/shell:0.1',
  cat: 'ephemera/shell:0.1',
  gemini: 'ephemera/gemini:0.61.0',
};
const TIMEOUTS: Record<string, number> = { shell: 60_000, cat: 60_000, gemini: 300_000 };
const STATUSES: ReadonlyArray<readonly [Exclude<RunStatus, 'running'>, number]> = [
  ['succeeded', 0.9],
  ['failed', 0.05],
  ['timeout', 0.015],
  ['cancelled', 0.015],
  ['interrupted', 0.01],
  ['oom', 0.005],
  ['output_limit', 0.005],
];
const INSTANCES = ['bench-a', 'bench-b'];

interface Seeded {
  seedMs: number;
  sessions: number;
  runs: number;
  messages: number;
  /** The window the data covers (created_at of sessions). */
  start: number;
  end: number;
  ownerKeyIds: string[];
  adminKey: string;
}

async function seed(path: string): Promise<Seeded> {
  const t0 = performance.now();
  const db = openDatabase(path);
  const client = db.$client;
  // Bulk-load settings for this connection only; the benchmark reopens the file afterwards.
  client.pragma('synchronous = OFF');
  client.pragma('cache_size = -262144');
  client.pragma('temp_store = MEMORY');

  const keys = new SqliteApiKeyStore(db);
  const adminKey = (await keys.create('bench-admin', 'admin')).key;
  const ownerKeyIds: string[] = [];
  for (const name of ['alice', 'bob', 'ci']) ownerKeyIds.push((await keys.create(`bench-${name}`, 'user')).info.id);
  const OWNERS: ReadonlyArray<readonly [string | null, number]> = [
    [null, 0.4],
    [ownerKeyIds[0]!, 0.3],
    [ownerKeyIds[1]!, 0.2],
    [ownerKeyIds[2]!, 0.1],
  ];

  const insertSession = client.prepare(
    `insert into sessions (id, agent, owner_key_id, created_at, updated_at, turns, last_status, total_ms, total_tokens)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertRun = client.prepare(
    `insert into runs (id, session_id, agent, image, instance_id, key_id, status, exit_code, error_code, error_message,
                       stderr, timeout_ms, queued_ms, create_ms, start_ms, first_byte_ms, total_ms, bytes_out, bytes_err,
                       input_tokens, output_tokens, total_tokens, tool_calls, created_at, ended_at)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertMessage = client.prepare(
    'insert into messages (session_id, run_id, role, content, created_at) values (?, ?, ?, ?, ?)',
  );

  // The FTS insert trigger costs more row by row than one bulk fill at the end: drop it
  // while loading and put back exactly the statement the migration created.
  const ftsTrigger = client
    .prepare(`select sql from sqlite_master where type = 'trigger' and name = 'messages_fts_ai'`)
    .pluck()
    .get() as string | undefined;
  if (!ftsTrigger) throw new Error('seed: trigger messages_fts_ai not found; did the migrations change?');
  client.exec('drop trigger messages_fts_ai');

  // Sessions open at a steady rate over DAYS, ending an hour ago so all their runs are over.
  const end = Date.now() - 3600_000;
  const start = end - DAYS * 24 * 3600_000;
  const step = (end - start) / SESSIONS;
  let runCount = 0;
  let messageCount = 0;

  const seedOne = (i: number) => {
    const createdAt = Math.floor(start + i * step + rand() * step);
    const sessionId = idAt('ses', createdAt);
    const agent = weighted(AGENTS);
    const owner = weighted(OWNERS);
    const runRows: unknown[][] = [];
    const messageRows: unknown[][] = [];
    let t = createdAt;
    let lastEnded = createdAt;
    let lastStatus: string | null = null;
    let totalMs = 0;
    let totalTokens = 0;
    for (let turn = 0; turn < TURNS; turn++) {
      const status = weighted(STATUSES);
      const runId = idAt('run', t);
      const timeoutMs = TIMEOUTS[agent]!;
      const queuedMs = rand() < 0.9 ? between(0, 5) : logNormal(400, 1, 5, 20_000);
      const createMs = logNormal(90, 0.35, 30, 2_000);
      const startMs = logNormal(160, 0.35, 50, 3_000);
      const think =
        agent === 'gemini'
          ? logNormal(2_500, 0.5, 600, 30_000)
          : agent === 'shell'
            ? logNormal(60, 0.8, 5, 5_000)
            : between(2, 30);
      const firstByte = queuedMs + createMs + startMs + think;
      let total =
        agent === 'gemini'
          ? firstByte + logNormal(6_000, 0.8, 200, 120_000)
          : firstByte + logNormal(250, 1.2, 1, 30_000);
      if (status === 'timeout') total = timeoutMs + between(5, 200);
      else if (status === 'cancelled' || status === 'interrupted')
        total = Math.min(total, firstByte + between(0, 2_000));
      total = Math.min(total, timeoutMs + 500);
      // Runs stopped early sometimes never printed anything.
      const noOutput = status !== 'succeeded' && status !== 'failed' && rand() < 0.3;
      const reply = text(10, 40);
      const stderr = status === 'failed' ? `${pick(['error', 'fatal', 'warning'])}: ${text(3, 12)}\n` : '';
      let exitCode: number | null = 0;
      let error: { code: string; message: string } | null = null;
      switch (status) {
        case 'failed':
          exitCode = agent === 'gemini' ? pick([1, 41, 53]) : pick([1, 2, 127]);
          if (agent === 'gemini') error = { code: 'AGENT_CRASHED', message: `Gemini CLI exited with code ${exitCode}` };
          break;
        case 'timeout':
          exitCode = 137;
          error = { code: 'TIMEOUT', message: `the run exceeded its ${timeoutMs} ms deadline` };
          break;
        case 'cancelled':
          exitCode = 137;
          error = { code: 'CANCELLED', message: 'the client went away before the run ended' };
          break;
        case 'interrupted':
          exitCode = null;
          error = { code: 'SHUTDOWN', message: 'the service shut down before the run ended' };
          break;
        case 'oom':
          exitCode = 137;
          error = { code: 'OOM', message: 'the run went over its 256 MiB memory limit' };
          break;
        case 'output_limit':
          exitCode = 137;
          error = { code: 'OUTPUT_LIMIT', message: 'the run printed more than 16777216 bytes; output kept up to that' };
          break;
        default:
          break;
      }
      const tokens =
        agent === 'gemini' && status === 'succeeded'
          ? (() => {
              const input = logNormal(4_000, 0.7, 200, 200_000);
              const output = logNormal(600, 0.8, 10, 30_000);
              return { input, output, total: input + output, tools: between(0, 6) };
            })()
          : null;
      const endedAt = t + total;
      runRows.push([
        runId,
        sessionId,
        agent,
        IMAGES[agent]!,
        pick(INSTANCES),
        owner,
        status,
        exitCode,
        error?.code ?? null,
        error?.message ?? null,
        stderr,
        timeoutMs,
        queuedMs,
        createMs,
        startMs,
        noOutput ? null : firstByte,
        total,
        Buffer.byteLength(reply),
        stderr.length,
        tokens?.input ?? null,
        tokens?.output ?? null,
        tokens?.total ?? null,
        tokens?.tools ?? null,
        t,
        endedAt,
      ]);
      messageRows.push([sessionId, runId, 'user', text(4, 25), t]);
      messageRows.push([sessionId, runId, 'assistant', noOutput ? '' : reply, endedAt]);
      lastStatus = status;
      lastEnded = endedAt;
      totalMs += total;
      totalTokens += tokens?.total ?? 0;
      t = endedAt + logNormal(30_000, 1, 2_000, 600_000); // the user reads, then types the next turn
    }
    insertSession.run(sessionId, agent, owner, createdAt, lastEnded, TURNS, lastStatus, totalMs, totalTokens);
    for (const r of runRows) insertRun.run(...r);
    for (const m of messageRows) insertMessage.run(...m);
    runCount += runRows.length;
    messageCount += messageRows.length;
  };

  const BATCH = 5_000;
  const batch = client.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) seedOne(i);
  });
  for (let from = 0; from < SESSIONS; from += BATCH) {
    batch(from, Math.min(SESSIONS, from + BATCH));
    process.stderr.write(`\rseeding: ${Math.min(SESSIONS, from + BATCH)}/${SESSIONS} sessions`);
  }
  process.stderr.write(`\nseeding: indexing ${messageCount} messages in messages_fts\n`);
  client.transaction(() => {
    // What the trigger indexes, for all messages at once (migration 0009: the index is contentless).
    client.exec('insert into messages_fts(rowid, content, owner) select id, content, owner from messages_search');
    client.exec(ftsTrigger);
  })();
  process.stderr.write('seeding: ANALYZE\n');
  client.exec('ANALYZE');
  client.pragma('wal_checkpoint(TRUNCATE)');
  client.close();
  const seedMs = performance.now() - t0;
  return { seedMs, sessions: SESSIONS, runs: runCount, messages: messageCount, start, end, ownerKeyIds, adminKey };
}

/** What the benchmark needs from a database seeded by an earlier run (--db). */
function describe(db: Db): Omit<Seeded, 'seedMs' | 'adminKey'> {
  const c = db.$client;
  const one = <T>(sql: string) => c.prepare(sql).get() as T;
  const {
    n: sessions,
    start,
    end,
  } = one<{ n: number; start: number; end: number }>(
    'select count(*) as n, min(created_at) as start, max(created_at) as end from sessions',
  );
  return {
    sessions,
    runs: one<{ n: number }>('select count(*) as n from runs').n,
    messages: one<{ n: number }>('select count(*) as n from messages').n,
    start,
    end,
    ownerKeyIds: c.prepare(`select id from api_keys where role = 'user' order by name`).pluck().all() as string[],
  };
}

// ---------------------------------------------------------------- timing

const nearestRank = (sorted: number[], p: number) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;

interface Row {
  endpoint: string;
  n: number;
  p50_ms: number;
  p95_ms: number;
  max_ms: number;
  over_target: boolean;
}

async function main() {
  const reuse = args.db !== undefined && existsSync(args.db);
  const dir = args.db === undefined ? mkdtempSync(join(tmpdir(), 'ephemera-bench-')) : undefined;
  const dbPath = args.db !== undefined ? resolve(args.db) : join(dir!, 'history.db');
  const keep = args.keep || args.db !== undefined;
  let db: Db | undefined;
  try {
    let seeded: Seeded | undefined;
    if (!reuse) {
      process.stderr.write(`seeding ${SESSIONS} sessions into ${dbPath}\n`);
      seeded = await seed(dbPath);
      process.stderr.write(`seeded in ${(seeded.seedMs / 1000).toFixed(1)} s\n`);
    }
    // A fresh connection, opened the way the service opens it.
    db = openDatabase(dbPath);
    const info = seeded ?? { ...describe(db), seedMs: null };
    let adminKey = seeded?.adminKey;
    if (!adminKey) {
      const keys = new SqliteApiKeyStore(db);
      await keys.revoke('bench-admin');
      adminKey = (await keys.create('bench-admin', 'admin')).key;
    }

    const runtime = {
      ping: async () => {},
      run: async () => {
        throw new Error('unused');
      },
      listManaged: async () => [],
      remove: async () => {},
    } as unknown as ContainerRuntime;
    const service = new Service({
      database: new SqliteStore(db),
      runtime,
      config: { ...loadServiceConfig({}), reapIntervalMs: 60_000, instanceId: `bench-${process.pid}` },
      profiles: parseProfiles(BUILTIN_PROFILES),
      logger: pino({ level: 'silent' }),
    });
    const app = createApp(service);
    const admin = { authorization: `Bearer ${adminKey}` };
    // User keys for the search cases. One owns no session at all; the other is a seeded owner
    // (10% of the sessions), whose secret was not kept: give its key a new one.
    const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
    const keyStore = new SqliteApiKeyStore(db);
    await keyStore.revoke('bench-nobody');
    const nobody = bearer((await keyStore.create('bench-nobody', 'user')).key);
    const ciId = db.$client
      .prepare(`select id from api_keys where name = 'bench-ci' and revoked_at is null`)
      .pluck()
      .get() as string | undefined;
    if (!ciId) throw new Error('no bench-ci key in the database');
    const ciKey = `eph_${ciId.slice(4)}_${randomBytes(24).toString('base64url')}`;
    db.$client
      .prepare('update api_keys set secret_hash = ? where id = ?')
      .run(createHash('sha256').update(ciKey).digest('hex'), ciId);
    const ci = bearer(ciKey);

    // Inputs drawn from the data: rowids of sessions and runs are 1..n in insertion order.
    const c = db.$client;
    const sessionByRowid = c.prepare('select id, created_at as createdAt from sessions where rowid = ?');
    const runByRowid = c.prepare('select id from runs where rowid = ?').pluck();
    const maxSessionRowid = c.prepare('select max(rowid) from sessions').pluck().get() as number;
    const maxRunRowid = c.prepare('select max(rowid) from runs').pluck().get() as number;
    const randomSession = () => {
      for (;;) {
        const row = sessionByRowid.get(between(1, maxSessionRowid)) as { id: string; createdAt: number } | undefined;
        if (row) return row;
      }
    };
    const randomRun = () => {
      for (;;) {
        const id = runByRowid.get(between(1, maxRunRowid)) as string | undefined;
        if (id) return id;
      }
    };
    // A deep page: the cursor of a random session from the older half of the list (rowids follow
    // created_at), i.e. past page 1,000 at limit 50.
    const deepCursor = () => {
      for (;;) {
        const row = sessionByRowid.get(between(1, Math.floor(maxSessionRowid / 2))) as
          | { id: string; createdAt: number }
          | undefined;
        if (row) return encodeCursor(row);
      }
    };
    const day = 24 * 3600_000;
    const now = Date.now();
    const owner = info.ownerKeyIds[1] ?? info.ownerKeyIds[0];
    if (!owner) throw new Error('no owner keys in the database');
    const rangeFrom = Math.floor(info.start + (info.end - info.start) / 3);

    type Headers = Record<string, string>;
    /** `empty`: the answer is expected to hold no session (a user who owns none). */
    const endpoints: Array<{ name: string; url: () => string; headers?: Headers; empty?: boolean }> = [
      { name: 'GET /v1/sessions (first page, limit 50)', url: () => '/v1/sessions?limit=50' },
      { name: 'GET /v1/sessions cursor (deep page)', url: () => `/v1/sessions?limit=50&cursor=${deepCursor()}` },
      { name: 'GET /v1/sessions agent=gemini', url: () => '/v1/sessions?limit=50&agent=gemini' },
      { name: 'GET /v1/sessions status=failed', url: () => '/v1/sessions?limit=50&status=failed' },
      { name: 'GET /v1/sessions status=oom', url: () => '/v1/sessions?limit=50&status=oom' },
      { name: 'GET /v1/sessions owner=<key>', url: () => `/v1/sessions?limit=50&owner=${owner}` },
      {
        name: 'GET /v1/sessions from/to (1 day)',
        url: () => `/v1/sessions?limit=50&from=${rangeFrom}&to=${rangeFrom + day}`,
      },
      { name: `GET /v1/sessions q=${RARE_WORD} (0.1%)`, url: () => `/v1/sessions?limit=50&q=${RARE_WORD}` },
      { name: `GET /v1/sessions q=${MID_WORD} (1%)`, url: () => `/v1/sessions?limit=50&q=${MID_WORD}` },
      { name: `GET /v1/sessions q=${COMMON_WORD} (25%)`, url: () => `/v1/sessions?limit=50&q=${COMMON_WORD}` },
      ...WORD_RATES.map(([w, rate]) => ({
        name: `GET /v1/sessions q=${w} (${rate * 100}%), user owning none`,
        url: () => `/v1/sessions?limit=50&q=${w}`,
        headers: nobody,
        empty: true,
      })),
      ...WORD_RATES.map(([w, rate]) => ({
        name: `GET /v1/sessions q=${w} (${rate * 100}%), user owning 10%`,
        url: () => `/v1/sessions?limit=50&q=${w}`,
        headers: ci,
      })),
      { name: 'GET /v1/sessions/:id', url: () => `/v1/sessions/${randomSession().id}` },
      { name: 'GET /v1/sessions/:id/runs', url: () => `/v1/sessions/${randomSession().id}/runs` },
      { name: 'GET /v1/runs/:id', url: () => `/v1/runs/${randomRun()}` },
      { name: 'GET /v1/stats (last 24h)', url: () => '/v1/stats' },
      { name: 'GET /v1/stats (7 days)', url: () => `/v1/stats?from=${now - 7 * day}&to=${now}` },
    ];

    const request = async (url: string, headers: Headers = admin) => {
      const t = performance.now();
      const res = await app.request(url, { headers });
      const body = await res.text();
      const ms = performance.now() - t;
      if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}: ${body.slice(0, 500)}`);
      return { ms, body };
    };

    // Sanity: the filters find what the data holds, so no row times an empty answer by mistake.
    for (const e of endpoints.filter((x) => x.name.startsWith('GET /v1/sessions '))) {
      const { body } = await request(e.url(), e.headers);
      const items = (JSON.parse(body) as { items: unknown[] }).items;
      if (e.empty ? items.length > 0 : items.length === 0) {
        throw new Error(`${e.name}: ${items.length} items; the seeded data does not match the query`);
      }
    }

    const rows: Row[] = [];
    for (const e of endpoints) {
      const deadline = performance.now() + MAX_MS_PER_ENDPOINT;
      for (let i = 0; i < WARMUP && performance.now() < deadline; i++) await request(e.url(), e.headers);
      const samples: number[] = [];
      for (let i = 0; i < ITERATIONS && (i === 0 || performance.now() < deadline); i++) {
        const url = e.url(); // inputs are drawn outside the timed span
        samples.push((await request(url, e.headers)).ms);
      }
      samples.sort((a, b) => a - b);
      const p50 = nearestRank(samples, 50);
      rows.push({
        endpoint: e.name,
        n: samples.length,
        p50_ms: round(p50),
        p95_ms: round(nearestRank(samples, 95)),
        max_ms: round(samples.at(-1)!),
        over_target: p50 > TARGET_P50_MS,
      });
      process.stderr.write(`  ${e.name}: p50 ${p50.toFixed(2)} ms (${samples.length} requests)\n`);
    }

    printTable(rows);
    const result = {
      date: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        cpu_model: cpus()[0]?.model ?? null,
        mem_total_gb: round(totalmem() / 2 ** 30),
        mem_free_gb: round(freemem() / 2 ** 30),
        node: process.version,
        platform: `${process.platform}-${process.arch}`,
      },
      data: {
        sessions: info.sessions,
        runs: info.runs,
        messages: info.messages,
        days: round((info.end - info.start) / day),
        seed_seconds: info.seedMs === null ? null : round(info.seedMs / 1000),
        fts_words: { rare: RARE_WORD, mid: MID_WORD, common: COMMON_WORD },
      },
      settings: {
        iterations: ITERATIONS,
        warmup: WARMUP,
        max_seconds_per_endpoint: MAX_MS_PER_ENDPOINT / 1000,
        target_p50_ms: TARGET_P50_MS,
      },
      results: rows,
    };
    const out = resolve(args.out);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    process.stderr.write(`\nwrote ${out}\n`);
    const missed = rows.filter((r) => r.over_target);
    if (missed.length > 0)
      process.stderr.write(`${missed.length} endpoint(s) over the ${TARGET_P50_MS} ms p50 target (marked *)\n`);
    await service.shutdown(0);
  } finally {
    db?.$client.close();
    if (keep) process.stderr.write(`database kept at ${dbPath}\n`);
    else if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

const round = (x: number) => Math.round(x * 100) / 100;

function printTable(rows: Row[]) {
  const w = Math.max(...rows.map((r) => r.endpoint.length), 'endpoint'.length);
  const line = (a: string, b: string, c: string, d: string, e: string) =>
    `${a.padEnd(w)}  ${b.padStart(9)}  ${c.padStart(9)}  ${d.padStart(9)}  ${e.padStart(5)}`;
  console.log(`\n${line('endpoint', 'p50 ms', 'p95 ms', 'max ms', 'n')}`);
  console.log('-'.repeat(w + 42));
  for (const r of rows) {
    console.log(
      line(
        r.endpoint,
        `${r.over_target ? '*' : ''}${r.p50_ms.toFixed(2)}`,
        r.p95_ms.toFixed(2),
        r.max_ms.toFixed(2),
        String(r.n),
      ),
    );
  }
  console.log(`\n* p50 over the ${TARGET_P50_MS} ms target`);
}

await main();
