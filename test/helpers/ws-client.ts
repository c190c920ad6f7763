import WebSocket from 'ws';
import { waitFor } from './harness.js';

// A conversation's client side (GET /v1/ws), through the `ws` package.

export type Message = { type: string; [k: string]: unknown };

/** A client socket and every message it received, in order. */
export class Client {
  readonly messages: Message[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => this.messages.push(JSON.parse(String(data)) as Message));
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  }
  send(msg: object | string) {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }
  /** Waits for the n-th message (from 0) of this type. */
  async next(type: string, n = 0, timeoutMs = 15_000): Promise<Message> {
    return waitFor(() => this.messages.filter((m) => m.type === type)[n], timeoutMs);
  }
  /** The text a run printed, between its run event and its done event. */
  outputOf(runId: string): string {
    let inRun = false;
    let out = '';
    for (const m of this.messages) {
      if (m.type === 'run') inRun = m.run_id === runId;
      else if (inRun && m.type === 'stdout') out += m.data as string;
    }
    return out;
  }
}

export function open(
  url: string,
  opts: { headers?: Record<string, string>; protocols?: string[]; autoPong?: boolean } = {},
): Promise<Client> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), opts.protocols ?? [], {
    headers: opts.headers,
    autoPong: opts.autoPong ?? true,
  });
  const client = new Client(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_req, res) =>
      reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })),
    );
    ws.once('error', reject);
  });
}

/** The status an upgrade was refused with. */
export const refusal = (p: Promise<Client>) =>
  p.then(
    () => 'opened',
    (err: { status?: number }) => err.status,
  );
