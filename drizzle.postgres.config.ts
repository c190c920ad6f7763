import { defineConfig } from 'drizzle-kit';

// The Postgres schema's migrations (DATABASE_URL): npm run db:generate:postgres. The first one
// also holds, written by hand, what drizzle-kit does not write: text search, roll-up triggers.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/postgres/schema.ts',
  out: './migrations/postgres',
});
