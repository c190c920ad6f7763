import type { ImageCommand } from './image-commands.js';
import { RuntimeError } from '../runtime.js';

/**
 * The container's own deadline: its process runs under the image's `timeout` (busybox or
 * coreutils), which sends it SIGKILL at the deadline even when the service is gone. The whole
 * container then ends: with `Init`, PID 1 (tini) exits when its child does, and the kernel
 * kills whatever else is left in the container's PID namespace, grandchildren included.
 *
 * busybox's `timeout` execs the program in place (same pid, stdin, stdout, exit code) and
 * leaves a forked watcher behind; coreutils' runs it as a child and passes its exit code on.
 */

/**
 * Entrypoint and Cmd that run what the container would have run (the image's ENTRYPOINT,
 * then `command` or else the image's CMD) under `timeout` until `deadlineAt` (epoch ms, when
 * given), all under `shim` (the workspace's, when it is kept).
 */
export function underTimeout(
  image: string,
  deadlineAt: number | undefined,
  own: ImageCommand,
  command: string[] | undefined,
  shim: string[] = [],
) {
  const cmd = command ?? own.cmd;
  if (own.entrypoint.length === 0 && cmd.length === 0) {
    throw new RuntimeError(
      'RUNTIME_ERROR',
      `image ${image} has no ENTRYPOINT or CMD, and its profile gives no command`,
    );
  }
  const deadline = deadlineAt === undefined ? [] : ['timeout', '-s', 'KILL', String(secondsUntil(deadlineAt))];
  // The shim outside `timeout`: coreutils' stays the command's parent, of the same uid, and
  // the shim's kill of what the command left would take it, and the shim, down with it.
  return { Entrypoint: [...shim, ...deadline, ...own.entrypoint], Cmd: cmd };
}

/** Whole seconds, at least 1: busybox counts whole seconds, and coreutils reads 0 as "no deadline". */
export function secondsUntil(deadlineAt: number): number {
  return Math.max(1, Math.ceil((deadlineAt - Date.now()) / 1000));
}

/** How much of stderr's start `wrapperFailed` needs to see. */
export const STDERR_HEAD_BYTES = 256;

/**
 * What tini prints (then exit 127) when it cannot exec the wrapper, and what a shell prints
 * when it cannot (the workspace shim, a standby gate): no `timeout` on the image's PATH.
 */
const NO_WRAPPER =
  /^\[FATAL tini \(\d+\)\] exec timeout failed|timeout: (not found|No such file)|can't execute 'timeout'|'timeout': No such file/;

/** The error for a run whose wrapper never started, or undefined when it did. */
export function wrapperFailed(image: string, exitCode: number, stderrHead: string): RuntimeError | undefined {
  if (exitCode !== 127 || !NO_WRAPPER.test(stderrHead)) return undefined;
  return noTimeoutProgram(image);
}

/** The error for an image without the `timeout` program the container's own deadline needs. */
export function noTimeoutProgram(image: string): RuntimeError {
  return new RuntimeError(
    'RUNTIME_ERROR',
    `image ${image} has no "timeout" program on its PATH (busybox or coreutils), which the container's own deadline needs; ` +
      'add one to the image, or set "own_deadline": false in its profile',
  );
}
