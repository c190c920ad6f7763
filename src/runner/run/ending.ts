import type { Verdict } from '../agents/agent.js';
import type { RunStopped } from './run-stopped.js';
import type { RunError, EndStatus } from './run-status.js';
import { RuntimeError, type ContainerExit } from '../runtime.js';

/**
 * A run's ending: its status and its error when it has one. The service's stop (deadline,
 * cancel, output cap, shutdown) and the kernel's OOM kill come first; else the agent's verdict.
 */
export interface Ending {
  status: EndStatus;
  error: RunError | null;
}

/**
 * A run whose container exited: the service's stop says first, then the kernel's OOM
 * kill; else the agent judges from the exit code and what it printed.
 */
export function endingOfExit(
  exit: ContainerExit,
  stopped: RunStopped | undefined,
  memoryBytes: number,
  judge: () => Verdict,
): Ending {
  if (stopped) return { status: stopped.status, error: null };
  if (exit.oomKilled)
    return {
      status: 'oom',
      error: { code: 'OOM', message: `the run went over its ${memoryBytes / 1048576} MiB memory limit` },
    };
  return judge();
}

/** What went wrong in the container's run, as a RuntimeError: the engine's own, or a bug's, unnamed. */
export function asRuntimeError(err: unknown): RuntimeError {
  return err instanceof RuntimeError ? err : new RuntimeError('RUNTIME_ERROR', 'the run failed unexpectedly');
}

/** A run the engine (or a bug) failed. */
export function endingOfFault(fault: RuntimeError): Ending {
  return { status: 'failed', error: { code: fault.code, message: fault.message } };
}

/**
 * When a stopped run ended with its stop's status, the stop says why (over budget, say,
 * even if the engine also failed); a run that ended otherwise keeps its own error.
 */
export function withStopError<C extends Ending>(
  c: C,
  stopped: RunStopped | undefined,
  run: { timeoutMs: number; maxOutputBytes: number },
): C {
  return stopped && c.status === stopped.status ? { ...c, error: stopped.error(run) } : c;
}
