import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The suite's Postgres server (scripts/ensure-postgres.sh starts it; EPHEMERA_TEST_POSTGRES
 * names another). Each user of it gets a database of its own, dropped after, so test files
 * running side by side never meet. An unreachable server fails the tests that need it: it is
 * never a reason to skip them.
 */
export const TEST_POSTGRES = process.env.EPHEMERA_TEST_POSTGRES ?? 'postgres://ephemera_test:ephemera_test@127.0.0.1:5432/postgres';

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `ephemera_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_POSTGRES });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(TEST_POSTGRES);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: TEST_POSTGRES });
      await c.connect();
      try {
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}
