import { defineConfig } from 'vitest/config';

// Two projects: `unit` (pure logic, no Docker engine needed, seconds) and `integration`
// (the real engine, a real SQLite file; checks for the engine and the images once).
// `npm test` runs both; `npm run test:unit` runs the first alone, anywhere.
export default defineConfig({
  test: {
    pool: 'forks',
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
    ],
  },
});
