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
  WORKSPACE_TOO_LARGE: 413,
  WORKSPACE_REJECTED: 400,
  WORKSPACE_NOT_KEPT: 409,
  AGENT_MISMATCH: 409,
  CAPACITY: 429,
  SHUTTING_DOWN: 503,
  AGENT_UNAVAILABLE: 503,
  RUNTIME_UNAVAILABLE: 503,
  IMAGE_NOT_FOUND: 503,
  RUNTIME_ERROR: 502,
  INTERNAL: 500,
};

export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

export function errorResponse(c: Context, code: ErrorCode, message: string, headers?: Record<string, string>): Response {
  const body: ErrorBody = { error: { code, message } };
  return c.json(body, STATUS_OF[code], { 'Cache-Control': 'no-store', ...headers });
}
