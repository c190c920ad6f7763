import type { Logger } from 'pino';
import type { RunTokens } from './run-tokens.js';

/** What the model gateway's routes for one model API are built with (each agent kind's `model.gateway`). */
export interface ModelRouteOptions {
  /** The kind of agent whose run tokens these routes accept (a token is good for one API only). */
  kind: string;
  tokens: RunTokens;
  upstream: string;
  /** The real key, added to every forwarded call; undefined: every call is refused, saying what to set. */
  apiKey: string | undefined;
  logger: Logger;
}
