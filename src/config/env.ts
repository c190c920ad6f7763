import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { isLoopbackHostName } from '../auth/loopback.js';
import type { ServerLimits } from './server-limits.js';
import { modelKinds, type AgentKindSettings, type ModelSettings } from './agent-kinds.js';

/** Service settings read from the environment, validated once at start. */
export interface ServiceConfig {
  host: string;
  port: number;
  /** Host names, besides localhost, 127.x and [::1], that keyless requests may use. */
  allowedHosts: string[];
  /** Sessions untouched for this many days are deleted (hourly, and by `npm run prune`); undefined: kept for ever. */
  retentionDays: number | undefined;
  /** A WebSocket conversation is closed after idleMs with no message and no run; pinged every pingMs. */
  websocket: { idleMs: number; pingMs: number };
  /** Web origins (scheme://host[:port]) whose pages may call the API and open its WebSocket; none by default. */
  corsOrigins: string[];
  databasePath: string;
  /**
   * Postgres instead of SQLite (postgres://user:password@host/db): the store replicas share. Never logged: it may hold
   * a password.
   */
  databaseUrl: string | undefined;
  /** A file holding DATABASE_URL's password (a Docker or Kubernetes secret), read at start: not in the environment. */
  databasePasswordFile: string | undefined;
  /** Path of the agent profiles file; undefined means the built-in profiles. */
  profilesPath: string | undefined;
  maxBodyBytes: number;
  /** No run may last longer than this, whatever its profile or request asks. */
  maxTimeoutMs: number;
  /** Labels this service's containers so that several instances can share one engine. */
  instanceId: string;
  /** stdout + stderr a run may print before it is killed (status output_limit). */
  maxOutputBytes: number;
  /** The most a turn replays of its session's earlier messages; older ones are left out. */
  replayMaxBytes: number;
  /** What a session's workspace may hold (src/workspace): its archive's bytes, and its entries. */
  workspace: { maxBytes: number; maxFiles: number };
  /** The most of one run's reply (and of its stderr) the transcript keeps: past it, head and tail. */
  maxStoredOutputBytes: number;
  /** The most of one run's events its log keeps (EVENT_LOG_MAX_BYTES), in characters of event data. */
  eventLogMaxBytes: number;
  /** Containers in flight at once; more requests wait in a queue of maxQueuedRuns for up to queueTimeoutMs. */
  maxConcurrentRuns: number;
  maxQueuedRuns: number;
  /** One API key's share: slots it may hold, and queue places it may hold (the rest stay for other keys). */
  maxRunsPerKey: number;
  maxQueuedPerKey: number;
  queueTimeoutMs: number;
  /** On SIGTERM/SIGINT, how long in-flight runs may go on before they are killed. */
  shutdownGraceMs: number;
  /** How often orphaned containers are looked for. */
  reapIntervalMs: number;
  /** Bounds on connections and on slow requests, applied to the HTTP server. */
  http: ServerLimits;
  /**
   * The model gateway agent containers call (see src/gateway): where it listens, and where each model agent's calls go
   * (by kind). `ports`: every model gateway port the egress chain should open, this one among them
   * (MODEL_GATEWAY_PORTS).
   */
  modelGateway: { host: string | undefined; port: number; ports: number[]; upstreams: Record<string, string> };
  /** Where the engine's API is: Docker's (DOCKER_HOST, or the default socket), or Podman's socket (ENGINE=podman). */
  engine: { socketPath: string | undefined };
  /** The operator says the host's INPUT rules for egress networks are in place (EGRESS_TRUST_HOST_RULES=1). */
  trustHostEgressRules: boolean;
  /**
   * Secrets the service keeps to itself, by variable name (each model agent's key, e.g.
   * GEMINI_API_KEY: the model gateway adds it to calls); never logged, never in a container.
   */
  secrets: Record<string, string | undefined>;
  /**
   * Where a run may call back when it ends (WEBHOOK_ALLOWED_ORIGINS; none: no webhooks), the key
   * of each call's signature (WEBHOOK_SECRET), and how long a failing delivery is retried.
   */
  webhooks: { allowedOrigins: string[]; secret: string | undefined; firstRetryMs: number; attempts: number };
}

/** A comma-separated list of exact origins (none by default). */
const originList = (name: string, example: string) =>
  z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((o) => o.trim())
        .filter((o) => o !== ''),
    )
    .refine(
      (os) => os.every(isOrigin),
      `${name} is a comma-separated list of origins such as ${example} (scheme, host, port; no path, no *)`,
    );

const positiveInt = <T extends number | undefined>(name: string, fallback: T) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return fallback;
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n <= 0) {
        ctx.addIssue({ code: 'custom', message: `${name} must be a positive integer, got "${v}"` });
        return z.NEVER;
      }
      return n;
    });

/** The service's own variables (each model agent's key and upstream are added by envSchemaFor). */
const SERVICE_SETTINGS = {
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: positiveInt('PORT', 8787).refine((p) => p < 65536, 'PORT must be below 65536'),
  ALLOWED_HOSTS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((h) => h.trim().toLowerCase())
        .filter((h) => h !== ''),
    )
    .refine(
      (hs) => hs.every((h) => /^[a-z0-9.-]{1,253}$/.test(h)),
      'ALLOWED_HOSTS is a comma-separated list of host names (no ports)',
    ),
  CORS_ORIGINS: originList('CORS_ORIGINS', 'https://app.example.com'),
  WEBHOOK_ALLOWED_ORIGINS: originList('WEBHOOK_ALLOWED_ORIGINS', 'https://hooks.example.com'),
  WEBHOOK_SECRET: z.string().optional(),
  WEBHOOK_SECRET_FILE: z.string().min(1).optional(),
  WEBHOOK_FIRST_RETRY_MS: positiveInt('WEBHOOK_FIRST_RETRY_MS', 2000),
  WEBHOOK_ATTEMPTS: positiveInt('WEBHOOK_ATTEMPTS', 10),
  DATABASE_PATH: z.string().min(1).default('./data/ephemera.db'),
  DATABASE_URL: z
    .string()
    .refine(
      (v) => /^postgres(ql)?:\/\/[^\s]+$/.test(v) && URL.canParse(v),
      'DATABASE_URL must be a Postgres URL: postgres://user:password@host:5432/database',
    )
    .optional(),
  DATABASE_PASSWORD_FILE: z.string().min(1).optional(),
  PROFILES_PATH: z.string().min(1).optional(),
  MAX_BODY_BYTES: positiveInt('MAX_BODY_BYTES', 1024 * 1024),
  MAX_TIMEOUT_MS: positiveInt('MAX_TIMEOUT_MS', 15 * 60 * 1000),
  MAX_OUTPUT_BYTES: positiveInt('MAX_OUTPUT_BYTES', 16 * 1024 * 1024),
  MAX_STORED_OUTPUT_BYTES: positiveInt('MAX_STORED_OUTPUT_BYTES', 1024 * 1024),
  EVENT_LOG_MAX_BYTES: positiveInt('EVENT_LOG_MAX_BYTES', 16 * 1024 * 1024),
  REPLAY_MAX_BYTES: positiveInt('REPLAY_MAX_BYTES', 8 * 1024 * 1024),
  // It must fit, with the replay, in a standby container's 64 MiB files tmpfs and the workdir's.
  WORKSPACE_MAX_BYTES: positiveInt('WORKSPACE_MAX_BYTES', 32 * 1024 * 1024),
  WORKSPACE_MAX_FILES: positiveInt('WORKSPACE_MAX_FILES', 10_000),
  MAX_CONCURRENT_RUNS: positiveInt('MAX_CONCURRENT_RUNS', 16),
  MAX_QUEUED_RUNS: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const n = v === undefined || v === '' ? 64 : Number(v);
      if (!Number.isSafeInteger(n) || n < 0) {
        ctx.addIssue({ code: 'custom', message: `MAX_QUEUED_RUNS must be a non-negative integer, got "${v}"` });
        return z.NEVER;
      }
      return n;
    }),
  // Unset: three quarters of MAX_CONCURRENT_RUNS / MAX_QUEUED_RUNS (see loadServiceConfig).
  MAX_RUNS_PER_KEY: positiveInt('MAX_RUNS_PER_KEY', undefined),
  MAX_QUEUED_PER_KEY: positiveInt('MAX_QUEUED_PER_KEY', undefined),
  QUEUE_TIMEOUT_MS: positiveInt('QUEUE_TIMEOUT_MS', 10_000),
  SHUTDOWN_GRACE_MS: positiveInt('SHUTDOWN_GRACE_MS', 10_000),
  REAP_INTERVAL_MS: positiveInt('REAP_INTERVAL_MS', 2_000),
  MAX_CONNECTIONS: positiveInt('MAX_CONNECTIONS', 512),
  HEADERS_TIMEOUT_MS: positiveInt('HEADERS_TIMEOUT_MS', 10_000),
  REQUEST_TIMEOUT_MS: positiveInt('REQUEST_TIMEOUT_MS', 60_000),
  KEEP_ALIVE_TIMEOUT_MS: positiveInt('KEEP_ALIVE_TIMEOUT_MS', 5_000),
  WS_IDLE_TIMEOUT_MS: positiveInt('WS_IDLE_TIMEOUT_MS', 5 * 60_000),
  // Unset: sessions are kept for ever.
  RETENTION_DAYS: positiveInt('RETENTION_DAYS', undefined),
  WS_PING_INTERVAL_MS: positiveInt('WS_PING_INTERVAL_MS', 30_000),
  INSTANCE_ID: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'INSTANCE_ID may hold letters, digits, _ . - (1-64)')
    .optional(),
  // Read by the engine client itself; checked here so a blank value fails at start.
  DOCKER_HOST: z.string().min(1).optional(),
  // podman: the engine is Podman's API at PODMAN_SOCKET (unless DOCKER_HOST names another).
  ENGINE: z.enum(['docker', 'podman']).default('docker'),
  PODMAN_SOCKET: z.string().startsWith('/').default('/run/podman/podman.sock'),
  // Unset: the gateway of the network the gemini profiles use (found at start).
  MODEL_GATEWAY_HOST: z.string().min(1).optional(),
  // A service that cannot read the host's iptables (in a container, not root) takes the
  // egress rules as in place only when the operator says so.
  EGRESS_TRUST_HOST_RULES: z.enum(['0', '1']).default('0'),
  // A folder of key files (docker compose mounts ./secrets there): gemini_api_key, anthropic_api_key.
  MODEL_KEYS_DIR: z.string().min(1).optional(),
  MODEL_GATEWAY_PORT: positiveInt('MODEL_GATEWAY_PORT', 8788).refine(
    (p) => p < 65536,
    'MODEL_GATEWAY_PORT must be below 65536',
  ),
  // Every replica's gateway port on this host, as scripts/lock-egress.sh opened them: the egress
  // check wants exactly these open (default: MODEL_GATEWAY_PORT alone).
  MODEL_GATEWAY_PORTS: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.split(/[\s,]+/).filter((p) => p !== '')))
    .refine(
      (ps) => ps === undefined || ps.every((p) => /^[1-9]\d*$/.test(p) && Number(p) >= 1024 && Number(p) < 65536),
      'MODEL_GATEWAY_PORTS is a list of ports from 1024 to 65535, such as "8788 8790"',
    )
    .transform((ps) => ps?.map(Number)),
};

/** The variables read from the environment: the service's own, and each model agent's key and upstream. */
const envSchemaFor = (models: ModelSettings[]) => z.object({ ...modelSettingsShape(models), ...SERVICE_SETTINGS });

/** An exact web origin, as a browser sends it in `Origin`. */
function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === value;
  } catch {
    return false;
  }
}

/** Every variable the service reads with these agents (.env.example lists each; a unit test holds them in step). */
export const settingNames = (agents: readonly AgentKindSettings[]) => Object.keys(envSchemaFor(models(agents)).shape);

const models = (agents: readonly AgentKindSettings[]) => modelKinds(agents).map((m) => m.model);

const DEFAULT_PROFILES_PATH = './config/profiles.json';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadServiceConfig(agents: readonly AgentKindSettings[], env: NodeJS.ProcessEnv): ServiceConfig {
  const parsed = envSchemaFor(models(agents)).safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || 'env'}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  if (e.DATABASE_PASSWORD_FILE !== undefined && (e.DATABASE_URL === undefined || holdsPassword(e.DATABASE_URL))) {
    throw new ConfigError(
      'invalid configuration:\n  DATABASE_PASSWORD_FILE: give it with a DATABASE_URL that holds no password (postgres://user@host:5432/db): the password comes from one place',
    );
  }
  if (e.MODEL_GATEWAY_PORTS !== undefined && !e.MODEL_GATEWAY_PORTS.includes(e.MODEL_GATEWAY_PORT)) {
    throw new ConfigError(
      `invalid configuration:\n  MODEL_GATEWAY_PORTS (${e.MODEL_GATEWAY_PORTS.join(' ')}) must include MODEL_GATEWAY_PORT (${e.MODEL_GATEWAY_PORT})`,
    );
  }
  if (e.REQUEST_TIMEOUT_MS < e.HEADERS_TIMEOUT_MS) {
    throw new ConfigError(
      `invalid configuration:\n  REQUEST_TIMEOUT_MS (${e.REQUEST_TIMEOUT_MS}) must be at least HEADERS_TIMEOUT_MS (${e.HEADERS_TIMEOUT_MS}): the headers are part of the request`,
    );
  }
  return {
    host: e.HOST,
    port: e.PORT,
    allowedHosts: e.ALLOWED_HOSTS,
    corsOrigins: e.CORS_ORIGINS,
    websocket: { idleMs: e.WS_IDLE_TIMEOUT_MS, pingMs: e.WS_PING_INTERVAL_MS },
    retentionDays: e.RETENTION_DAYS,
    databasePath: e.DATABASE_PATH,
    databaseUrl: e.DATABASE_URL,
    databasePasswordFile: e.DATABASE_PASSWORD_FILE,
    // The repository's config/profiles.json when present; the built-in profiles otherwise.
    profilesPath: e.PROFILES_PATH ?? (existsSync(DEFAULT_PROFILES_PATH) ? DEFAULT_PROFILES_PATH : undefined),
    maxBodyBytes: e.MAX_BODY_BYTES,
    maxTimeoutMs: e.MAX_TIMEOUT_MS,
    instanceId:
      e.INSTANCE_ID ??
      defaultInstanceId(e.DATABASE_URL === undefined ? resolve(e.DATABASE_PATH) : databaseLabel(e.DATABASE_URL)),
    maxOutputBytes: e.MAX_OUTPUT_BYTES,
    maxStoredOutputBytes: e.MAX_STORED_OUTPUT_BYTES,
    eventLogMaxBytes: e.EVENT_LOG_MAX_BYTES,
    replayMaxBytes: e.REPLAY_MAX_BYTES,
    workspace: { maxBytes: e.WORKSPACE_MAX_BYTES, maxFiles: e.WORKSPACE_MAX_FILES },
    maxConcurrentRuns: e.MAX_CONCURRENT_RUNS,
    maxQueuedRuns: e.MAX_QUEUED_RUNS,
    // A quarter stays for other keys: a single-key deployment loses little, and a key
    // firing long runs cannot shut the others out.
    maxRunsPerKey: e.MAX_RUNS_PER_KEY ?? Math.max(1, Math.floor((e.MAX_CONCURRENT_RUNS * 3) / 4)),
    maxQueuedPerKey:
      e.MAX_QUEUED_PER_KEY ?? Math.min(e.MAX_QUEUED_RUNS, Math.max(1, Math.floor((e.MAX_QUEUED_RUNS * 3) / 4))),
    queueTimeoutMs: e.QUEUE_TIMEOUT_MS,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    reapIntervalMs: e.REAP_INTERVAL_MS,
    http: {
      maxConnections: e.MAX_CONNECTIONS,
      headersTimeoutMs: e.HEADERS_TIMEOUT_MS,
      requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
      keepAliveTimeoutMs: e.KEEP_ALIVE_TIMEOUT_MS,
    },
    modelGateway: {
      host: e.MODEL_GATEWAY_HOST,
      port: e.MODEL_GATEWAY_PORT,
      ports: e.MODEL_GATEWAY_PORTS ?? [e.MODEL_GATEWAY_PORT],
      upstreams: modelUpstreams(agents, e as unknown as ParsedEnv),
    },
    // DOCKER_HOST wins when set: dockerode reads it (it may point at a Podman socket too).
    // Which engine answers is asked of it (engine-dialect.ts); ENGINE only says where to look.
    engine: { socketPath: e.ENGINE === 'podman' && !e.DOCKER_HOST ? e.PODMAN_SOCKET : undefined },
    trustHostEgressRules: e.EGRESS_TRUST_HOST_RULES === '1',
    secrets: modelKeys(agents, e as unknown as ParsedEnv),
    webhooks: webhookSettings(e),
  };
}

/** Each model agent's variables: its key (or a file holding it) and its upstream. */
function modelSettingsShape(models: ModelSettings[]) {
  return Object.fromEntries(
    models.flatMap((model) => [
      [model.keyEnv, z.string().optional()],
      [`${model.keyEnv}_FILE`, z.string().min(1).optional()],
      [model.upstreamEnv, upstreamUrl(model.upstreamEnv, model.defaultUpstream)],
    ]),
  ) as Record<string, z.ZodType<string | undefined>>;
}

function upstreamUrl(name: string, fallback: string) {
  return (
    z
      .url({ protocol: /^https?$/ })
      .default(fallback)
      .refine((u) => {
        const url = new URL(u);
        return url.search === '' && url.username === '' && url.password === '';
      }, `${name} takes no query and no user:password`)
      // The real key travels to it: in clear only to this machine.
      .refine((u) => {
        const url = new URL(u);
        return url.protocol === 'https:' || isLoopbackHostName(url.hostname);
      }, `${name} must be https:// (http:// only to this machine)`)
  );
}

type ParsedEnv = Record<string, string | undefined>;

const modelUpstreams = (agents: readonly AgentKindSettings[], e: ParsedEnv) =>
  Object.fromEntries(modelKinds(agents).map(({ kind, model }) => [kind, e[model.upstreamEnv]!]));

const modelKeys = (agents: readonly AgentKindSettings[], e: ParsedEnv) =>
  Object.fromEntries(
    models(agents).map((m) => {
      const [value, file] = [e[m.keyEnv], e[`${m.keyEnv}_FILE`]];
      return [
        m.keyEnv,
        readSecret(m.keyEnv, value, file ?? (value === undefined ? keyFileIn(e.MODEL_KEYS_DIR, m.keyEnv) : undefined)),
      ];
    }),
  );

/**
 * MODEL_KEYS_DIR: a folder of key files, each named after its variable in lower case (gemini_api_key), read when
 * present.
 */
function keyFileIn(dir: string | undefined, name: string): string | undefined {
  const file = dir === undefined ? undefined : join(dir, name.toLowerCase());
  return file !== undefined && existsSync(file) ? file : undefined;
}

/** Webhooks need their signing key: a call nobody can verify would be worse than none. */
function webhookSettings(e: {
  WEBHOOK_ALLOWED_ORIGINS: string[];
  WEBHOOK_SECRET?: string | undefined;
  WEBHOOK_SECRET_FILE?: string | undefined;
  WEBHOOK_FIRST_RETRY_MS: number;
  WEBHOOK_ATTEMPTS: number;
}): ServiceConfig['webhooks'] {
  const secret = readSecret('WEBHOOK_SECRET', e.WEBHOOK_SECRET, e.WEBHOOK_SECRET_FILE);
  if (e.WEBHOOK_ALLOWED_ORIGINS.length > 0 && (secret === undefined || secret.length < 16)) {
    throw new ConfigError(
      'invalid configuration:\n  WEBHOOK_SECRET: WEBHOOK_ALLOWED_ORIGINS needs a secret of at least 16 characters to sign each call with',
    );
  }
  return {
    allowedOrigins: e.WEBHOOK_ALLOWED_ORIGINS,
    secret,
    firstRetryMs: e.WEBHOOK_FIRST_RETRY_MS,
    attempts: e.WEBHOOK_ATTEMPTS,
  };
}

/** A secret from its variable or from the file its `_FILE` variable names (trimmed). */
function readSecret(name: string, value: string | undefined, file: string | undefined): string | undefined {
  if (value !== undefined && file !== undefined) throw new ConfigError(`set ${name} or ${name}_FILE, not both`);
  if (file !== undefined) {
    try {
      value = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read ${name}_FILE: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  const v = value?.trim();
  if (v !== undefined && /[\r\n]/.test(v)) throw new ConfigError(`${name} must be one line`);
  return v === '' ? undefined : v;
}

/**
 * Stable across restarts of the same service (same host, same database), so that a
 * restarted instance recognises the containers its previous life left behind.
 */
function defaultInstanceId(database: string): string {
  const digest = createHash('sha256').update(`${hostname()}\0${database}`).digest('hex');
  return `ephemera-${digest.slice(0, 12)}`;
}

/** Whether a (parseable) DATABASE_URL gives a password, in its user part or as a parameter. */
function holdsPassword(url: string): boolean {
  const u = new URL(url);
  return u.password !== '' || u.searchParams.has('password');
}

/** DATABASE_URL without its user and password: what logs and instance ids may show. */
export function databaseLabel(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return 'postgres';
  }
}
