import { defineConfig } from 'vitest/config';

// Three projects: `unit` (pure logic, no Docker engine needed, seconds), `integration`
// (the real engine, a real SQLite file; checks for the engine and the images once), and
// `postgres`: the same integration files again with the service on Postgres
// (EPHEMERA_TEST_STORE; scripts/ensure-postgres.sh). Not in it: the files about the SQLite file
// itself, and those that run on Postgres already (the store contract, on both; replicas; the
// password file).
// `npm test` runs all three; `npm run test:unit` runs the first alone, anywhere.
const NOT_ON_POSTGRES = ['sqlite-file', 'search-fts5', 'store-contract', 'replicas', 'database-password'];

export default defineConfig({
  test: {
    pool: 'forks',
    // Two files at a time even on two cores (vitest's default there is one): the integration
    // files wait on the engine and the database, not the CPU. 470 s → 272 s for the suite here.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: ['test/unit/**'],
          globalSetup: ['test/helpers/global-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'postgres',
          include: ['test/**/*.test.ts'],
          exclude: ['test/unit/**', ...NOT_ON_POSTGRES.map((f) => `test/${f}.test.ts`)],
          env: { EPHEMERA_TEST_STORE: 'postgres' },
          globalSetup: ['test/helpers/global-setup.ts'],
        },
      },
    ],
  },
});
