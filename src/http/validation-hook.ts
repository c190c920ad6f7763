import type { Hook } from '@hono/zod-openapi';
import { errorResponse } from './errors.js';

/** Query and path validation failures as our JSON error, naming each bad field. */
// biome-ignore lint/suspicious/noExplicitAny: one hook for every route, whatever its bindings and path
export const validationHook: Hook<unknown, any, any, unknown> = (result, c) => {
  if (result.success) return;
  const message = result.error.issues.map((i) => `${i.path.join('.') || 'request'}: ${i.message}`).join('; ');
  return errorResponse(c, 'INVALID_QUERY', message);
};
