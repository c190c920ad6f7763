import { eq, gte, lt, sql, type AnyColumn, type SQL } from 'drizzle-orm';
import type { SessionFilter } from '../contract.js';

/** A session table's columns a listing filters on, in either database's schema. */
export interface SessionColumns {
  agent: AnyColumn;
  lastStatus: AnyColumn;
  ownerKeyId: AnyColumn;
  createdAt: AnyColumn;
  id: AnyColumn;
}

/** A listing's filter and cursor as conditions on `sessions` (the text search aside). */
export function sessionConditions(
  t: SessionColumns,
  filter: SessionFilter,
  cursor?: { createdAt: number; id: string },
): SQL[] {
  const where: SQL[] = [];
  if (filter.agent !== undefined) where.push(eq(t.agent, filter.agent));
  if (filter.status !== undefined) where.push(eq(t.lastStatus, filter.status));
  if (filter.ownerKeyId !== undefined) where.push(eq(t.ownerKeyId, filter.ownerKeyId));
  if (filter.from !== undefined) where.push(gte(t.createdAt, filter.from));
  if (filter.to !== undefined) where.push(lt(t.createdAt, filter.to));
  // The row-value form lets the database seek in the index instead of walking it from the top.
  if (cursor) where.push(sql`(${t.createdAt}, ${t.id}) < (${cursor.createdAt}, ${cursor.id})`);
  return where;
}

/**
 * Matching messages one text search reads at most admins included.
 * A match costs 2-7 µs on the benchmark machine (more when most belong to different
 * sessions), so a refused search holds the event loop for 25-65 ms there (BENCHMARKS.md);
 * a first page with no other filter reads a few hundred.
 */
export const MAX_SEARCH_SCAN = 10_000;
/** Matching messages read per query while a search walks back. */
export const MATCH_BATCH = 500;
