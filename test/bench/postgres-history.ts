// The history endpoints on Postgres at 100k sessions (issue 17: p50 <= 10 ms), in-process
// through app.request as test/bench/history.ts does for SQLite. Seeded in SQL (generate_series):
// 100k sessions over 30 days, one run and two messages each, owners spread over three keys and
// none; every 1,000th prompt holds a rare word for the search rows.
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { createApp } from '../../src/app.js';
import { openPostgresStore } from '../../src/db/postgres/store.js';
import type { ContainerRuntime } from '../../src/runner/runtime.js';
import { Service } from '../../src/service.js';
import { createTestDatabase } from '../helpers/postgres.js';
import { BUILTIN_PROFILES, loadServiceConfig, parseProfiles } from '../../src/settings.js';
import { pct, r2 } from './figures.js';

const SESSIONS = Number(process.env.BENCH_PG_SESSIONS ?? 100_000);
const ITERATIONS = 50;

export async function postgresHistoryBench(log: (s: string) => void) {
  const pg = await createTestDatabase();
  const store = await openPostgresStore(pg.url);
  try {
    const seeded = performance.now();
    const keys = await Promise.all(
      ['alice', 'bob', 'ci'].map((n) => store.keys.create(`bench-${n}`, n === 'ci' ? 'admin' : 'user')),
    );
    const [alice, , admin] = keys;
    const end = Date.now() - 3600_000;
    const span = 30 * 24 * 3600_000;
    const client = store.db.$client;
    await client.query(
      `insert into sessions (id, agent, owner_key_id, created_at, updated_at, turns, last_status, total_ms, total_tokens)
       select 'ses_' || lpad(to_hex(i), 29, '0'), (array['shell','cat','gemini'])[1 + i % 3],
              (array[null, $1, $2, $3])[1 + i % 4], $4::bigint - $5::bigint + (i::bigint * $5::bigint / $6::bigint),
              $4::bigint - $5::bigint + (i::bigint * $5::bigint / $6::bigint) + 500, 1,
              (array['succeeded','succeeded','succeeded','failed','timeout'])[1 + i % 5], 500, 0
         from generate_series(1, $6::int) as i`,
      [keys[0]!.info.id, keys[1]!.info.id, keys[2]!.info.id, end, span, SESSIONS],
    );
    await client.query(
      `insert into runs (id, session_id, agent, image, instance_id, status, timeout_ms, first_byte_ms, total_ms, created_at, ended_at)
       select 'run_' || substr(s.id, 5), s.id, s.agent, 'bench', 'bench', s.last_status, 60000, 40 + (s.created_at % 200), 500, s.created_at, s.created_at + 500
         from sessions s`,
    );
    await client.query(
      `insert into messages (session_id, run_id, role, content, created_at)
       select s.id, 'run_' || substr(s.id, 5), m.role,
              case when m.role = 'user' then 'please summarise report ' || (s.created_at % 997) ||
                   case when (s.created_at / 1000) % 1000 = 0 then ' zanzibar' else '' end
                   else 'the report says ' || (s.created_at % 991) || ' things, mostly fine' end,
              s.created_at
         from sessions s cross join (values ('user'), ('assistant')) as m(role)`,
    );
    await client.query('analyze');
    const seedMs = performance.now() - seeded;
    log(`postgres history: ${SESSIONS} sessions seeded in ${Math.round(seedMs / 1000)} s`);

    const service = new Service({
      database: store,
      runtime: { listManaged: async () => [], remove: async () => {} } as unknown as ContainerRuntime,
      config: { ...loadServiceConfig({}), reapIntervalMs: 60_000, instanceId: `bench-${process.pid}` },
      profiles: parseProfiles(BUILTIN_PROFILES),
      logger: pino({ level: 'silent' }),
    });
    const app = createApp(service);
    const env = { incoming: { socket: { remoteAddress: '127.0.0.1' } } };
    const get = async (path: string, key: string) => {
      const res = await app.request(path, { headers: { authorization: `Bearer ${key}` } }, env);
      if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
      return res.json() as Promise<{ items?: Array<{ id: string }> }>;
    };
    const some = (await get('/v1/sessions?limit=1', admin!.key)).items![0]!.id;
    const rows: Record<string, { p50_ms: number; p95_ms: number }> = {};
    const time = async (name: string, path: string, key: string) => {
      for (let i = 0; i < 5; i++) await get(path, key);
      const ms: number[] = [];
      for (let i = 0; i < ITERATIONS; i++) {
        const t0 = performance.now();
        await get(path, key);
        ms.push(performance.now() - t0);
      }
      rows[name] = { p50_ms: r2(pct(ms, 50)), p95_ms: r2(pct(ms, 95)) };
    };
    await time('list, admin, first page of 50', '/v1/sessions?limit=50', admin!.key);
    await time("list, a user's own, first page of 50", '/v1/sessions?limit=50', alice!.key);
    await time('list, admin, by agent and status', '/v1/sessions?agent=gemini&status=failed&limit=50', admin!.key);
    await time('one session with its messages', `/v1/sessions/${some}`, admin!.key);
    await time("a session's runs", `/v1/sessions/${some}/runs`, admin!.key);
    await time("search, a user's own, rare word", '/v1/sessions?q=zanzibar&limit=20', alice!.key);
    await time('search, admin, rare word', '/v1/sessions?q=zanzibar&limit=20', admin!.key);
    await time('stats, last 24 h', '/v1/stats', admin!.key);
    await time('stats, last 7 days', `/v1/stats?from=${Date.now() - 7 * 24 * 3600_000}`, admin!.key);
    await service.shutdown(0);
    return {
      sessions: SESSIONS,
      messages: SESSIONS * 2,
      runs: SESSIONS,
      seed_s: Math.round(seedMs / 1000),
      iterations: ITERATIONS,
      rows,
    };
  } finally {
    await store.close();
    await pg.drop();
  }
}
