import { randomBytes } from 'node:crypto';

/**
 * What a profile that keeps its workspace runs its command under. A tmpfs is gone once its
 * container stops, and the engine's archive API cannot read one: so the container hands its
 * workspace over itself, on stdout, after its command has ended.
 *
 * It reads one line of stdin: the run's boundary (never in argv or the environment, where
 * `ps` or `env` would print it) and the size of the stored workspace's tar, which follows on
 * stdin and is unpacked straight into the workdir (no copy of it lands anywhere else). It
 * then runs the command on the rest of stdin, kills whatever the command left running
 * (nothing else writes to stdout after that), prints the boundary, a tar of the workspace,
 * and tar's exit status as three digits; and exits with the command's status.
 */
export const WORKSPACE_SHIM = [
  "IFS=' ' read -r b n || exit 125",
  'w=$1; shift',
  // umask 0 while unpacking: the modes as stored, or the digest of an untouched workspace would change.
  'if [ "$n" -gt 0 ]; then umask 0; dd bs=65536 count="$n" iflag=count_bytes,fullblock 2>/dev/null | tar -x -C "$w" || { echo "ephemera: the workspace could not be restored into $w" >&2; exit 125; }; umask 022; fi',
  '"$@"; rc=$?',
  'kill -KILL -1 2>/dev/null',
  'printf %s "$b"; tar -c -C "$w" . 2>/dev/null; printf %03d $?',
  'exit $rc',
].join('; ');

/** The shim as a command: the workdir is its first argument, the command the rest. */
export const workspaceShim = (workdir: string): string[] => ['sh', '-c', WORKSPACE_SHIM, 'ephemera-workspace', workdir];

/**
 * A boundary no command prints by chance: new for each run, and only the shim reads it. It
 * starts with a control character (RS) that text output does not end on, so output is
 * almost never held back waiting to see whether a boundary begins; it holds no newline
 * (the shim reads it as one line).
 */
export const newBoundary = () => `\x1eephemera-workspace-${randomBytes(18).toString('hex')}\x1e`;

/** What the stream after the boundary gave: the workspace's tar, or why there is none. */
export type Capture = { tar: Buffer } | { problem: 'TOO_LARGE' | 'UNREADABLE' };

/**
 * Splits a keeping run's stdout into the command's output (passed on as it comes) and what
 * follows the boundary (kept, up to `maxBytes`). Bytes that could be the start of the
 * boundary are held back until the next chunk tells.
 */
export class CaptureSplitter {
  private readonly boundary: Buffer;
  private held = Buffer.alloc(0);
  private tail: Buffer[] | undefined;
  private tailBytes = 0;
  private overflow = false;

  /** The workspace went over its bound: nothing more of it is worth reading. */
  get overflowed(): boolean {
    return this.overflow;
  }

  constructor(
    boundary: string,
    private readonly maxBytes: number,
  ) {
    this.boundary = Buffer.from(boundary);
  }

  /** The part of this chunk that is the command's output. */
  push(chunk: Buffer): Buffer {
    if (this.tail) {
      this.keep(chunk);
      return EMPTY;
    }
    const data = this.held.length > 0 ? Buffer.concat([this.held, chunk]) : chunk;
    const at = data.indexOf(this.boundary);
    if (at >= 0) {
      this.tail = [];
      this.held = EMPTY;
      this.keep(data.subarray(at + this.boundary.length));
      return data.subarray(0, at);
    }
    const hold = partialAtEnd(data, this.boundary);
    this.held = Buffer.from(data.subarray(data.length - hold));
    return data.subarray(0, data.length - hold);
  }

  /**
   * At the end of the stream: what was held back (the command's, after all) and the
   * capture, undefined when no boundary came (the container died, or was stopped, first).
   */
  end(): { rest: Buffer; capture: Capture | undefined } {
    if (!this.tail) return { rest: this.held, capture: undefined };
    if (this.overflow) return { rest: EMPTY, capture: { problem: 'TOO_LARGE' } };
    const all = Buffer.concat(this.tail);
    const status = all.subarray(all.length - 3).toString('latin1');
    if (all.length < 3 || status !== '000') return { rest: EMPTY, capture: { problem: 'UNREADABLE' } };
    return { rest: EMPTY, capture: { tar: all.subarray(0, all.length - 3) } };
  }

  private keep(chunk: Buffer): void {
    if (this.overflow) return;
    this.tailBytes += chunk.length;
    if (this.tailBytes > this.maxBytes) {
      this.overflow = true;
      this.tail = [];
      return;
    }
    this.tail!.push(Buffer.from(chunk));
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * How many bytes at the end of `data` are a proper prefix of `boundary`. Such a prefix
 * starts at the last RS (the boundary holds no other before its final byte).
 */
function partialAtEnd(data: Buffer, boundary: Buffer): number {
  const from = data.lastIndexOf(boundary[0]!);
  if (from < 0 || data.length - from >= boundary.length) return 0; // the usual case: no RS near the end
  return data.subarray(from).equals(boundary.subarray(0, data.length - from)) ? data.length - from : 0;
}
