import { WebSocketServer } from 'ws';

/** The subprotocol the service speaks; a browser's key rides in a second one (see bearerFromSubprotocol). */
export const WS_PROTOCOL = 'ephemera';
const BEARER_PREFIX = `${WS_PROTOCOL}.bearer.`;

/**
 * The WebSocket server behind GET /v1/ws (given to @hono/node-server's `serve`, which
 * hands it the upgrades). `maxPayload` bounds one client message: a larger one closes the
 * socket with 1009. The only subprotocol ever selected is `ephemera`, so the token a browser
 * offers beside it is never echoed back.
 */
export function newWebSocketServer(maxPayload: number): WebSocketServer {
  return new WebSocketServer({
    noServer: true,
    maxPayload,
    perMessageDeflate: false,
    handleProtocols: (offered) => (offered.has(WS_PROTOCOL) ? WS_PROTOCOL : false),
  });
}

/**
 * A browser cannot set headers on a WebSocket: its key comes as the subprotocol
 * `ephemera.bearer.<key>`, offered with `ephemera`. Read only on an upgrade request.
 */
export function bearerFromSubprotocol(upgrade: string | undefined, protocols: string | undefined): string | undefined {
  if (upgrade?.toLowerCase() !== 'websocket' || !protocols) return undefined;
  const offered = protocols.split(',').map((p) => p.trim());
  const token = offered.find((p) => p.startsWith(BEARER_PREFIX));
  return token && `Bearer ${token.slice(BEARER_PREFIX.length)}`;
}
