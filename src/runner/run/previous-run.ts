import type { Principal } from '../../auth/principal.js';
import type { TranscriptStore } from '../../db/contract.js';
import type { MessageRow, RunRow } from '../../db/rows.js';
import { AppError } from '../../errors.js';

/**
 * Idempotency-Key on the run endpoints: a request retried with the same key (by the same
 * API key) never stores its turn twice. What the retry gets, by the state of the run the
 * first request began:
 * - none yet: it runs, and the run keeps the key;
 * - still running: 409 RUN_IN_PROGRESS with Retry-After (a keyed run goes on when its
 *   client leaves, so a client cut off mid-run can come back for the outcome);
 * - ended after its container ran, whatever its status: that outcome, from the store;
 * - failed before any container ran it (the engine refused it: unavailable, no image), and
 *   still the session's last turn: the same stored turn runs again under a new run, the prompt
 *   not stored twice (once the session moved on, the failure is the outcome: running it now
 *   would put its reply after later turns);
 * The same key with another prompt, session or agent is 422 IDEMPOTENCY_KEY_REUSED.
 */
export type PreviousRun =
  | { kind: 'none' }
  | { kind: 'running'; run: RunRow }
  | { kind: 'ended'; run: RunRow; reply: MessageRow | undefined }
  | { kind: 'retry'; run: RunRow };

export async function previousRun(
  store: TranscriptStore,
  principal: Principal,
  key: string,
  req: { prompt: string; agent?: string; sessionId?: string },
): Promise<PreviousRun> {
  const run = await store.runByIdempotencyKey(principal.keyId, key);
  if (!run) return { kind: 'none' };
  const { prompt, reply } = await store.turnOf(run.id);
  const other =
    prompt !== req.prompt ||
    (req.sessionId !== undefined && req.sessionId !== run.sessionId) ||
    (req.agent !== undefined && req.agent !== run.agent);
  if (other) {
    throw new AppError(
      'IDEMPOTENCY_KEY_REUSED',
      'this Idempotency-Key came with another request (another prompt, session or agent); a new request needs a new key',
    );
  }
  if (run.status === 'running') return { kind: 'running', run };
  if (neverRan(run) && (await store.isLastTurn(run))) return { kind: 'retry', run };
  return { kind: 'ended', run, reply };
}

/** The engine's own refusals before a container ran (a run interrupted by a crash may have run: it is not one). */
const ENGINE_FAULTS = new Set(['RUNTIME_UNAVAILABLE', 'IMAGE_NOT_FOUND', 'RUNTIME_ERROR']);
const neverRan = (run: RunRow) =>
  run.status === 'failed' && run.startMs === null && ENGINE_FAULTS.has(run.errorCode ?? '');
