import {
  RuntimeError,
  type ContainerExit,
  type ContainerRuntime,
  type ContainerSpec,
  type ManagedContainer,
  type OutputSink,
} from './runtime.js';

/** What a program in a MemoryRuntime "container" gets: its spec (stdin, files) and its output. */
export interface MemoryProcess {
  spec: ContainerSpec;
  stdout(text: string | Buffer): Promise<void>;
  stderr(text: string | Buffer): Promise<void>;
  /** Aborted when the run is stopped (the container killed). */
  signal: AbortSignal;
}

/** A program: what the container does, and its exit. Throwing a RuntimeError is an engine failure. */
export type MemoryProgram = (p: MemoryProcess) => Promise<number | Partial<ContainerExit>>;

/**
 * A ContainerRuntime without containers, for tests of run logic that need no engine:
 * each run calls the program named by the spec's image. A killed run's program sees its
 * signal abort, and the run ends as the Docker one does (the caller reads the reason).
 */
export class MemoryRuntime implements ContainerRuntime {
  /** Every spec it was asked to run, in order. */
  readonly specs: ContainerSpec[] = [];
  private readonly live = new Map<string, ManagedContainer>();

  constructor(private readonly programs: Record<string, MemoryProgram>) {}

  async ping(): Promise<void> {}

  async run(spec: ContainerSpec, sink: OutputSink, signal: AbortSignal): Promise<ContainerExit> {
    const program = this.programs[spec.image];
    if (!program) throw new RuntimeError('IMAGE_NOT_FOUND', `image not found on the engine: ${spec.image}`);
    this.specs.push(spec);
    const id = `mem-${this.specs.length}`;
    this.live.set(id, {
      id,
      runId: spec.labels['ephemera.run'] ?? '',
      instanceId: spec.labels['ephemera.instance'] ?? '',
      deadline: null,
    });
    try {
      if (signal.aborted) throw signal.reason;
      sink.started({ createMs: 0, startMs: 0 });
      const killed = new Promise<never>((_, reject) =>
        signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
      );
      const exit = await Promise.race([
        program({
          spec,
          signal,
          stdout: (t) => sink.stdout(Buffer.from(t)),
          stderr: (t) => sink.stderr(Buffer.from(t)),
        }),
        killed,
      ]);
      return typeof exit === 'number'
        ? { exitCode: exit, oomKilled: false }
        : { exitCode: 0, oomKilled: false, ...exit };
    } finally {
      this.live.delete(id);
    }
  }

  async listManaged(): Promise<ManagedContainer[]> {
    return [...this.live.values()];
  }

  async remove(id: string): Promise<void> {
    this.live.delete(id);
  }
}
