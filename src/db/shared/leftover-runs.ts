import { and, eq, ne, notInArray, or, sql, type AnyColumn } from 'drizzle-orm';
import { INTERRUPTED } from '../../errors.js';

/** The columns of `runs` these take: the same names in both dialects' schemas. */
interface RunColumns {
  status: AnyColumn;
  instanceId: AnyColumn;
  createdAt: AnyColumn;
}

/** What marking a gone process's run interrupted writes (both stores; the cast is for Postgres's bigint). */
export function interruptedColumns(runs: RunColumns, now: number) {
  return {
    status: 'interrupted' as const,
    errorCode: INTERRUPTED.byDeadProcess.code,
    errorMessage: INTERRUPTED.byDeadProcess.message,
    endedAt: now,
    totalMs: sql`cast(${now} as bigint) - ${runs.createdAt}`,
  };
}

/**
 * The running runs no live instance will end: this instance's own (`ownToo`: it has just
 * started, so none of them is live) or unowned ones, and those of instances not in `alive`.
 */
export function leftoverRuns(runs: RunColumns, instanceId: string, alive: string[], ownToo: boolean) {
  return and(
    eq(runs.status, 'running'),
    ownToo
      ? or(eq(runs.instanceId, instanceId), sql`${runs.instanceId} is null`, notInArray(runs.instanceId, alive))
      : and(ne(runs.instanceId, instanceId), notInArray(runs.instanceId, alive)),
  );
}

/** Sessions left `running` with no run running any more are interrupted too (both dialects' SQL). */
export const INTERRUPT_ORPHANED_SESSIONS = `
  update sessions set last_status = 'interrupted'
   where last_status = 'running'
     and not exists (select 1 from runs where runs.session_id = sessions.id and runs.status = 'running')`;
