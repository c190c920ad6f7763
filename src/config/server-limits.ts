/**
 * Bounds on what a client may hold of the HTTP server (read from the environment in ./env.ts; applied by
 * src/http/server-limits.ts).
 */
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
