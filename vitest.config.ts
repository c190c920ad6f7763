import { defineConfig } from 'vitest/config';

// The `unit` project is pure logic (no Docker engine needed, seconds); `npm run test:unit` runs
// it alone, anywhere. The integration files use the real engine: `integration` with the service
// on a real SQLite file (checks for the engine and the images once), `postgres` the same files
// again with the service on Postgres (EPHEMERA_TEST_STORE; scripts/ensure-postgres.sh). Not on
// Postgres: the files about the SQLite file itself, and those that run on Postgres already (the
// store contract, on both; replicas; the password file). `npm test` runs them all.
const NOT_ON_POSTGRES = ['sqlite-file', 'search-fts5', 'store-contract', 'replicas', 'database-password'];

// Most files wait on the engine and the database, not the CPU: two at a time, even on two
// cores (vitest's default there is one). These assert deadlines and timings under a CPU-heavy
// load of their own (agent CLIs, fork bombs, standby containers, admission windows): they run
// afterwards, one file at a time (`-serial` projects), where another file's load cannot make
// them miss (seen: a standby watcher not yet up, a fork bomb's shell ending early).
const TIMED = ['standby', 'isolation', 'admission', 'gemini', 'claude'];
const timed = TIMED.map((f) => `test/${f}.test.ts`);

// The `podman` projects run a subset on Podman's API (scripts/setup-podman.sh): runs, replay, the
// workspace, egress, the reaper and an engine restart; standby and the agents one file at a time.
const ON_PODMAN = [
  'streaming',
  'run-endings',
  'stdin',
  'run-events',
  'replay',
  'workspace',
  'workspace-api',
  'egress-lock',
  'engine-faults',
  'standby-engine-restart',
  'container-removal',
];
const ON_PODMAN_TIMED = ['standby', 'gemini', 'claude'];
const onPodman = { env: { DOCKER_HOST: 'unix:///run/podman/podman.sock' } };

const engine = { globalSetup: ['test/helpers/global-setup.ts'] };
const onPostgres = { env: { EPHEMERA_TEST_STORE: 'postgres' } };
const notOnPostgres = NOT_ON_POSTGRES.map((f) => `test/${f}.test.ts`);
// Projects of one group run together (they must share maxWorkers); groups run one after another.
const serial = (group: number) => ({ maxWorkers: 1, sequence: { groupOrder: group } });

export default defineConfig({
  test: {
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: { name: 'integration', include: ['test/**/*.test.ts'], exclude: ['test/unit/**', ...timed], ...engine },
      },
      {
        extends: true,
        test: {
          name: 'postgres',
          include: ['test/**/*.test.ts'],
          exclude: ['test/unit/**', ...notOnPostgres, ...timed],
          ...engine,
          ...onPostgres,
        },
      },
      { extends: true, test: { name: 'integration-serial', include: timed, ...engine, ...serial(1) } },
      { extends: true, test: { name: 'postgres-serial', include: timed, ...engine, ...onPostgres, ...serial(2) } },
      {
        extends: true,
        test: { name: 'podman', include: ON_PODMAN.map((f) => `test/${f}.test.ts`), ...engine, ...onPodman },
      },
      {
        extends: true,
        test: {
          name: 'podman-serial',
          include: ON_PODMAN_TIMED.map((f) => `test/${f}.test.ts`),
          ...engine,
          ...onPodman,
          ...serial(3),
        },
      },
    ],
  },
});
