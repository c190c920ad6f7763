import type Docker from 'dockerode';
import {
  createOptions,
  removeQuietly,
  runToExit,
  attachAll,
  shimOf,
  tarOf,
  toRuntimeError,
  type EngineError,
} from './docker-container.js';
import { ImageCommandCache, type ImageCommand } from './image-commands.js';
import { DockerStandby } from './standby/docker-standby.js';
import { EngineDialect } from './engine-dialect.js';
import { underTimeout } from './own-deadline.js';
import {
  FILES_ROOT,
  type ContainerExit,
  type ContainerRuntime,
  type ContainerSpec,
  type ManagedContainer,
  type OutputSink,
} from '../runtime.js';

const PING_TIMEOUT_MS = 3000;

/** Runs each request's container on a Docker Engine through its HTTP API (dockerode). */
export class DockerRuntime implements ContainerRuntime {
  /** Each image's ENTRYPOINT and CMD, for the own-deadline wrapper. */
  private readonly images: ImageCommandCache;
  /** Containers started ahead of their run (src/runner/docker/standby). */
  readonly standby: DockerStandby;
  /** Docker's engine or Podman's, each in its own words. */
  readonly dialect: EngineDialect;

  constructor(private readonly docker: Docker) {
    this.images = new ImageCommandCache((image) => imageCommandOf(docker, image));
    this.dialect = new EngineDialect(docker);
    this.standby = new DockerStandby(this.dialect, this.images);
  }

  async ping(): Promise<void> {
    try {
      // dockerode 5 accepts { abortSignal } here; @types/dockerode 4 does not declare it.
      const ping = this.docker.ping.bind(this.docker) as (opts: { abortSignal: AbortSignal }) => Promise<unknown>;
      await ping({ abortSignal: AbortSignal.timeout(PING_TIMEOUT_MS) });
    } catch (err) {
      throw toRuntimeError(err);
    }
  }

  async run(spec: ContainerSpec, sink: OutputSink, signal: AbortSignal): Promise<ContainerExit> {
    let container: Docker.Container | undefined;
    const kill = () => {
      container?.kill({ signal: 'SIGKILL' }).catch(() => {
        // 404/409: already gone or not running; remove() below cleans up.
      });
    };
    signal.addEventListener('abort', kill, { once: true });
    try {
      const t0 = performance.now();
      // Create, copy files in, attach, start; the exit is asked once the output has ended (exitOf).
      container = await this.dialect.createContainer(await this.createOptions(spec));
      if (spec.files.length > 0)
        await container.putArchive(tarOf(spec.files) as unknown as NodeJS.ReadableStream, { path: FILES_ROOT });
      const createMs = performance.now() - t0;
      if (signal.aborted) throw signal.reason;

      const t1 = performance.now();
      const stream = await attachAll(container);
      // A stdin write can fail with EPIPE when the process exits without reading it.
      stream.on('error', () => {});
      await container.start();
      if (signal.aborted) kill(); // an abort during start() found nothing running to kill
      sink.started({ createMs, startMs: performance.now() - t1 });

      return await runToExit(container, stream, spec, sink, kill);
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw toRuntimeError(err);
    } finally {
      signal.removeEventListener('abort', kill);
      if (container) await removeQuietly(container);
    }
  }

  /** The create options; with an own deadline, the image's ENTRYPOINT and CMD go under its wrapper. */
  private async createOptions(spec: ContainerSpec): Promise<Docker.ContainerCreateOptions> {
    if (spec.ownDeadlineAt === undefined && !spec.workspace) return createOptions(spec);
    const own = await this.images.get(spec.image);
    return { ...createOptions(spec), ...underTimeout(spec.image, spec.ownDeadlineAt, own, spec.command, shimOf(spec)) };
  }

  async listManaged(): Promise<ManagedContainer[]> {
    try {
      const list = await this.docker.listContainers({ all: true, filters: { label: ['ephemera.managed=true'] } });
      return list.map((c) => {
        const deadline = Number(c.Labels['ephemera.deadline']);
        return {
          id: c.Id,
          runId: c.Labels['ephemera.run'] ?? '',
          instanceId: c.Labels['ephemera.instance'] ?? '',
          deadline: Number.isFinite(deadline) && deadline > 0 ? deadline : null,
        };
      });
    } catch (err) {
      throw toRuntimeError(err);
    }
  }

  async remove(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).remove({ force: true, v: true });
    } catch (err) {
      const status = (err as EngineError).statusCode;
      if (status === 404 || status === 409) return;
      throw toRuntimeError(err);
    }
  }
}

export async function imageCommandOf(docker: Docker, image: string): Promise<ImageCommand> {
  const { Config } = await docker.getImage(image).inspect();
  const list = (v: string | string[] | null | undefined) => (typeof v === 'string' ? [v] : (v ?? []));
  return {
    entrypoint: list(Config.Entrypoint),
    cmd: list(Config.Cmd),
    ...gateOf(Config.Labels?.['ephemera.standby.gate']),
  };
}

/** An image's own standby gate: a JSON array of strings, or nothing (the plain sh gate is used). */
function gateOf(label: string | undefined): { gate?: string[] } {
  if (!label) return {};
  try {
    const argv = JSON.parse(label) as unknown;
    return Array.isArray(argv) && argv.length > 0 && argv.every((a) => typeof a === 'string') ? { gate: argv } : {};
  } catch {
    return {};
  }
}
