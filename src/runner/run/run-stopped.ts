import { INTERRUPTED } from '../../errors.js';
import type { RunError, EndStatus } from './run-status.js';

export type StopReason = 'timeout' | 'cancelled' | 'output_limit' | 'interrupted' | 'budget';

/** Why the service stopped a run before its process ended. */
export class RunStopped extends Error {
  constructor(
    readonly reason: StopReason,
    /** What the reason's error message says, where it needs more than the run (budget). */
    readonly detail = '',
  ) {
    super(reason);
  }

  /** The run's status: a run over its model budget has failed. */
  get status(): EndStatus {
    return this.reason === 'budget' ? 'failed' : this.reason;
  }

  /** The error a run stopped for this reason reports. */
  error(run: { timeoutMs: number; maxOutputBytes: number }): RunError {
    return STOP_ERRORS[this.reason](run, this);
  }
}

const STOP_ERRORS: Record<
  StopReason,
  (run: { timeoutMs: number; maxOutputBytes: number }, stopped: RunStopped) => RunError
> = {
  budget: (_r, stopped) => ({ code: 'BUDGET_EXCEEDED', message: stopped.detail }),
  timeout: (r) => ({ code: 'TIMEOUT', message: `the run exceeded its ${r.timeoutMs} ms deadline` }),
  cancelled: () => ({ code: 'CANCELLED', message: 'the client went away before the run ended' }),
  output_limit: (r) => ({
    code: 'OUTPUT_LIMIT',
    message: `the run printed more than ${r.maxOutputBytes} bytes; output kept up to that`,
  }),
  interrupted: () => ({ ...INTERRUPTED.byShutdown }),
};
