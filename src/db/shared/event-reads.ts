/** Run ids per statement when reading several runs' events: far below SQLite's 32,766 variables. */
export const RUN_IDS_PER_QUERY = 500;

/** What `read` gives for each slice of RUN_IDS_PER_QUERY run ids, in order, as one list. */
export async function readByRunIds<T>(
  runIds: readonly string[],
  read: (ids: string[]) => T[] | Promise<T[]>,
): Promise<T[]> {
  const rows: T[] = [];
  for (let i = 0; i < runIds.length; i += RUN_IDS_PER_QUERY)
    rows.push(...(await read(runIds.slice(i, i + RUN_IDS_PER_QUERY))));
  return rows;
}
