import type { MessageRow, RunRow } from '../db/rows.js';
import type { RunResult } from '../runner/run/run.js';
import type { EndStatus } from '../runner/run/run-status.js';

/** What an answer reads of a run's result, whether the run just ended or ended before (from the store). */
export type StoredResult = Pick<
  RunResult,
  'sessionId' | 'runId' | 'agent' | 'status' | 'exitCode' | 'error' | 'output' | 'stderr' | 'usage'
> & {
  /** Bytes of a long reply the store left out of `output` (its head and tail are kept). */
  outputOmittedBytes: number;
};

/**
 * A run that ended before, from the store, as its result: what an Idempotency-Key's repeat is
 * answered from, in every mode (src/http/respond/stored.ts, src/http/openai/completion.ts).
 * Tool calls are not stored; the reply is as stored.
 */
export function storedResult(run: RunRow, reply: MessageRow | undefined): StoredResult {
  return {
    sessionId: run.sessionId,
    runId: run.id,
    agent: run.agent,
    status: run.status as EndStatus,
    exitCode: run.exitCode,
    error: run.errorCode ? { code: run.errorCode, message: run.errorMessage ?? '' } : null,
    output: reply?.content ?? '',
    outputOmittedBytes: reply?.omittedBytes ?? 0,
    stderr: run.stderr,
    usage:
      run.totalTokens === null
        ? null
        : {
            inputTokens: run.inputTokens ?? 0,
            outputTokens: run.outputTokens ?? 0,
            totalTokens: run.totalTokens,
            toolCalls: run.toolCalls ?? 0,
          },
  };
}
