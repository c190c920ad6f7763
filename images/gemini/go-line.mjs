// The gemini image gate's reading of a go line (gate.mjs): pure, so that the service's tests can
// check it against what the service writes (test/unit/gemini-gate.test.ts).

/** The CLI's entrypoint in the image: a go line that execs it is run in the gate's process. */
export const ENTRYPOINT = '/usr/local/bin/ephemera-gemini';

// What src/runner/protocol/go-line.ts writes before `exec` when the run has files: kept in step with it.
export const FILES_PREFIX =
  /^dd bs=65536 count=(\d+) iflag=count_bytes,fullblock 2>\/dev\/null \| tar -x -C \/ephemera && chmod -R a-w \/ephemera && exec (.*)$/;

/** Shell words of a go line made only of quoted and plain words; undefined for anything else. */
export function shellWords(line) {
  const words = [];
  let i = 0;
  while (i < line.length) {
    while (line[i] === ' ' || line[i] === '\t') i++;
    if (i >= line.length) break;
    let word = '';
    while (i < line.length && line[i] !== ' ' && line[i] !== '\t') {
      const c = line[i];
      if (c === "'") {
        const end = line.indexOf("'", i + 1);
        if (end < 0) return undefined;
        word += line.slice(i + 1, end);
        i = end + 1;
      } else if (c === '"') {
        i++;
        for (;;) {
          if (i >= line.length) return undefined;
          const d = line[i];
          if (d === '"') {
            i++;
            break;
          }
          if (d === '$' || d === '`') return undefined;
          if (d === '\\' && '$`"\\\n'.includes(line[i + 1] ?? '')) {
            word += line[i + 1];
            i += 2;
            continue;
          }
          word += d;
          i++;
        }
      } else if (c === '\\') {
        if (i + 1 >= line.length) return undefined;
        word += line[i + 1];
        i += 2;
      } else if (/[A-Za-z0-9_@%+=:,./-]/.test(c)) {
        word += c;
        i++;
      } else {
        return undefined; // $ ` ; | & < > ( ) * ? [ ~ # { } !: leave it to the shell
      }
    }
    words.push(word);
  }
  return words;
}

/** The recognised go-line shape, or undefined. */
export function plan(words) {
  let i = 0;
  const env = {};
  if (words[i] === 'env') {
    i++;
    while (i < words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i])) {
      const eq = words[i].indexOf('=');
      env[words[i].slice(0, eq)] = words[i].slice(eq + 1);
      i++;
    }
  }
  // The workspace shim (src/runner/protocol/workspace.ts): `sh -c <script> ephemera-workspace <workdir>`.
  let workspace;
  if (
    words[i] === 'sh' &&
    words[i + 1] === '-c' &&
    words[i + 3] === 'ephemera-workspace' &&
    words[i + 4]?.startsWith('/')
  ) {
    workspace = { workdir: words[i + 4] };
    i += 5;
  }
  let deadline;
  if (words[i] === 'timeout') {
    i++;
    let signal = 'TERM'; // busybox and coreutils default
    if (words[i] === '-s') {
      signal = words[i + 1];
      i += 2;
    }
    if (!/^[A-Z0-9]+$/.test(signal ?? '') || !/^\d+$/.test(words[i] ?? '')) return undefined;
    deadline = { signal, seconds: Number(words[i]) };
    i++;
  }
  if (words[i] !== ENTRYPOINT) return undefined;
  return { env, deadline, workspace, args: words.slice(i + 1) };
}
