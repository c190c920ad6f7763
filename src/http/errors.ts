import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ErrorCode } from '../errors.js';

/** The one place that maps an error code to an HTTP status. */
export const STATUS_OF: Record<ErrorCode, ContentfulStatusCode> = {
  EMPTY_PROMPT: 400,
  INVALID_BODY: 400,
  INVALID_JSON: 400,
  INVALID_UTF8: 400,
  UNKNOWN_AGENT: 400,
  PAYLOAD_TOO_LARGE: 413,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  HOST_NOT_ALLOWED: 403,
  CROSS_SITE: 403,
  INVALID_QUERY: 400,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  UPGRADE_REQUIRED: 426,
  SESSION_BUSY: 409,
  RUN_IN_PROGRESS: 409,
  IDEMPOTENCY_KEY_REUSED: 422,
  WORKSPACE_TOO_LARGE: 413,
  WORKSPACE_REJECTED: 400,
  WORKSPACE_NOT_KEPT: 409,
  AGENT_MISMATCH: 409,
  WEBHOOK_NOT_ALLOWED: 400,
  CAPACITY: 429,
  SHUTTING_DOWN: 503,
  AGENT_UNAVAILABLE: 503,
  RUNTIME_UNAVAILABLE: 503,
  IMAGE_NOT_FOUND: 503,
  RUNTIME_ERROR: 502,
  INTERNAL: 500,
};

export interface ErrorBody {
  error: { code: ErrorCode; message: string; type?: string; param?: null };
}

/**
 * The error as JSON with its status. On the OpenAI-compatible paths the body also carries
 * OpenAI's `type` and `param`, so its SDKs read it as their own (`code` and `message` are ours).
 */
export function errorResponse(
  c: Context,
  code: ErrorCode,
  message: string,
  headers?: Record<string, string>,
): Response {
  const status = STATUS_OF[code];
  const body: ErrorBody = {
    error: { code, message, ...(isOpenAiPath(c.req.path) && { type: openAiType(status), param: null }) },
  };
  return c.json(body, status, { 'Cache-Control': 'no-store', ...headers });
}

export const isOpenAiPath = (path: string) =>
  path === '/v1/chat/completions' || path === '/v1/models' || path.startsWith('/v1/models/');

/** OpenAI's error `type` for a status. */
export function openAiType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}
