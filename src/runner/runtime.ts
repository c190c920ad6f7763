import type { Capture } from './protocol/workspace.js';
import type { OciRuntime } from '../config/profiles.js';
/**
 * The container life cycle behind one small interface, so that another engine
 * (Podman, Kubernetes) or a mode that starts single-use containers ahead of their
 * request can replace the Docker one without touching the routes or the run logic.
 */

/**
 * Files go in under this folder: a per-container volume, so they can be copied in before start even with a read-only
 * root.
 */
export const FILES_ROOT = '/ephemera';

export interface ContainerFile {
  /** Absolute path inside the container, under FILES_ROOT. */
  path: string;
  content: Buffer;
  /** File mode. Owned by root unless `uid` says otherwise, so 0o444 is read-only to the process. */
  mode: number;
  uid?: number;
}

export interface ContainerSpec {
  image: string;
  command: string[] | undefined;
  env: Record<string, string>;
  user: string;
  workdir: string | undefined;
  network: string;
  limits: { memoryBytes: number; nanoCpus: number; pids: number; nofile: number };
  readOnlyRoot: boolean;
  /** runc or gVisor (runsc): the engine's runtime is picked from this and the network (docker/runtimes.ts). */
  runtime: OciRuntime;
  /** tmpfs mounts: path -> options. */
  tmpfs: Record<string, string>;
  labels: Record<string, string>;
  /** Put into the container before it starts. */
  files: ContainerFile[];
  /** Written to the process's stdin, which is then closed (the process sees EOF). */
  stdin: Buffer;
  /**
   * Epoch ms at which the container kills its own process, even when the service is gone
   * (the image's `timeout` wraps it: own-deadline.ts). Later than the service's own timer,
   * which normally ends the run first. Undefined: no wrapper, the command runs as given.
   */
  ownDeadlineAt: number | undefined;
  /**
   * The workdir is the session's (../protocol/workspace.ts): the command runs under the workspace
   * shim, which reads `boundary` and the size of `restore` (the stored workspace's tar) as
   * stdin's first line, and that tar next. Undefined: not kept.
   */
  workspace: { boundary: string; maxBytes: number; restore: Buffer | undefined } | undefined;
}

/** Where a container's output goes. Awaiting the promise applies backpressure to the container. */
export interface OutputSink {
  started(timings: { createMs: number; startMs: number }): void;
  stdout(chunk: Buffer): Promise<void>;
  stderr(chunk: Buffer): Promise<void>;
}

export interface ContainerExit {
  exitCode: number;
  /** The kernel killed it for exceeding its memory limit. */
  oomKilled: boolean;
  /**
   * What it handed back of its workdir (spec.workspace); undefined when nothing came (it died or was stopped first).
   */
  capture?: Capture;
}

export type RuntimeErrorCode = 'RUNTIME_UNAVAILABLE' | 'IMAGE_NOT_FOUND' | 'RUNTIME_ERROR';

export class RuntimeError extends Error {
  override name = 'RuntimeError';
  constructor(
    readonly code: RuntimeErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface ContainerRuntime {
  /** Resolves when the engine answers; rejects with a RuntimeError otherwise. */
  ping(): Promise<void>;
  /**
   * Runs one single-use container to its end and removes it, whatever happens.
   * When `signal` aborts, the container is killed and the call resolves or rejects
   * soon after; the caller reads the reason from the signal.
   */
  run(spec: ContainerSpec, sink: OutputSink, signal: AbortSignal): Promise<ContainerExit>;
  /** Every container labelled `ephemera.managed=true`, whichever instance started it. */
  listManaged(): Promise<ManagedContainer[]>;
  /** Kills and removes a container; a container already gone is not an error. */
  remove(id: string): Promise<void>;
}

/** A container this service (or another instance) started, as its labels describe it. */
export interface ManagedContainer {
  id: string;
  runId: string;
  instanceId: string;
  /** Epoch ms after which its run cannot be live; null when the label is missing. */
  deadline: number | null;
}
