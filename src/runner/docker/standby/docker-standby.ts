import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import {
  attachAll,
  createOptions,
  removeQuietly,
  runToExit,
  shimOf,
  tarOf,
  toRuntimeError,
} from '../docker-container.js';
import type { ImageCommand, ImageCommandCache } from '../image-commands.js';
import type { EngineDialect } from '../engine-dialect.js';
import { FILES_ROOT, RuntimeError, type ContainerExit, type ContainerSpec, type OutputSink } from '../../runtime.js';
import type { StandbyEngine, WaitingContainer } from './engine.js';
import { numericUid } from '../../agents/run-user.js';
import { secondsUntil, underTimeout } from '../own-deadline.js';
import { GATE, goLine, inlineFiles, plainGoLine } from '../../protocol/go-line.js';

interface DockerWaiting extends WaitingContainer {
  container: Docker.Container;
  stream: Duplex;
  /** Its image's ENTRYPOINT and CMD when it started: a tag rebuilt since must not lend it another's. */
  own: ImageCommand;
}

async function bufferOf(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * A waiting container runs the gate, and its files folder is a tmpfs of the run's user
 * (not the volume a cold container gets), so that the gate can unpack the run's files there
 * from stdin and then make them read-only. It counts against the container's memory.
 */
function waitingOptions(base: ContainerSpec, gate: string[]): Docker.ContainerCreateOptions {
  const options = createOptions(base);
  const uid = numericUid(base.user);
  return {
    ...options,
    Entrypoint: gate,
    Cmd: [],
    Volumes: {},
    HostConfig: {
      ...options.HostConfig,
      Tmpfs: {
        ...base.tmpfs,
        [FILES_ROOT]: `rw,nosuid,nodev,noexec,size=${FILES_TMPFS_MB}m,uid=${uid},gid=${uid},mode=0700`,
      },
    },
  };
}

/** Room for the largest replay (REPLAY_MAX_BYTES, 8 MiB by default) and the rest of a run's files. */
const FILES_TMPFS_MB = 64;

/** What a cold container of this run would run, as one argv: for an image's own gate, which reads that. */
function argvOf(spec: ContainerSpec, own: ImageCommand): string[] {
  const { Entrypoint, Cmd } = underTimeout(spec.image, spec.ownDeadlineAt, own, spec.command, shimOf(spec));
  return [...Entrypoint, ...Cmd];
}

/** How a run is handed to its waiting container. */
interface GoPlan {
  /** The go line, given the size of the files' tar that follows it (0: none). */
  line: (tarBytes: number) => string | undefined;
  /** The files go as a tar after the line (else the line writes them itself, or there are none). */
  sendTar: boolean;
  hasCommand: boolean;
}

/** Standby on a Docker engine: the gate runs as the container's entrypoint. */
export class DockerStandby implements StandbyEngine {
  constructor(
    private readonly dialect: EngineDialect,
    private readonly images: ImageCommandCache,
  ) {}

  async startWaiting(base: ContainerSpec): Promise<DockerWaiting> {
    let container: Docker.Container | undefined;
    try {
      // An image may bring its own gate (the gemini image's loads the CLI while it waits).
      const own = await this.images.get(base.image);
      container = await this.dialect.createContainer(waitingOptions(base, own.gate ?? GATE));
      const stream = await attachAll(container);
      stream.on('error', () => {});
      let exited!: () => void;
      const ended = new Promise<void>((resolve) => {
        exited = resolve;
        stream.once('end', resolve);
        stream.once('close', resolve);
      });
      await container.start();
      // Its exit too, not only its stream's end: a stream nobody reads while it waits may never
      // end. Asked after start: before it, "not running" is true at once.
      void container.wait().then(exited, exited);
      return {
        id: container.id,
        label: base.labels['ephemera.run'] ?? '',
        env: base.env,
        ended,
        container,
        stream,
        own,
      };
    } catch (err) {
      if (container) await removeQuietly(container);
      throw toRuntimeError(err);
    }
  }

  assign(
    waiting: WaitingContainer,
    spec: ContainerSpec,
    sink: OutputSink,
    signal: AbortSignal,
  ): Promise<ContainerExit> | undefined {
    const w = waiting as DockerWaiting;
    const added = Object.fromEntries(Object.entries(spec.env).filter(([k, v]) => w.env[k] !== v));
    // What the container runs: the image it started from, then the run's command or its CMD.
    const command = [...w.own.entrypoint, ...(spec.command ?? w.own.cmd)];
    const inline = w.own.gate ? undefined : inlineFiles(spec.files);
    const line = (tarBytes: number) =>
      w.own.gate
        ? goLine(command.length === 0 ? [] : argvOf(spec, w.own), added, tarBytes)
        : plainGoLine({
            argv: command,
            env: added,
            tarBytes,
            inlineFiles: inline,
            deadlineSeconds: spec.ownDeadlineAt === undefined ? undefined : secondsUntil(spec.ownDeadlineAt),
            keepWorkdir: spec.workspace ? spec.workdir : undefined,
          });
    // Checked before anything is done to the container, so that a refusal leaves it waiting.
    if (line(0) === undefined) return undefined;
    return this.run(w, spec, { line, sendTar: inline === undefined, hasCommand: command.length > 0 }, sink, signal);
  }

  private async run(w: DockerWaiting, spec: ContainerSpec, go: GoPlan, sink: OutputSink, signal: AbortSignal) {
    const kill = () => void w.container.kill({ signal: 'SIGKILL' }).catch(() => {});
    signal.addEventListener('abort', kill, { once: true });
    try {
      const t0 = performance.now();
      if (signal.aborted) throw signal.reason;
      // Through stdin: a copy into a running container costs the engine ~50 ms.
      const files =
        go.sendTar && spec.files.length > 0
          ? await bufferOf(tarOf(spec.files, numericUid(spec.user)) as unknown as AsyncIterable<Buffer>)
          : Buffer.alloc(0);
      if (!go.hasCommand)
        throw new RuntimeError(
          'RUNTIME_ERROR',
          `image ${spec.image} has no ENTRYPOINT or CMD, and its profile gives no command`,
        );
      w.stream.write(go.line(files.length)!);
      if (files.length > 0) w.stream.write(files);
      sink.started({ createMs: performance.now() - t0, startMs: 0 });
      return await runToExit(w.container, w.stream, spec, sink, kill);
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw toRuntimeError(err);
    } finally {
      signal.removeEventListener('abort', kill);
      await removeQuietly(w.container);
    }
  }

  async discard(waiting: WaitingContainer): Promise<void> {
    const w = waiting as DockerWaiting;
    w.stream.destroy();
    await removeQuietly(w.container);
  }
}
