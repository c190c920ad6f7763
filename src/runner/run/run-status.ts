import type { RunStatus } from '../../db/rows.js';

/** The status a run ends with: any but `running`. */
export type EndStatus = Exclude<RunStatus, 'running'>;

/** A run's error: a code callers act on, and a message people read. */
export type RunError = { code: string; message: string };
