import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { engineRuntime } from './runtimes.js';
import { pack, type Pack } from 'tar-stream';
import { FrameDecoder } from './frames.js';
import { STDERR_HEAD_BYTES, wrapperFailed } from './own-deadline.js';
import { CaptureSplitter, workspaceShim, type Capture } from '../protocol/workspace.js';
import { stdinOf } from '../protocol/stdin.js';
import {
  FILES_ROOT,
  RuntimeError,
  type ContainerExit,
  type ContainerFile,
  type ContainerSpec,
  type OutputSink,
} from '../runtime.js';

// One container's life on a Docker Engine, as a cold run (docker-runtime.ts) and a standby
// one (standby/docker-standby.ts) both live it: its create options and files, its stdin in
// and output out, its exit, its removal, and the engine's errors in the service's words.

/**
 * What a cold and a standby container share once their process runs: its stdin in, its
 * output out until it ends, then its exit, with the workspace it handed back.
 */
export async function runToExit(
  container: Docker.Container,
  stream: Duplex,
  spec: ContainerSpec,
  sink: OutputSink,
  kill: () => void,
): Promise<ContainerExit> {
  stream.end(stdinOf(spec));
  const { stderrHead, capture } = await relay(stream, sink, spec.workspace, kill);
  const exit = await exitOf(container);
  const noWrapper = spec.ownDeadlineAt === undefined ? undefined : wrapperFailed(spec.image, exit.exitCode, stderrHead);
  if (noWrapper) throw noWrapper;
  return { ...exit, ...(capture && { capture }) };
}

/**
 * Passes the container's output to the sink until it ends. With a kept workspace, what
 * follows the boundary on stdout is the workspace (../protocol/workspace.ts), not output.
 */
async function relay(
  stream: Duplex,
  sink: OutputSink,
  workspace?: ContainerSpec['workspace'],
  /** Called once when the workspace goes over its bound (the caller kills the container: the rest is not read). */
  onOverflow?: () => void,
): Promise<{ stderrHead: string; capture: Capture | undefined }> {
  const decoder = new FrameDecoder();
  const splitter = workspace && new CaptureSplitter(workspace.boundary, workspace.maxBytes);
  let stderrHead = '';
  for await (const chunk of stream) {
    for (const frame of decoder.push(chunk as Buffer)) {
      if (frame.stream === 'stdout') {
        const out = splitter ? splitter.push(frame.payload) : frame.payload;
        if (out.length > 0) await sink.stdout(out);
        if (splitter?.overflowed && onOverflow) {
          onOverflow();
          onOverflow = undefined;
        }
        continue;
      }
      if (stderrHead.length < STDERR_HEAD_BYTES) stderrHead += frame.payload.toString('latin1', 0, STDERR_HEAD_BYTES);
      await sink.stderr(frame.payload);
    }
  }
  if (!splitter) return { stderrHead, capture: undefined };
  const { rest, capture } = splitter.end();
  if (rest.length > 0) await sink.stdout(rest);
  return { stderrHead, capture };
}

/**
 * The container's stdin, stdout and stderr on one hijacked connection: what dockerode's
 * `attach` asks, but with an empty body (`Content-Length: 0`). dockerode also sends the options
 * as a JSON body, which Docker ignores and Podman hands to the process as the first bytes of its
 * stdin; and with no body at all docker-modem sends `Transfer-Encoding: chunked`, on which both
 * engines wait for a body that never ends. An empty `file` is docker-modem's way to say none.
 */
export function attachAll(container: Docker.Container): Promise<Duplex> {
  const modem = container.modem as { dial(options: object, cb: (err: unknown, stream: Duplex) => void): void };
  return new Promise((resolve, reject) => {
    modem.dial(
      {
        path: `/containers/${container.id}/attach?`,
        method: 'POST',
        isStream: true,
        hijack: true,
        openStdin: true,
        file: Buffer.alloc(0),
        statusCodes: { 101: true, 200: true, 404: 'no such container', 500: 'server error' },
        options: { stream: true, stdin: true, stdout: true, stderr: true },
      },
      (err, stream) => (err ? reject(err) : resolve(stream)),
    );
  });
}

/** The workspace shim's words, when the workspace is kept. */
export function shimOf(spec: ContainerSpec): string[] {
  return spec.workspace && spec.workdir ? workspaceShim(spec.workdir) : [];
}

const EXIT_CHECK_MS = 1000;

/**
 * The container's exit, once its output has ended. Asked only now, with the default
 * `not-running` condition: a `next-exit` wait sent before start can reach the engine
 * after a quick process has already exited, and then it waits forever. If the engine's
 * connection breaks mid-answer, dockerode's promise never settles, so every second the
 * container is inspected too: that fails fast when the engine is gone.
 */
async function exitOf(container: Docker.Container): Promise<ContainerExit> {
  const exited = container.wait() as Promise<{ StatusCode: number }>;
  exited.catch(() => {}); // a rejection is seen through the race below
  for (;;) {
    const waited = await Promise.race([
      exited,
      new Promise<undefined>((r) => setTimeout(() => r(undefined), EXIT_CHECK_MS).unref()),
    ]);
    const state = (await container.inspect()).State;
    if (waited || !state.Running) {
      return { exitCode: waited?.StatusCode ?? state.ExitCode, oomKilled: state.OOMKilled === true };
    }
  }
}

export function createOptions(spec: ContainerSpec): Docker.ContainerCreateOptions {
  return {
    Image: spec.image,
    Cmd: spec.command,
    Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
    User: spec.user,
    WorkingDir: spec.workdir,
    Labels: spec.labels,
    // An anonymous volume, removed with the container: files can be copied into it before
    // start even when the root filesystem is read-only.
    Volumes: { [FILES_ROOT]: {} },
    // StdinOnce: closing our end of stdin gives the process EOF instead of closing the output.
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    OpenStdin: true,
    StdinOnce: true,
    Tty: false,
    NetworkDisabled: spec.network === 'none',
    HostConfig: {
      NetworkMode: spec.network,
      Memory: spec.limits.memoryBytes,
      MemorySwap: spec.limits.memoryBytes, // equal to Memory: no swap
      NanoCpus: spec.limits.nanoCpus,
      PidsLimit: spec.limits.pids,
      Ulimits: [{ Name: 'nofile', Soft: spec.limits.nofile, Hard: spec.limits.nofile }],
      ReadonlyRootfs: spec.readOnlyRoot,
      Tmpfs: spec.tmpfs,
      Binds: [], // never a host path, never the engine socket
      Privileged: false,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      Init: true,
      ...runtimeOf(spec),
      // No engine-side copy of the output: attach still streams it, but nothing is written to
      // the engine's disk (json-file, the default, keeps every byte until removal).
      LogConfig: { Type: 'none', Config: {} },
      AutoRemove: false, // we remove it ourselves, after reading its exit code
    },
  };
}

/** gVisor's engine runtime for a runsc profile; nothing for runc, so the engine's default applies. */
function runtimeOf(spec: ContainerSpec): { Runtime?: string } {
  const runtime = engineRuntime(spec.runtime, spec.network);
  return runtime === undefined ? {} : { Runtime: runtime };
}

/**
 * A tar of the files, relative to FILES_ROOT; folders (and FILES_ROOT itself) root-owned,
 * 0555. Streamed to the engine as it is read, so no second copy of a large replay is held.
 * `folderOwner` gives the folders to that uid, writable (a standby container's gate unpacks
 * its run's files there, as that user, then makes them read-only).
 */
export function tarOf(files: ContainerFile[], folderOwner?: number): Pack {
  const tar = pack();
  const relative = (p: string) => {
    if (!p.startsWith(`${FILES_ROOT}/`) || p.split('/').includes('..'))
      throw new Error(`container file outside ${FILES_ROOT}: ${p}`);
    return p.slice(FILES_ROOT.length + 1);
  };
  const dirs = new Set(['.', ...files.map((f) => parentDir(relative(f.path))).filter((d) => d !== '')]);
  for (const dir of dirs) {
    const owned = folderOwner !== undefined;
    tar.entry({
      name: `${dir}/`,
      type: 'directory',
      mode: owned ? 0o755 : 0o555,
      uid: owned ? folderOwner : 0,
      gid: owned ? folderOwner : 0,
    });
  }
  for (const f of files) {
    const owner = f.uid ?? 0;
    tar.entry({ name: relative(f.path), mode: f.mode, uid: owner, gid: owner, size: f.content.length }, f.content);
  }
  tar.finalize();
  return tar;
}

function parentDir(path: string): string {
  return path.split('/').slice(0, -1).join('/');
}

/** A removal another caller began is waited for this long at most. */
const REMOVAL_WAIT_MS = 10_000;

/**
 * Removes the container, and returns once it is gone. 404: gone already. 409: another
 * removal is under way (the reaper's and a standby pool's close, say): that one is waited
 * for, so that whoever awaits this (a shutdown) does not leave a container behind. The
 * engine itself may be gone: the labels let a later sweep find the container.
 */
export async function removeQuietly(container: Docker.Container): Promise<void> {
  try {
    await container.remove({ force: true, v: true });
  } catch (err) {
    if ((err as EngineError).statusCode === 409) await goneWithin(container, REMOVAL_WAIT_MS);
  }
}

async function goneWithin(container: Docker.Container, ms: number): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    try {
      await container.inspect();
    } catch {
      return; // 404, or the engine is away: nothing left to wait for here
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface EngineError {
  statusCode?: number;
  code?: string;
  message?: string;
  json?: { message?: string } | null;
}

/** Maps dockerode's errors to the few that callers act on; never exposes engine internals. */
export function toRuntimeError(err: unknown): RuntimeError {
  if (err instanceof RuntimeError) return err;
  const e = (err ?? {}) as EngineError;
  const message = e.json?.message ?? e.message ?? String(err);
  if (
    e.code === 'ECONNREFUSED' ||
    e.code === 'ENOENT' ||
    e.code === 'EACCES' ||
    e.code === 'ECONNRESET' ||
    e.code === 'EPIPE' ||
    e.code === 'ETIMEDOUT' ||
    e.code === 'EHOSTUNREACH' ||
    (e as Error).name === 'TimeoutError' ||
    (e as Error).name === 'AbortError'
  ) {
    return new RuntimeError('RUNTIME_UNAVAILABLE', 'the container engine is not reachable');
  }
  if (e.statusCode === 404 && /no such image/i.test(message)) {
    return new RuntimeError(
      'IMAGE_NOT_FOUND',
      `image not found on the engine: ${message.replace(/^no such image:\s*/i, '')}`,
    );
  }
  return new RuntimeError('RUNTIME_ERROR', `the container engine failed: ${message}`);
}
