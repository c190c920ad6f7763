import { upgradeWebSocket } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import type { WebSocket } from 'ws';
import { canSee } from '../../auth/principal.js';
import type { TranscriptStore } from '../../db/contract.js';
import type { ApiKeyStore } from '../../db/contract.js';
import type { ProfileSet } from '../../config/profiles.js';
import type { RunService } from '../../runner/run/run-service.js';
import { errorResponse } from '../errors.js';
import type { AuthEnv } from '../middleware/auth.js';
import { Conversation } from './conversation.js';

export interface WsRouteDeps {
  runs: RunService;
  transcripts: TranscriptStore;
  keys: ApiKeyStore;
  profiles: ProfileSet;
  /** Web origins besides the service's own whose pages may open a conversation (CORS_ORIGINS). */
  corsOrigins: readonly string[];
  idleMs: number;
  pingMs: number;
}

/**
 * GET /v1/ws: a conversation over a WebSocket (a new session, or `?session_id=` to continue
 * one; `?agent=` for prompts that name none). Checked before the upgrade, each with its
 * status: the key (authenticate), the page's origin, the session.
 */
export function wsRoutes(deps: WsRouteDeps) {
  return new Hono<AuthEnv>().get(
    '/v1/ws',
    async (c, next) => {
      if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') {
        return errorResponse(c, 'UPGRADE_REQUIRED', 'GET /v1/ws opens a WebSocket: send Upgrade: websocket', {
          Upgrade: 'websocket',
        });
      }
      const refusal = await refuse(c, deps);
      return refusal ?? next();
    },
    upgradeWebSocket((c) => {
      let conversation: Conversation | undefined;
      return {
        onOpen: (_event, ws) => {
          const principal = c.get('principal');
          conversation = new Conversation(ws.raw as WebSocket, {
            runs: deps.runs,
            principal,
            // A socket outlives its handshake: a revoked key, or a first key created since, ends it.
            stillAllowed: async () =>
              principal.keyId === null ? !(await deps.keys.everCreated()) : deps.keys.isActive(principal.keyId),
            logger: c.get('logger'),
            sessionId: c.req.query('session_id'),
            agent: c.req.query('agent'),
            idleMs: deps.idleMs,
            pingMs: deps.pingMs,
          });
        },
        onMessage: (event) => conversation?.message(event.data),
        onClose: () => conversation?.close(),
      };
    }),
  );
}

/**
 * A page of another origin (browsers always send Origin on a WebSocket), an unknown agent, a session this key cannot
 * see or of another agent.
 */
async function refuse(c: Context<AuthEnv>, deps: WsRouteDeps): Promise<Response | undefined> {
  const origin = c.req.header('origin');
  if (origin !== undefined && origin !== new URL(c.req.url).origin && !deps.corsOrigins.includes(origin)) {
    return errorResponse(
      c,
      'CROSS_SITE',
      `a page of ${origin} may not open a conversation here; the operator names the origins that may (CORS_ORIGINS)`,
    );
  }
  const agent = c.req.query('agent');
  if (agent !== undefined && !deps.profiles.profiles.has(agent)) {
    return errorResponse(
      c,
      'UNKNOWN_AGENT',
      `unknown agent "${agent}"; known: ${[...deps.profiles.profiles.keys()].join(', ')}`,
    );
  }
  const sessionId = c.req.query('session_id');
  let sessionAgent: string | undefined;
  if (sessionId !== undefined) {
    const session = await deps.transcripts.getSession(sessionId);
    if (!session || !canSee(c.get('principal'), session))
      return errorResponse(c, 'NOT_FOUND', `session ${sessionId} not found`);
    if (agent !== undefined && agent !== session.agent)
      return errorResponse(c, 'AGENT_MISMATCH', `session ${sessionId} runs agent "${session.agent}", not "${agent}"`);
    sessionAgent = session.agent;
  }
  return unavailable(c, deps.runs, agent ?? sessionAgent);
}

/**
 * The conversation's agent, when it names one, cannot run (no model key, say): 503 before the upgrade, not an error per
 * prompt.
 */
function unavailable(c: Context<AuthEnv>, runs: RunService, agent: string | undefined): Response | undefined {
  const refused = agent === undefined ? undefined : runs.unavailableError(agent);
  return refused && errorResponse(c, refused.code, refused.message);
}
