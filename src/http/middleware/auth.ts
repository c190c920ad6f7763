import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { Logger } from 'pino';
import { isLoopbackAddress, isLoopbackListen } from '../../auth/loopback.js';
import { LOCAL_OPERATOR, type Principal } from '../../auth/principal.js';
import type { ApiKeyStore } from '../../db/contract.js';
import { errorResponse } from '../errors.js';
import { localOperatorRefusal } from './local-operator.js';
import { bearerFromSubprotocol } from '../ws/server.js';

export type AuthEnv = { Variables: { principal: Principal; requestId: string; logger: Logger } };

export interface AuthOptions {
  keys: ApiKeyStore;
  /** The address the service listens on (HOST). */
  listenHost: string;
  /** Host names besides the loopback ones that keyless requests may use. */
  allowedHosts: readonly string[];
}

const CHALLENGE = { 'WWW-Authenticate': 'Bearer realm="ephemera"' };

/**
 * `Authorization: Bearer <key>` (on a WebSocket upgrade, the subprotocol `ephemera.bearer.<key>`
 * may carry it instead), or no key at all for the local operator. Keyless
 * serving is decided per request and fails closed: only while no key was ever created,
 * only when the service listens on loopback, only from a loopback peer, and only for
 * requests a web page cannot forge (see local-operator.ts). Revoking every key never
 * reopens the service.
 */
export function authenticate(opts: AuthOptions) {
  const listensOnLoopback = isLoopbackListen(opts.listenHost);
  return createMiddleware<AuthEnv>(async (c, next) => {
    const header =
      c.req.header('authorization') ??
      bearerFromSubprotocol(c.req.path, c.req.header('upgrade'), c.req.header('sec-websocket-protocol'));
    if (header === undefined) {
      if (!listensOnLoopback || (await opts.keys.everCreated()) || !isLoopbackAddress(peerAddress(c))) {
        return errorResponse(c, 'UNAUTHORIZED', 'send an API key: Authorization: Bearer <key>', CHALLENGE);
      }
      const refusal = localOperatorRefusal(c, opts.allowedHosts);
      if (refusal)
        return errorResponse(c, refusal.code, refusal.message, refusal.code === 'UNAUTHORIZED' ? CHALLENGE : undefined);
      c.set('principal', LOCAL_OPERATOR);
      return next();
    }
    const match = /^Bearer\s+([A-Za-z0-9_\-.~+/=]{10,200})\s*$/i.exec(header);
    if (!match) return errorResponse(c, 'UNAUTHORIZED', 'send an API key: Authorization: Bearer <key>', CHALLENGE);
    const key = await opts.keys.verify(match[1]!);
    if (!key) return errorResponse(c, 'UNAUTHORIZED', 'the API key is not valid or was revoked', CHALLENGE);
    c.set('principal', { keyId: key.id, role: key.role });
    return next();
  });
}

/** The TCP peer, as @hono/node-server hands it over; undefined (not loopback) when there is no socket. */
function peerAddress(c: Context): string | undefined {
  const env = c.env as { incoming?: IncomingMessage } | undefined;
  return env?.incoming?.socket?.remoteAddress;
}

/** Only admin keys (or the keyless local operator) pass. */
export const adminOnly = createMiddleware<AuthEnv>(async (c, next) => {
  if (c.get('principal').role !== 'admin') return errorResponse(c, 'FORBIDDEN', 'this endpoint needs an admin key');
  return next();
});
