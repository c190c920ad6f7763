import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';

/** The subprotocol the service speaks; a browser's key rides in a second one (see bearerFromSubprotocol). */
export const WS_PROTOCOL = 'ephemera';
export const WS_PATH = '/v1/ws';
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
 * `ephemera.bearer.<key>`, offered with `ephemera`. Read only on an upgrade request to /v1/ws.
 */
export function bearerFromSubprotocol(
  path: string,
  upgrade: string | undefined,
  protocols: string | undefined,
): string | undefined {
  if (path !== WS_PATH || upgrade?.toLowerCase() !== 'websocket' || !protocols) return undefined;
  const offered = protocols.split(',').map((p) => p.trim());
  const token = offered.find((p) => p.startsWith(BEARER_PREFIX));
  return token && `Bearer ${token.slice(BEARER_PREFIX.length)}`;
}

type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

const OTHER_UPGRADE = JSON.stringify({
  error: {
    code: 'INVALID_BODY',
    message: 'only Upgrade: websocket is served here (GET /v1/ws); send the request without Upgrade',
  },
});

/**
 * With a WebSocket server, Node hands every `Connection: Upgrade` request to the `upgrade`
 * listeners, and node-server's answers only `websocket`: any other (`h2c` from `curl --http2`)
 * would hang, past every HTTP timeout. Such requests get 400 and a close. node-server's listener
 * stays the only one (it answers a refused WebSocket upgrade only when it is alone).
 */
export function refuseOtherUpgrades(server: Server): void {
  const listeners = server.listeners('upgrade') as UpgradeListener[];
  server.removeAllListeners('upgrade');
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (req.headers.upgrade?.toLowerCase() === 'websocket') {
      for (const listener of listeners) listener.call(server, req, socket, head);
      return;
    }
    socket.on('error', () => {});
    socket.end(
      `HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nContent-Length: ${Buffer.byteLength(OTHER_UPGRADE)}\r\n\r\n${OTHER_UPGRADE}`,
    );
  });
}
