import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { Principal } from '../../auth/principal.js';
import { AppError, type ErrorCode } from '../../errors.js';
import type { RunService } from '../../runner/run/run-service.js';
import type { RunHandle } from '../../runner/run/run.js';
import { typedEvents } from '../respond/run-events.js';
import { parseClientMessage, type ClientMessage } from './client-message.js';

export interface ConversationOptions {
  runs: RunService;
  principal: Principal;
  logger: Logger;
  /** The session to continue (`?session_id=`); a new one is opened by the first prompt otherwise. */
  sessionId: string | undefined;
  /** The agent for prompts that name none (`?agent=`). */
  agent: string | undefined;
  /** Closed after this long with no message and no run in progress. */
  idleMs: number;
  /** A ping this often; a socket that did not answer the previous one is dropped. */
  pingMs: number;
  /** Whether the socket's key (or keyless serving) still holds: asked before each prompt. */
  stillAllowed: () => Promise<boolean>;
}

/** Past this many bytes queued to a client, the next event waits until they are written. */
const HIGH_WATER_BYTES = 256 * 1024;
/** A client this far behind on our replies to its own messages is not reading: it is dropped. */
const MAX_UNREAD_BYTES = 1024 * 1024;
/** Error messages are cut here: a client's input (a zod message names unknown keys) is not echoed at length. */
const MAX_ERROR_CHARS = 500;

/**
 * One WebSocket conversation: each prompt runs as one turn of the session (in its own
 * fresh container, as over HTTP), its events sent as they come; one run at a time.
 */
export class Conversation {
  private sessionId: string | undefined;
  private running: RunHandle | undefined;
  /** A prompt is being admitted (queued for a slot, container starting): cancel withdraws it. */
  private starting: AbortController | undefined;
  private closed = false;
  private idle: NodeJS.Timeout | undefined;
  private readonly ping: NodeJS.Timeout;
  private answeredPing = true;
  /** Aborts a prompt's wait for a slot when the socket closes. */
  private readonly gone = new AbortController();

  constructor(
    private readonly ws: WebSocket,
    private readonly opts: ConversationOptions,
  ) {
    this.sessionId = opts.sessionId;
    ws.on('pong', () => (this.answeredPing = true));
    this.ping = setInterval(() => {
      if (!this.answeredPing) return void ws.terminate();
      this.answeredPing = false;
      ws.ping();
    }, opts.pingMs);
    this.armIdle();
  }

  message(data: unknown): void {
    let msg: ClientMessage;
    try {
      msg = parseClientMessage(data);
    } catch (err) {
      return void this.sendError(err);
    }
    // Only a real message keeps the socket from idling out.
    if (!this.running && !this.starting) this.armIdle();
    if (msg.type === 'prompt') return void this.prompt(msg).catch((err) => this.sendError(err));
    // A cancel with nothing in progress is a no-op: cancelling twice is safe.
    if (this.running) this.running.cancel({ stillReading: true });
    else this.starting?.abort();
  }

  /** The socket closed: a run in progress is cancelled, as when an HTTP client leaves. */
  close(): void {
    this.closed = true;
    clearInterval(this.ping);
    clearTimeout(this.idle);
    this.gone.abort();
    this.running?.cancel();
  }

  private async prompt(msg: Extract<ClientMessage, { type: 'prompt' }>): Promise<void> {
    if (this.running || this.starting) {
      throw new AppError(
        'SESSION_BUSY',
        'a run is in progress on this connection; send the next prompt after its done event, or cancel it',
      );
    }
    const withdraw = new AbortController();
    this.starting = withdraw;
    clearTimeout(this.idle);
    try {
      if (!(await this.opts.stillAllowed())) {
        this.sendError(new AppError('UNAUTHORIZED', 'the key this conversation was opened with is no longer valid'));
        return void this.ws.close(1008, 'unauthorized');
      }
      const agent = msg.agent ?? this.opts.agent;
      let run: RunHandle;
      try {
        run = await this.opts.runs.begin(
          {
            prompt: msg.prompt,
            principal: this.opts.principal,
            receivedAt: performance.now(),
            logger: this.opts.logger,
            ...(this.sessionId !== undefined && { sessionId: this.sessionId }),
            ...(agent !== undefined && { agent }),
            ...(msg.timeout_ms !== undefined && { timeoutMs: msg.timeout_ms }),
          },
          AbortSignal.any([this.gone.signal, withdraw.signal]),
        );
      } catch (err) {
        // Withdrawn while it waited for a slot: nothing was stored.
        if (withdraw.signal.aborted && !this.closed) return void this.send({ type: 'cancelled' });
        if (this.closed) return;
        throw err;
      }
      this.running = run;
      this.sessionId = run.sessionId;
      if (this.closed) run.cancel();
      else if (withdraw.signal.aborted) run.cancel({ stillReading: true }); // asked for while it was being set up
      await this.stream(run);
    } finally {
      this.running = undefined;
      this.starting = undefined;
      if (!this.closed) this.armIdle();
    }
  }

  private async stream(run: RunHandle): Promise<void> {
    try {
      await run.ready;
    } catch (err) {
      run.events.abandon();
      // The turn was stored (a failed run): its ids say where.
      if (err instanceof AppError) return this.sendError(err, { session_id: run.sessionId, run_id: run.runId });
      throw err;
    }
    // `seq`: the event's place in the run's log, for GET /v1/runs/{id}/events?after=<seq> after a dropped socket.
    for await (const { event, data, seq } of typedEvents(run)) {
      if (this.closed) break;
      await this.send({ ...data, type: event, seq });
    }
  }

  /** JSON to the client; waits while too much is queued for it, so a slow reader slows the run. */
  private async send(msg: object): Promise<void> {
    if (this.ws.readyState !== this.ws.OPEN) return;
    const data = JSON.stringify(msg);
    if (this.ws.bufferedAmount < HIGH_WATER_BYTES) return void this.ws.send(data);
    await new Promise<void>((resolve) => this.ws.send(data, () => resolve()));
  }

  private sendError(err: unknown, ids?: { session_id: string; run_id: string }): void {
    let code: ErrorCode = 'INTERNAL';
    let message = 'internal error';
    if (err instanceof AppError) ({ code, message } = err);
    else this.opts.logger.error({ err }, 'websocket prompt failed');
    if (this.ws.bufferedAmount > MAX_UNREAD_BYTES) return void this.ws.terminate();
    void this.send({ type: 'error', error: { code, message: message.slice(0, MAX_ERROR_CHARS) }, ...ids });
  }

  private armIdle(): void {
    clearTimeout(this.idle);
    this.idle = setTimeout(
      () => this.ws.close(1000, `idle for ${Math.round(this.opts.idleMs / 1000)} s`),
      this.opts.idleMs,
    );
  }
}
