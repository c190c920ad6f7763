// npm run soak [-- --total 1000 --concurrency 16]: a bounded load on loopback against a
// service built from the real parts, then the leak and loss checks. Exits 1 on any problem.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Docker from 'dockerode';
import pino from 'pino';
import { createApp } from '../../src/app.js';
import { Service } from '../../src/service.js';
import { openSqliteStore } from '../../src/db/sqlite/store.js';
import { DockerRuntime } from '../../src/runner/docker/docker-runtime.js';
import { listen } from '../helpers/harness.js';
import { runSoak, sqliteIntegrity } from './soak.js';
import { loadProfiles, loadServiceConfig } from '../../src/settings.js';

const { values } = parseArgs({
  options: { total: { type: 'string', default: '1000' }, concurrency: { type: 'string', default: '16' } },
});
const total = Number(values.total);
const concurrency = Number(values.concurrency);

const dir = mkdtempSync(join(tmpdir(), 'ephemera-soak-'));
const dbPath = join(dir, 'soak.db');
const database = openSqliteStore(dbPath);
const instanceId = `soak-${process.pid}`;
const maxBodyBytes = 64 * 1024;
const service = new Service({
  database,
  runtime: new DockerRuntime(new Docker()),
  config: {
    ...loadServiceConfig({}),
    maxBodyBytes,
    maxTimeoutMs: 60_000,
    maxOutputBytes: 256 * 1024,
    // One caller (the keyless operator) drives the whole soak.
    maxConcurrentRuns: concurrency,
    maxRunsPerKey: concurrency,
    maxQueuedRuns: 1000,
    maxQueuedPerKey: 1000,
    queueTimeoutMs: 120_000,
    instanceId,
  },
  profiles: loadProfiles('config/profiles.json'),
  logger: pino({ level: 'silent' }),
});
const app = createApp(service);
await service.startBackground();
const server = await listen(app);
const rssBefore = process.memoryUsage().rss;
let peakRss = rssBefore;
const report = await runSoak({
  url: server.url,
  rows: async (text) => database.db.$client.prepare(text).all() as Record<string, unknown>[],
  integrity: async () => sqliteIntegrity(database.db),
  instanceId,
  total,
  concurrency,
  maxBodyBytes,
  onProgress: (done) => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    if (done % 50 === 0 || done === total) process.stderr.write(`\r${done}/${total}`);
  },
});
process.stderr.write('\n');
await server.close();
await service.shutdown(0);
await database.close();
rmSync(dir, { recursive: true, force: true });

console.log(
  JSON.stringify(
    { ...report, rssMb: { before: Math.round(rssBefore / 1048576), peak: Math.round(peakRss / 1048576) } },
    null,
    2,
  ),
);
if (report.problems.length > 0) {
  console.error(`soak: ${report.problems.length} problem(s)`);
  process.exit(1);
}
console.log(`soak: ok, ${report.requests} requests in ${report.seconds.toFixed(1)} s`);
