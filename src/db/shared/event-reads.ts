/** Run ids per statement when reading several runs' events: far below SQLite's 32,766 variables. */
export const RUN_IDS_PER_QUERY = 500;
