import type { Server } from 'node:http';
import type { ServerLimits } from '../config/server-limits.js';

export type { ServerLimits };

/**
 * Applies the limits to a node:http server. Call it right after creating the server or
 * calling listen(), before the 'listening' event: Node starts the timer that enforces the
 * two timeouts then, at the interval set here.
 *
 * No idle timeout is set on sockets (`server.timeout` stays 0): a run may print nothing for
 * minutes while its stream is open.
 */
export function applyServerLimits<S extends Server>(server: S, limits: ServerLimits): S {
  if (server.listening) throw new Error('apply the server limits before the server listens');
  server.maxConnections = limits.maxConnections;
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  // Node checks the two timeouts every connectionsCheckingInterval (30 s by default), so a
  // slow client could otherwise keep its connection up to 30 s past them.
  // (@types/node declares it only as a createServer option.)
  const checked = server as { connectionsCheckingInterval?: number };
  checked.connectionsCheckingInterval = Math.max(10, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4)));
  return server;
}
