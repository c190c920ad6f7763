import type { Context } from 'hono';
import type { HttpBindings } from '@hono/node-server';
import { RUN_END_FIELD_NAMES } from '../ended-run.js';

/** A client that reads trailers, and how to send them: headers to answer with, then `send` before the body ends. */
export interface Trailers {
  headers: Record<string, string>;
  send(fields: Record<string, string>): void;
}

/**
 * Trailers, when the client said it reads them (`TE: trailers`) over HTTP/1.1 and the answer
 * goes out through Node's response (not under `app.request`). The Fetch API's Response has
 * no trailers, so they are added to Node's response, which sends them with the last chunk.
 * `Transfer-Encoding: chunked` keeps @hono/node-server from sending a body that ended early
 * whole, with a Content-Length and no room for trailers.
 */
export function trailersFor(c: Context): Trailers | undefined {
  const env = c.env as Partial<HttpBindings> | undefined;
  const outgoing = env?.outgoing;
  if (!outgoing || env.incoming?.httpVersion !== '1.1' || !readsTrailers(c)) return undefined;
  return {
    headers: { Trailer: RUN_END_FIELD_NAMES.join(', '), 'Transfer-Encoding': 'chunked' },
    send: (fields) => {
      if (!outgoing.writableEnded) outgoing.addTrailers(fields);
    },
  };
}

/** Whether the request says its client reads trailers (`TE: trailers`, among other codings or not). */
export function readsTrailers(c: Context): boolean {
  const te = c.req.header('te');
  return te?.split(',').some((t) => t.split(';')[0]!.trim().toLowerCase() === 'trailers') ?? false;
}
