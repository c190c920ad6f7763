import { getTableColumns, getTableName, is, Table } from 'drizzle-orm';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { MessageRow, RunEventRow, RunRow, SessionRow, WebhookRow } from '../../src/db/rows.js';
import * as pg from '../../src/db/postgres/schema.js';
import * as lite from '../../src/db/sqlite/schema.js';

/** Each table a schema module exports, by export name, as its row reads back. */
type Rows<S> = {
  [K in keyof S as S[K] extends { $inferSelect: unknown } ? K : never]: S[K] extends { $inferSelect: infer R }
    ? R
    : never;
};

/** Each table a schema module exports: its SQL name and its columns' SQL names. */
const tablesOf = (schema: Record<string, unknown>) =>
  Object.fromEntries(
    Object.values(schema)
      .filter((t): t is Table => is(t, Table))
      .map((t) => [
        getTableName(t),
        Object.values(getTableColumns(t))
          .map((c) => c.name)
          .sort(),
      ]),
  );

describe('the two schemas', () => {
  it('read back the same rows, the contract’s own (checked by the type checker)', () => {
    expectTypeOf<Rows<typeof lite>>().toEqualTypeOf<Rows<typeof pg>>();
    expectTypeOf<typeof lite.sessions.$inferSelect>().toEqualTypeOf<SessionRow>();
    expectTypeOf<typeof lite.runs.$inferSelect>().toEqualTypeOf<RunRow>();
    expectTypeOf<typeof lite.messages.$inferSelect>().toEqualTypeOf<MessageRow>();
    expectTypeOf<typeof lite.runEvents.$inferSelect>().toEqualTypeOf<RunEventRow>();
    expectTypeOf<typeof lite.runWebhooks.$inferSelect>().toEqualTypeOf<WebhookRow>();
  });

  it('have the same tables, with the same column names in SQL', () => {
    const tables = tablesOf(lite);
    expect(Object.keys(tables).sort()).toEqual([
      'api_keys',
      'instances',
      'messages',
      'run_counts',
      'run_events',
      'run_latency',
      'run_webhooks',
      'runs',
      'sessions',
      'workspaces',
    ]);
    expect(tablesOf(pg)).toEqual(tables);
  });
});
