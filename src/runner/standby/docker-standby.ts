import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { createOptions, exitOf, relay, removeQuietly, tarOf, toRuntimeError } from '../docker-runtime.js';
import type { ImageCommandCache } from '../image-commands.js';
import { FILES_ROOT, RuntimeError, type ContainerExit, type ContainerFile, type ContainerSpec, type OutputSink } from '../runtime.js';
import type { StandbyEngine, WaitingContainer } from './engine.js';
import { GATE, goLine } from './gate.js';

interface DockerWaiting extends WaitingContainer {
  container: Docker.Container;
  stream: Duplex;
}

const sameFile = (a: ContainerFile, b: ContainerFile) => a.path === b.path && a.mode === b.mode && (a.uid ?? 0) === (b.uid ?? 0) && a.content.equals(b.content);

/** What sh prints when the go line names a `timeout` the image lacks. */
const NO_TIMEOUT = /timeout: (not found|No such file)/;

/** Standby on a Docker engine: the gate runs as the container's entrypoint. */
export class DockerStandby implements StandbyEngine {
  constructor(
    private readonly docker: Docker,
    private readonly images: ImageCommandCache,
  ) {}

  async startWaiting(base: ContainerSpec): Promise<DockerWaiting> {
    let container: Docker.Container | undefined;
    try {
      container = await this.docker.createContainer({ ...createOptions(base), Entrypoint: GATE, Cmd: [] });
      // Before start it is cheap; into a running container a copy costs the engine ~50 ms.
      if (base.files.length > 0) await container.putArchive(tarOf(base.files) as unknown as NodeJS.ReadableStream, { path: FILES_ROOT });
      const stream = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as Duplex;
      stream.on('error', () => {});
      const ended = new Promise<void>((resolve) => {
        stream.once('end', resolve);
        stream.once('close', resolve);
      });
      await container.start();
      return { id: container.id, label: base.labels['ephemera.run'] ?? '', env: base.env, files: base.files, ended, container, stream };
    } catch (err) {
      if (container) await removeQuietly(container);
      throw toRuntimeError(err);
    }
  }

  assign(waiting: WaitingContainer, spec: ContainerSpec, sink: OutputSink, signal: AbortSignal): Promise<ContainerExit> | undefined {
    const w = waiting as DockerWaiting;
    const added = Object.fromEntries(Object.entries(spec.env).filter(([k, v]) => w.env[k] !== v));
    const deadline = spec.ownDeadlineAt === undefined ? [] : ['timeout', '-s', 'KILL', String(Math.max(1, Math.ceil((spec.ownDeadlineAt - Date.now()) / 1000)))];
    // Checked before anything is done to the container, so that a refusal leaves it waiting.
    if (goLine([...deadline, ...(spec.command ?? [])], added) === undefined) return undefined;
    return this.run(w, spec, added, deadline, sink, signal);
  }

  private async run(w: DockerWaiting, spec: ContainerSpec, added: Record<string, string>, deadline: string[], sink: OutputSink, signal: AbortSignal) {
    const kill = () => void w.container.kill({ signal: 'SIGKILL' }).catch(() => {});
    signal.addEventListener('abort', kill, { once: true });
    try {
      const t0 = performance.now();
      if (signal.aborted) throw signal.reason;
      const missing = spec.files.filter((f) => !w.files.some((have) => sameFile(have, f)));
      if (missing.length > 0) await w.container.putArchive(tarOf(missing) as unknown as NodeJS.ReadableStream, { path: FILES_ROOT });
      const own = await this.images.get(spec.image);
      const argv = [...deadline, ...own.entrypoint, ...(spec.command ?? own.cmd)];
      if (argv.length === 0) throw new RuntimeError('RUNTIME_ERROR', `image ${spec.image} has no ENTRYPOINT or CMD, and its profile gives no command`);
      w.stream.write(goLine(argv, added)!);
      sink.started({ createMs: performance.now() - t0, startMs: 0 });
      w.stream.end(spec.stdin);
      const stderrHead = await relay(w.stream, sink);
      const exit = await exitOf(w.container);
      if (deadline.length > 0 && exit.exitCode === 127 && NO_TIMEOUT.test(stderrHead)) {
        throw new RuntimeError('RUNTIME_ERROR', `image ${spec.image} has no "timeout" program on its PATH (busybox or coreutils), which the container's own deadline needs; add one to the image, or set "own_deadline": false in its profile`);
      }
      return exit;
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
