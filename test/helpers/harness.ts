import { newWebSocketServer, refuseOtherUpgrades } from '../../src/http/ws/server.js';
import type { Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import Docker from 'dockerode';
import pino from 'pino';
import { createApp } from '../../src/app.js';
import { Service, type ServiceDeps, type ServiceSettings } from '../../src/service.js';
import { createLogger } from '../../src/observability/logger.js';
import type { ProfilesFile } from '../../src/config/profiles.js';
import type { Db } from '../../src/db/sqlite/open.js';
import { openSqliteStore, SqliteStore } from '../../src/db/sqlite/store.js';
import { deferredTestStore } from './postgres.js';
import type { SessionQueries, Store } from '../../src/db/contract.js';
import { SqliteSessionQueries } from '../../src/db/sqlite/session-queries.js';
import { DockerRuntime } from '../../src/runner/docker/docker-runtime.js';
import type { ContainerRuntime } from '../../src/runner/runtime.js';
import { loadServiceConfig, parseProfiles } from '../../src/settings.js';

export const SHELL_IMAGE = 'ephemera/shell:0.1';

export const TEST_PROFILES: ProfilesFile = {
  default_agent: 'shell',
  profiles: {
    shell: { image: SHELL_IMAGE, command: ['sh', '-s'], workdir: '/workspace', timeout_ms: 20_000 },
    cat: { image: SHELL_IMAGE, command: ['cat'], replay: 'none', timeout_ms: 20_000 },
    ghost: { image: 'ephemera/no-such-image:never', command: ['true'] },
  },
};

export interface Harness {
  /** The HTTP app. */
  app: ReturnType<typeof createApp>;
  /** What the app serves: stores, runs, gateway, background work, shutdown. */
  service: Service;
  /** The service's store, SQLite or Postgres (the `postgres` project). */
  database: Store;
  /** The SQLite store's database; undefined in the `postgres` project. */
  db: Db;
  docker: Docker;
  instanceId: string;
  dbPath: string;
  /**
   * Rows of a statement (`?` placeholders) from the service's database, SQLite or Postgres: what a test checks was
   * stored.
   */
  rows<T = Record<string, unknown>>(text: string, ...args: unknown[]): Promise<T[]>;
  /**
   * Every text the store holds from runs (stderr, error messages) and messages, run together: what a secret must not be
   * found in.
   */
  storedText(): Promise<string>;
  /** The store's session queries with other options (a smaller search bound, say), on the same database. */
  sessionQueries(opts: { maxSearchScan?: number }): Promise<SessionQueries>;
  /** The environment that points a process (a CLI, another instance) at this harness's database. */
  databaseEnv(): Promise<Record<string, string>>;
  /** Managed containers this harness's app started that still exist. */
  leftovers(): Promise<Docker.ContainerInfo[]>;
  close(): Promise<void>;
}

let counter = 0;

/** The env @hono/node-server passes for a request from 127.0.0.1 (only the part auth reads). */
export const LOOPBACK_PEER = { incoming: { socket: { remoteAddress: '127.0.0.1' } } };
/** The same from a machine elsewhere on the network. */
export const REMOTE_PEER = { incoming: { socket: { remoteAddress: '203.0.113.7' } } };

export interface HarnessOptions extends Partial<Omit<ServiceSettings, 'secrets' | 'instanceId'>> {
  runtime?: ContainerRuntime;
  agents?: ServiceDeps['agents'];
  profiles?: ProfilesFile;
  geminiApiKey?: string;
  /** Model keys by variable name (e.g. ANTHROPIC_API_KEY), as the service reads them. */
  secrets?: Record<string, string | undefined>;
  /** Receives the service's log lines (JSON); silent when absent. */
  logLines?: string[];
}

const withoutUndefined = <T extends object>(o: T) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

export function createHarness(opts: HarnessOptions = {}): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'ephemera-test-'));
  const dbPath = join(dir, 'ephemera.db');
  // The `postgres` projects (vitest.config.ts) run the integration files with the service on Postgres.
  const onPostgres = process.env.EPHEMERA_TEST_STORE === 'postgres';
  const database = onPostgres ? deferredTestStore() : openSqliteStore(dbPath);
  const served = serveOn(database, opts);
  const rows = async <T>(text: string, ...args: unknown[]) =>
    (database instanceof SqliteStore ? sqliteRows(database.db, text, args) : await database.rows(text, args)) as T[];
  return {
    ...served,
    // No SQLite file on Postgres: a file of that project that reads it fails at once.
    db: database instanceof SqliteStore ? database.db : (undefined as unknown as Db),
    rows,
    storedText: async () => {
      const texts = await rows<{ t: string | null }>(
        `select stderr as t from runs union all select error_message from runs union all select content from messages`,
      );
      return texts.map((r) => r.t ?? '').join('\n');
    },
    databaseEnv: async (): Promise<Record<string, string>> =>
      database instanceof SqliteStore ? { DATABASE_PATH: dbPath } : { DATABASE_URL: await database.url() },
    sessionQueries: async (o) =>
      database instanceof SqliteStore ? new SqliteSessionQueries(database.db, o) : database.sessionQueries(o),
    dbPath,
    async close() {
      await served.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A statement's rows; none for one that returns none (an insert, say). */
function sqliteRows(db: Db, text: string, args: unknown[]) {
  const statement = db.$client.prepare(text);
  if (statement.reader) return statement.all(...args);
  statement.run(...args);
  return [];
}

/**
 * A harness on a store of the test's own (a Postgres database shared by replicas, say); closing it closes the store.
 */
export type StoreHarness = Omit<Harness, 'db' | 'dbPath' | 'rows' | 'storedText' | 'sessionQueries' | 'databaseEnv'>;

export function serveOn(database: Store, opts: HarnessOptions = {}): StoreHarness {
  const { runtime, agents, profiles, geminiApiKey, secrets, logLines, ...config } = opts;
  const docker = new Docker();
  const instanceId = `test-${process.pid}-${++counter}-${Date.now().toString(36)}`;
  const service = new Service({
    database,
    runtime: opts.runtime ?? new DockerRuntime(docker),
    config: {
      // The service's defaults (an empty environment), then the suite's, then the test's.
      ...loadServiceConfig({}),
      maxTimeoutMs: 60_000,
      queueTimeoutMs: 20_000,
      reapIntervalMs: 1000,
      // Tests of one caller's runs should not meet the per-key share unless they ask for it.
      maxRunsPerKey: opts.maxConcurrentRuns ?? 16,
      maxQueuedPerKey: opts.maxQueuedRuns ?? 64,
      ...withoutUndefined(config),
      instanceId,
      secrets: { GEMINI_API_KEY: opts.geminiApiKey, ...opts.secrets },
    },
    profiles: parseProfiles(opts.profiles ?? TEST_PROFILES),
    ...(opts.agents && { agents: opts.agents }),
    logger: opts.logLines
      ? createLogger({ level: 'debug', destination: { write: (line: string) => void opts.logLines!.push(line) } })
      : pino({ level: 'silent' }),
  });
  const app = createApp(service);
  // app.request has no socket: unless a test says otherwise, its requests come from the
  // loopback, as a local curl's would (the keyless operator's case).
  const request = app.request;
  app.request = (input, init, env = LOOPBACK_PEER, ctx) => request(input, init, env, ctx);
  return {
    app,
    service,
    database,
    docker,
    instanceId,
    leftovers: () => docker.listContainers({ all: true, filters: { label: [`ephemera.instance=${instanceId}`] } }),
    async close() {
      await service.shutdown(0);
      await database.close();
    },
  };
}

/** A real HTTP server on a free loopback port, for streaming and disconnect tests. */
export async function listen(app: { fetch: (req: Request) => Response | Promise<Response> }, maxPayload = 1024 * 1024) {
  const wss = newWebSocketServer(maxPayload);
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0, websocket: { server: wss } }, () => resolve(s));
  });
  refuseOtherUpgrades(server as Server);
  let open = 0;
  let peak = 0;
  server.on('connection', (socket) => {
    peak = Math.max(peak, ++open);
    socket.once('close', () => open--);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    /** The most TCP connections open at once since the last call (which starts the count again). */
    peakConnections: () => {
      const seen = peak;
      peak = open;
      return seen;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

export async function waitFor<T>(fn: () => T | Promise<T>, timeoutMs = 5000, stepMs = 25): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error('waitFor: condition not met in time');
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export function post(path: string, body: string, headers: Record<string, string> = {}) {
  return new Request(`http://localhost${path}`, { method: 'POST', body, headers });
}

/** A request as a client with an API key sends it. */
export const asKey = (h: Pick<Harness, 'app'>, key: string, path: string, init: RequestInit = {}) =>
  h.app.request(new Request(`http://local${path}`, { ...init, headers: { authorization: `Bearer ${key}` } }));

/** The session ids a listing (`/v1/sessions?<query>`) gives a key, in its order; it must answer 200. */
export async function listedIds(h: Pick<Harness, 'app'>, key: string, query: string): Promise<string[]> {
  const res = await asKey(h, key, `/v1/sessions?${query}`);
  if (res.status !== 200) throw new Error(`${query}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { items: Array<{ id: string }> }).items.map((s) => s.id);
}

/** A response's JSON body, loosely typed for assertions. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function jsonOf(res: Response | Promise<Response>): Promise<any> {
  return (await res).json();
}
