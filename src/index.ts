import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import Docker from 'dockerode';
import { createLogger } from './observability/logger.js';
import { createApp } from './app.js';
import { Service } from './service.js';
import { isLoopbackListen } from './auth/loopback.js';
import { ConfigError, databaseLabel, type ServiceConfig } from './config/env.js';
import type { ProfileSet } from './config/profiles.js';
import { loadProfiles, loadServiceConfig } from './settings.js';
import { gatewayListenAddress } from './gateway/listen-address.js';
import { unlockedProfiles } from './runner/docker/egress-lock.js';
import { engineRuntimes, missingRuntimes } from './runner/docker/runtimes.js';
import { callsModel } from './runner/agents/registry.js';
import { UnsafeDatabaseError } from './db/sqlite/open.js';
import { openStore } from './db/open-store.js';
import type { Store } from './db/contract.js';
import { applyServerLimits } from './http/server-limits.js';
import { newWebSocketServer, refuseOtherUpgrades } from './http/ws/server.js';
import type { WebSocketServer } from 'ws';
import { DockerRuntime } from './runner/docker/docker-runtime.js';

const logger = createLogger();

async function main() {
  const { config, profiles } = loadSettings();
  const database = await openStoreOrExit(config);
  const docker = new Docker(config.engine.socketPath ? { socketPath: config.engine.socketPath } : undefined);
  const service = new Service({ database, runtime: new DockerRuntime(docker), config, profiles, logger });
  await refuseToServeNobody(service, config);
  await refuseASecondProcess(service, config);
  // Before standby starts: no container is started for a profile whose runtime the engine lacks.
  // An engine that does not answer: nothing can run now anyway; a later run gets the engine's own error.
  const runtimes = await engineRuntimes(docker);
  for (const [agent, why] of runtimes ? missingRuntimes(profiles, runtimes) : []) {
    service.disableAgent(agent, why);
    logger.error({ agent, why }, 'agent disabled: the engine lacks its runtime');
  }
  await service.startBackground();
  for (const [agent, why] of await unlockedProfiles(
    docker,
    profiles,
    config.modelGateway.ports,
    config.trustHostEgressRules,
  )) {
    service.disableAgent(agent, why);
    logger.error({ agent, why }, 'agent disabled: its network is not locked down');
  }
  // Before the API serves: a model agent's run must not start while its model is out of reach.
  const gatewayDown = await serveModelGateway(service, docker, config, profiles);
  for (const p of profiles.profiles.values()) {
    if (gatewayDown && callsModel(p.kind)) service.disableAgent(p.name, gatewayDown);
  }
  const wss = newWebSocketServer(config.maxBodyBytes);
  const server = serveHttp(createApp(service), wss, config, service);
  shutDownOnSignals(server, wss, service, config);
}

/** The settings and profiles; a mistake in them ends the process with exit code 2. */
function loadSettings(): { config: ServiceConfig; profiles: ProfileSet } {
  try {
    const config = loadServiceConfig();
    return { config, profiles: loadProfiles(config.profilesPath) };
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ephemera: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

async function openStoreOrExit(config: ServiceConfig): Promise<Store> {
  try {
    return await openStore(config);
  } catch (err) {
    if (err instanceof UnsafeDatabaseError) {
      process.stderr.write(`ephemera: ${err.message}\n`);
      process.exit(2);
    }
    if (config.databaseUrl === undefined) throw err;
    // Said without the URL's password.
    process.stderr.write(
      `ephemera: cannot open the database at ${databaseLabel(config.databaseUrl)}: ${(err as Error).message}\n`,
    );
    process.exit(1);
  }
}

/** Without an active key every /v1 request would get 401, unless keyless mode applies. */
async function refuseToServeNobody(service: Service, config: ServiceConfig): Promise<void> {
  if (await service.keys.anyActive()) return;
  const revoked = await service.keys.everCreated();
  if (!isLoopbackListen(config.host) || revoked) {
    // Every /v1 request would get 401: say so now rather than serve nothing.
    process.stderr.write(
      `ephemera: refusing to start without an active API key: ${
        revoked ? 'every key was revoked' : `HOST=${config.host} is reachable beyond this machine`
      }, so every request would be refused.\n` +
        `  create one first (npm run keys -- create --name admin --role admin)${revoked ? '' : ', or set HOST=127.0.0.1'}\n`,
    );
    process.exit(2);
  }
  logger.warn('no API keys configured: serving loopback requests without authentication');
}

async function refuseASecondProcess(service: Service, config: ServiceConfig): Promise<void> {
  const holder = await service.instanceTakenBy();
  if (holder === undefined) return;
  process.stderr.write(
    `ephemera: instance ${config.instanceId} is already served by process ${holder} on this database.\n` +
      `  stop it first, or give each service its own INSTANCE_ID (or DATABASE_PATH)\n`,
  );
  process.exit(2);
}

function serveHttp(
  app: ReturnType<typeof createApp>,
  wss: WebSocketServer,
  config: ServiceConfig,
  service: Service,
): Server {
  const server = serve(
    { fetch: app.fetch, hostname: config.host, port: config.port, websocket: { server: wss } },
    (info) => {
      logger.info(
        {
          url: `http://${config.host}:${info.port}`,
          database: config.databaseUrl === undefined ? config.databasePath : databaseLabel(config.databaseUrl),
          agents: [...service.profiles.profiles.keys()],
          instance: config.instanceId,
          // Which model keys the gateway holds, by name (a field named like a key would be redacted).
          modelKeysConfigured: Object.keys(config.secrets).filter((name) => config.secrets[name] !== undefined),
          // The agents refused with 503 AGENT_UNAVAILABLE (no model key, an unlocked network, no gateway), and why.
          unavailableAgents: Object.fromEntries(service.runs.unavailableAgents()),
        },
        'ephemera listening',
      );
    },
  );
  applyServerLimits(server as Server, config.http); // before 'listening': see the function
  refuseOtherUpgrades(server as Server);
  server.on('error', (err) => {
    logger.fatal({ err }, 'cannot listen');
    process.exit(1);
  });
  return server as Server;
}

function shutDownOnSignals(http: Server, wss: WebSocketServer, service: Service, config: ServiceConfig): void {
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, inFlight: service.runs.runningCount }, 'shutting down');
    // Stop accepting; in-flight responses go on until their runs end.
    const closed = new Promise<void>((resolve) => http.close(() => resolve()));
    await service.shutdown(config.shutdownGraceMs);
    // Their runs have ended (and said so): conversations are told why the socket closes.
    for (const ws of wss.clients) ws.close(1001, 'the service is shutting down');
    // Let the last responses flush, then drop keep-alive and stragglers.
    http.closeIdleConnections();
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1000))]);
    http.closeAllConnections();
    await service.database.close();
    logger.info('stopped');
    process.exit(0);
  };
  const onSignal = (signal: string) =>
    shutdown(signal).catch((err: unknown) => {
      logger.fatal({ err }, 'shutdown failed');
      process.exit(1);
    });
  process.on('SIGTERM', () => void onSignal('SIGTERM'));
  process.on('SIGINT', () => void onSignal('SIGINT'));
}

/**
 * Starts the model gateway's listener; says why not when it cannot (model agents are then
 * refused, since they could not reach their model).
 */
async function serveModelGateway(service: Service, docker: Docker, config: ServiceConfig, profiles: ProfileSet) {
  try {
    const host = config.modelGateway.host ?? (await gatewayListenAddress(docker, profiles));
    if (host === undefined) return undefined;
    const url = await service.gateway.listen(host, config.modelGateway.port);
    logger.info({ url, upstreams: config.modelGateway.upstreams }, 'model gateway listening');
    return undefined;
  } catch (err) {
    const why = `the model gateway is not serving (${(err as Error).message}); model agents cannot reach their model`;
    logger.error(why);
    return why;
  }
}

main().catch((err: unknown) => {
  logger.fatal({ err }, 'could not start');
  process.exit(1);
});
