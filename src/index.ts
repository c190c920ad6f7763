import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import Docker from 'dockerode';
import { createLogger } from './observability/logger.js';
import { createApp } from './app.js';
import { isLoopbackListen } from './auth/loopback.js';
import { ConfigError, loadServiceConfig, type ServiceConfig } from './config/env.js';
import { loadProfiles, type ProfileSet } from './config/profiles.js';
import { gatewayListenAddress } from './gateway/listen-address.js';
import { unlockedProfiles } from './runner/egress-lock.js';
import { callsModel } from './runner/agents/registry.js';
import { openDatabase, UnsafeDatabaseError } from './db/open.js';
import { applyServerLimits } from './http/server-limits.js';
import { DockerRuntime } from './runner/docker-runtime.js';

const logger = createLogger();

async function main() {
  let config, profiles;
  try {
    config = loadServiceConfig();
    profiles = loadProfiles(config.profilesPath);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ephemera: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }

  let db;
  try {
    db = openDatabase(config.databasePath);
  } catch (err) {
    if (!(err instanceof UnsafeDatabaseError)) throw err;
    process.stderr.write(`ephemera: ${err.message}\n`);
    process.exit(2);
  }
  const docker = new Docker();
  const app = createApp({ db, runtime: new DockerRuntime(docker), config, profiles, logger });
  if (!app.keys.anyActive()) {
    if (!isLoopbackListen(config.host) || app.keys.everCreated()) {
      // Every /v1 request would get 401: say so now rather than serve nothing.
      process.stderr.write(
        `ephemera: refusing to start without an active API key: ${
          app.keys.everCreated() ? 'every key was revoked' : `HOST=${config.host} is reachable beyond this machine`
        }, so every request would be refused.\n` +
          `  create one first (npm run keys -- create --name admin --role admin)${app.keys.everCreated() ? '' : ', or set HOST=127.0.0.1'}\n`,
      );
      process.exit(2);
    }
    logger.warn('no API keys configured: serving loopback requests without authentication');
  }
  const holder = app.instanceTakenBy();
  if (holder !== undefined) {
    process.stderr.write(
      `ephemera: instance ${config.instanceId} is already served by process ${holder} on this database.\n` +
        `  stop it first, or give each service its own INSTANCE_ID (or DATABASE_PATH)\n`,
    );
    process.exit(2);
  }
  app.startBackground();
  for (const [agent, why] of await unlockedProfiles(docker, profiles, config.modelGateway.port, config.trustHostEgressRules)) {
    app.runs.disableAgent(agent, why);
    logger.error({ agent, why }, 'agent disabled: its network is not locked down');
  }
  // Before the API serves: a model agent's run must not start while its model is out of reach.
  const gatewayDown = await serveModelGateway(app, docker, config, profiles);
  for (const p of profiles.profiles.values()) {
    if (gatewayDown && callsModel(p.kind)) app.runs.disableAgent(p.name, gatewayDown);
  }

  const server = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, (info) => {
    logger.info(
      {
        url: `http://${config.host}:${info.port}`,
        database: config.databasePath,
        agents: [...profiles.profiles.keys()],
        instance: config.instanceId,
        // Which model keys the gateway holds: named, never shown.
        modelKeys: Object.fromEntries(Object.entries(config.secrets).map(([name, v]) => [name, v === undefined ? 'absent' : 'configured'])),
      },
      'ephemera listening',
    );
  });
  applyServerLimits(server as Server, config.http); // before 'listening': see the function
  server.on('error', (err) => {
    logger.fatal({ err }, 'cannot listen');
    process.exit(1);
  });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, inFlight: app.runs.runningCount }, 'shutting down');
    const http = server as Server;
    // Stop accepting; in-flight responses go on until their runs end.
    const closed = new Promise<void>((resolve) => http.close(() => resolve()));
    await app.shutdown(config.shutdownGraceMs);
    // Let the last responses flush, then drop keep-alive and stragglers.
    http.closeIdleConnections();
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1000))]);
    http.closeAllConnections();
    db.$client.pragma('wal_checkpoint(TRUNCATE)');
    db.$client.close();
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
async function serveModelGateway(app: ReturnType<typeof createApp>, docker: Docker, config: ServiceConfig, profiles: ProfileSet) {
  try {
    const host = config.modelGateway.host ?? (await gatewayListenAddress(docker, profiles));
    if (host === undefined) return undefined;
    const url = await app.gateway.listen(host, config.modelGateway.port);
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
