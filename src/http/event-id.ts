/**
 * The id a run's event goes by in SSE (`id:`) and in the log's pages: `<run id>:<seq>`, so a
 * `Last-Event-ID` of another run's stream is told apart from one of this run.
 */
export function eventId(runId: string, seq: number): string {
  return `${runId}:${seq}`;
}

/**
 * The seq after which a reader resumes, from a `Last-Event-ID` or `?after=`: an id this API gave
 * out for this run, or a bare seq (what a script counting events has). An error says why not.
 */
const MAX_SEQ = 2 ** 31 - 1;

export function resumeAfter(cursor: string | undefined, runId: string): number | { error: string } {
  if (cursor === undefined || cursor === '') return 0;
  const m = /^(?:(.+):)?(\d{1,15})$/.exec(cursor.trim());
  if (!m) return { error: `not an event id of this API: ${JSON.stringify(cursor.slice(0, 80))}` };
  if (m[1] !== undefined && m[1] !== runId) return { error: `event id ${m[1]}:${m[2]} is not of run ${runId}` };
  // No run has that many events (Postgres keeps seq as a 32-bit integer and would refuse the query).
  if (Number(m[2]) > MAX_SEQ) return { error: `event id ${cursor.slice(0, 80)} is past any event of run ${runId}` };
  return Number(m[2]);
}
