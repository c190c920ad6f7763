/**
 * A standby container runs this gate instead of its command: it waits for one line on
 * stdin (the "go line"), then becomes the command that line names; the rest of stdin
 * (the prompt) is the command's. The line is written by the service, each word quoted, so
 * the request's arguments arrive only when a run takes the container.
 *
 * `read` takes exactly one line from a pipe (POSIX: it reads no further), so nothing of
 * the prompt is lost to the gate.
 */
export const GATE = ['sh', '-c', 'IFS= read -r go && eval "exec $go"', 'ephemera-gate'];

/** One word for `sh`, whatever it holds but a newline (the gate reads one line). */
const quote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;

/**
 * The go line for a command and the environment it adds to the container's, or undefined
 * when a word or value holds a newline, which one line cannot carry (the run then starts a
 * container of its own).
 */
export function goLine(argv: string[], env: Record<string, string>): string | undefined {
  const assignments = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const words = assignments.length > 0 ? ['env', ...assignments, ...argv] : argv;
  if (words.some((w) => w.includes('\n') || w.includes('\0'))) return undefined;
  return `${words.map(quote).join(' ')}\n`;
}
