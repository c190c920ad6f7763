import type { Server } from 'node:http';

/** Bounds on what a client may hold of the HTTP server (env: see src/config/env.ts). */
export interface ServerLimits {
  /** Connections open at once; the next ones are closed as they arrive. */
  maxConnections: number;
  /** Time from a request's first byte (or a new connection) to the end of its headers; past it, 408 and close. */
  headersTimeoutMs: number;
  /**
   * Time to receive a whole request, headers and body. It stops once the request is in:
   * the response (a run's stream) may take as long as the run does.
   */
  requestTimeoutMs: number;
  /** How long an idle keep-alive connection is kept. */
  keepAliveTimeoutMs: number;
}

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
