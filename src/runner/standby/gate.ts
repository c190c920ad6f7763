import { FILES_ROOT } from '../runtime.js';

/**
 * A standby container runs this gate instead of its command: it waits for one line on
 * stdin (the "go line"), then does what that line says: take the run's files from stdin,
 * then become the run's command; the rest of stdin (the prompt) is the command's. The line
 * is written by the service, each word quoted, so the request's arguments and files arrive
 * only when a run takes the container.
 *
 * `read` takes exactly one line from a pipe (POSIX: it reads no further), and `dd` with
 * `count_bytes,fullblock` exactly the files' bytes, so nothing of the prompt is lost.
 */
export const GATE = ['sh', '-c', `chmod u+w ${FILES_ROOT} 2>/dev/null; IFS= read -r go && eval "$go"`, 'ephemera-gate'];

/** One word for `sh`, whatever it holds but a newline (the gate reads one line). */
const quote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;

/**
 * The go line: unpack `filesBytes` bytes of tar from stdin into FILES_ROOT (the run's user's
 * tmpfs; the engine copies the image's folder mode onto it, so the gate makes it writable
 * while it waits: each process after the go line is ~0.5 ms of the run's first byte), make
 * them read-only, then exec the command with the environment it adds to the container's.
 * Undefined when a word or value holds a newline, which one line cannot carry (the run
 * then starts a container of its own).
 */
export function goLine(argv: string[], env: Record<string, string>, filesBytes = 0): string | undefined {
  const assignments = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const words = assignments.length > 0 ? ['env', ...assignments, ...argv] : argv;
  if (words.some((w) => w.includes('\n') || w.includes('\0'))) return undefined;
  const files =
    filesBytes > 0
      ? `dd bs=65536 count=${filesBytes} iflag=count_bytes,fullblock 2>/dev/null | tar -x -C ${FILES_ROOT} && chmod -R a-w ${FILES_ROOT} && `
      : '';
  return `${files}exec ${words.map(quote).join(' ')}\n`;
}
