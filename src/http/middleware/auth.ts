import { createMiddleware } from 'hono/factory';
import type { Logger } from 'pino';
import { LOCAL_OPERATOR, type Principal } from '../../auth/principal.js';
import type { ApiKeyStore } from '../../db/api-keys.js';
import { errorResponse } from '../errors.js';

export type AuthEnv = { Variables: { principal: Principal; requestId: string; logger: Logger } };

/**
 * `Authorization: Bearer <key>`. With no active key the service runs keyless (it then
 * binds only to loopback, see src/index.ts) and every caller is the local operator.
 */
export function bearerAuth(keys: ApiKeyStore) {
  return createMiddleware<AuthEnv>(async (c, next) => {
    if (!keys.anyActive()) {
      c.set('principal', LOCAL_OPERATOR);
      return next();
    }
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+([A-Za-z0-9_\-.~+/=]{10,200})\s*$/i.exec(header);
    const challenge = { 'WWW-Authenticate': 'Bearer realm="ephemera"' };
    if (!match) return errorResponse(c, 'UNAUTHORIZED', 'send an API key: Authorization: Bearer <key>', challenge);
    const key = keys.verify(match[1]!);
    if (!key) return errorResponse(c, 'UNAUTHORIZED', 'the API key is not valid or was revoked', challenge);
    c.set('principal', { keyId: key.id, role: key.role });
    return next();
  });
}

/** Only admin keys (or the keyless local operator) pass. */
export const adminOnly = createMiddleware<AuthEnv>(async (c, next) => {
  if (c.get('principal').role !== 'admin') return errorResponse(c, 'FORBIDDEN', 'this endpoint needs an admin key');
  return next();
});
