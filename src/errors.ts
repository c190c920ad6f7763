/**
 * Every error a caller can see, by code. The HTTP layer maps each code to a status
 * in one place (src/http/errors.ts); the rest of the code only names the code.
 */
export const ERROR_CODES = [
  'EMPTY_PROMPT',
  'INVALID_BODY',
  'INVALID_JSON',
  'INVALID_UTF8',
  'UNKNOWN_AGENT',
  'PAYLOAD_TOO_LARGE',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'HOST_NOT_ALLOWED',
  'CROSS_SITE',
  'INVALID_QUERY',
  'NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'UPGRADE_REQUIRED',
  'SESSION_BUSY',
  'RUN_IN_PROGRESS',
  'IDEMPOTENCY_KEY_REUSED',
  'WORKSPACE_TOO_LARGE',
  'WORKSPACE_REJECTED',
  'WORKSPACE_NOT_KEPT',
  'AGENT_MISMATCH',
  'WEBHOOK_NOT_ALLOWED',
  'CAPACITY',
  'SHUTTING_DOWN',
  'AGENT_UNAVAILABLE',
  'RUNTIME_UNAVAILABLE',
  'IMAGE_NOT_FOUND',
  'RUNTIME_ERROR',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * The two endings of a run with status `interrupted`, stored as its error. Both codes stay:
 * callers (and tests) tell a graceful shutdown from a crash by them.
 */
export const INTERRUPTED = {
  /** This service shut down gracefully and killed the run when its grace period ran out. */
  byShutdown: { code: 'SHUTDOWN', message: 'the service shut down before the run ended' },
  /** A process died and left the run `running`; the next start (of this instance or another) found it. */
  byDeadProcess: { code: 'INTERRUPTED', message: 'the service stopped before this run ended' },
} as const;

export class AppError extends Error {
  override name = 'AppError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}
