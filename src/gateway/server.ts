import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { Hono } from 'hono';

/**
 * The model gateway's own listener, apart from the API's: it listens where agent
 * containers can reach it (the egress network's gateway address), and nothing but the
 * model API's paths is served there.
 */
export class ModelGatewayServer {
  private server: ServerType | undefined;
  /** The URL containers call, once listening. */
  url: string | undefined;

  constructor(private readonly app: Hono) {}

  async listen(host: string, port: number): Promise<string> {
    // Containers need an address they can call; "any address" is none of them.
    if (host === '0.0.0.0' || host === '::')
      throw new Error(`the model gateway needs a specific address to listen on, not ${host}`);
    const server = await new Promise<ServerType>((resolve, reject) => {
      const s = serve({ fetch: this.app.fetch, hostname: host, port }, () => resolve(s));
      s.once('error', reject);
    });
    this.server = server;
    const address = server.address() as AddressInfo;
    this.url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
    return this.url;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.url = undefined;
    (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
