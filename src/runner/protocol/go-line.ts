import { FILES_ROOT, type ContainerFile } from '../runtime.js';
import { WORKSPACE_SHIM } from './workspace.js';

/**
 * A standby container runs a gate instead of its command: it waits for one line on stdin
 * (the "go line"), then does what that line says: take the run's files, then become the
 * run's command; the rest of stdin (the workspace, the prompt) is the command's. The line is
 * written by the service, each word quoted, so the request's arguments and files arrive only
 * when a run takes the container.
 *
 * `read` takes exactly one line from a pipe (POSIX: it reads no further), and `dd` with
 * `count_bytes,fullblock` exactly the files' bytes, so nothing of the prompt is lost.
 *
 * Every process the go line starts is ~0.3–1.5 ms of the run's first byte, so the plain gate
 * does ahead of time, while it waits, what it can:
 * - it makes FILES_ROOT writable (the engine copies the image's folder mode onto the tmpfs);
 * - it forks the watcher that keeps the container's own deadline (as `timeout -s KILL` would
 *   for a cold container: own-deadline.ts). The watcher reads the deadline, in seconds, from
 *   a FIFO the gate holds open as fd 3 (the FIFO's name is removed at once); after it, it
 *   kills every process it may (`kill -1`: the container's, PID 1 aside), and the container
 *   ends. A go line that closes fd 3 unwritten lets it exit.
 */
const DEADLINE_FIFO = `${FILES_ROOT}/.deadline`;
export const GATE = [
  'sh',
  '-c',
  [
    `chmod u+w ${FILES_ROOT} 2>/dev/null`,
    `mkfifo ${DEADLINE_FIFO} && { { IFS= read -r s && sleep "$s" && kill -KILL -1; } <${DEADLINE_FIFO} >/dev/null 2>&1 & exec 3>${DEADLINE_FIFO}; rm -f ${DEADLINE_FIFO}; }`,
    'IFS= read -r go && eval "$go"',
  ].join('; '),
  'ephemera-gate',
];

/** One word for `sh`, whatever it holds but a newline (the gate reads one line). */
const quote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;
const oneLine = (words: string[]) => !words.some((w) => w.includes('\n') || w.includes('\0'));

/** Unpacks `tarBytes` of tar from stdin into FILES_ROOT and makes it all read-only. */
const untar = (tarBytes: number) =>
  `dd bs=65536 count=${tarBytes} iflag=count_bytes,fullblock 2>/dev/null | tar -x -C ${FILES_ROOT} && chmod -R a-w ${FILES_ROOT}`;

/**
 * The go line for an image's own gate (the gemini image's parses it: keep them in step):
 * unpack the files, then exec `argv` (already under its shim and `timeout`) with the
 * environment the run adds. Undefined when a word or value holds a newline, which one line
 * cannot carry (the run then starts a container of its own).
 */
export function goLine(argv: string[], env: Record<string, string>, tarBytes = 0): string | undefined {
  const assignments = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const words = assignments.length > 0 ? ['env', ...assignments, ...argv] : argv;
  if (!oneLine(words)) return undefined;
  return `${tarBytes > 0 ? `${untar(tarBytes)} && ` : ''}exec ${words.map(quote).join(' ')}\n`;
}

/** What a run asks of the plain gate. */
export interface PlainRun {
  /** The image's ENTRYPOINT and the run's command (or the image's CMD): no wrappers. */
  argv: string[];
  /** What the run adds to the container's environment. */
  env: Record<string, string>;
  /** Bytes of tar that follow the line on stdin, or 0 when `inlineFiles` wrote them. */
  tarBytes: number;
  /** The run's files, when the line writes them itself (see inlineFiles). */
  inlineFiles?: string;
  /** The container's own deadline, seconds from now. */
  deadlineSeconds?: number;
  /** The workdir whose workspace is restored and handed back (the shim, run in the gate's shell). */
  keepWorkdir?: string;
}

/** Variables the gate's own shell reads (the shim runs in it): these go through `env` instead. */
const SHELL_OWN = new Set([
  'IFS',
  'ENV',
  'PS1',
  'PS2',
  'PS4',
  'OPTIND',
  'OPTARG',
  'PPID',
  'PWD',
  'OLDPWD',
  'LINENO',
  'HOME',
  'CDPATH',
]);

/**
 * The go line for the plain gate. It starts as few processes as it can: the deadline goes to
 * the waiting watcher, variables are `export`ed, the workspace shim runs in the gate's own
 * shell, and the command is exec'd (or run by the shim). Undefined as for goLine.
 */
export function plainGoLine(run: PlainRun): string | undefined {
  const words = [...run.argv, ...Object.entries(run.env).flat(), ...(run.keepWorkdir ? [run.keepWorkdir] : [])];
  if (!oneLine(words)) return undefined;
  const names = Object.keys(run.env);
  const exportable = names.every((n) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(n) && !SHELL_OWN.has(n));
  const env = exportable ? names.map((n) => `export ${n}=${quote(run.env[n]!)}; `).join('') : '';
  const argv =
    exportable || names.length === 0 ? run.argv : ['env', ...names.map((n) => `${n}=${run.env[n]}`), ...run.argv];
  const deadline = run.deadlineSeconds === undefined ? '' : `echo ${run.deadlineSeconds} >&3; `;
  const files = run.tarBytes > 0 ? untar(run.tarBytes) : `${run.inlineFiles ?? ''}chmod a-w ${FILES_ROOT}`;
  const command = run.keepWorkdir
    ? `set -- ${[run.keepWorkdir, ...argv].map(quote).join(' ')}; ${WORKSPACE_SHIM}`
    : `exec ${argv.map(quote).join(' ')}`;
  return `${deadline}exec 3>&-; ${files} && { ${env}${command}; }\n`;
}

/**
 * The run's files written by the shell's builtins, when every one is empty and right under
 * FILES_ROOT with a mode the umask can give (a new session's empty history): `dd | tar` for
 * them would cost ~1.5 ms. Undefined otherwise (they then go as a tar).
 */
export function inlineFiles(files: ContainerFile[]): string | undefined {
  const simple = (f: ContainerFile) => {
    const name = f.path.startsWith(`${FILES_ROOT}/`) ? f.path.slice(FILES_ROOT.length + 1) : '';
    return (
      f.content.length === 0 && /^[^/\n\0]+$/.test(name) && name !== '.' && name !== '..' && (f.mode & ~0o666) === 0
    );
  };
  if (!files.every(simple)) return undefined;
  if (files.length === 0) return '';
  const made = files
    .map((f) => `umask ${(0o777 & ~f.mode).toString(8).padStart(3, '0')} && : >${quote(f.path)} && `)
    .join('');
  return `${made}umask 022 && `;
}
