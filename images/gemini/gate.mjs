// The standby gate of the gemini image: a drop-in for the plain gate
//   sh -c 'IFS= read -r go && eval "$go"'   (src/runner/protocol/go-line.ts)
// that loads Gemini CLI's code while it waits, so that after the go line only the CLI's
// main() runs.
//
// Protocol (the same as the plain gate): stdin carries ONE go line, then the run's files
// (a tar of the size the line names, if any), then the prompt. This gate reads the go line
// byte by byte and the files to their exact size (nothing after them is consumed: the CLI
// reads the prompt from the same stdin). A go line of the shape
//   [<FILES_PREFIX with N>] exec ['env' 'NAME=value'...] ['sh' '-c' SHIM 'ephemera-workspace' WORKDIR] ['timeout' ['-s'
// SIG] SECS] '/usr/local/bin/ephemera-gemini' ARGS...
// (every word quoted or plain; no $, `, ;, |, &, <, >, ( ), globs) is run in this process:
// the env assignments are applied, a watcher process sends SIG (KILL by default) to this
// process after SECS (as busybox `timeout` does), the entrypoint's file copies are done,
// and the already-loaded CLI main runs with ARGS. Any other go line is run as the plain gate
// would run it: `sh -c "exec $go"`, with the same stdin, stdout, stderr and exit status.
//
// The CLI on disk is unmodified: its entry (bundle/gemini.js) names the modules it imports
// when it does not relaunch itself; they are found there and imported here ahead of time.
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { registerHooks } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

// stdin through a description of its own, opened before the CLI's modules load: they make fd 0
// non-blocking, and reads on it would then have to poll. Same pipe, same bytes.
// (A socket, as a Node parent's pipe is, cannot be opened so: then fd 0 itself.)
const STDIN = (() => {
  try {
    return openSync('/proc/self/fd/0', 'r');
  } catch {
    return 0;
  }
})();
const BUNDLE = process.env.EPHEMERA_GEMINI_BUNDLE ?? '/opt/gemini-cli/node_modules/@google/gemini-cli/bundle';
const ENTRYPOINT = '/usr/local/bin/ephemera-gemini';
const FILES_ROOT = '/ephemera';
const FILES = '/ephemera/gemini';
// What src/runner/protocol/go-line.ts writes before `exec` when the run has files: kept in step with it.
const FILES_PREFIX =
  /^dd bs=65536 count=(\d+) iflag=count_bytes,fullblock 2>\/dev\/null \| tar -x -C \/ephemera && chmod -R a-w \/ephemera && exec (.*)$/;
// Modules the CLI imports only once main runs (node-pty, tree-sitter, ...), as recorded at
// image build by warm.mjs (EPHEMERA_GATE_RECORD): imported here too, while waiting.
const PRELOAD = process.env.EPHEMERA_GATE_PRELOAD_LIST ?? '/opt/gemini-cli/warm/preload.json';
const trace =
  process.env.EPHEMERA_GATE_TRACE === '1' ? (m) => process.stderr.write(`[gate ${Date.now()}] ${m}\n`) : () => {};

// At image build: record what main imports beyond the modules preloaded below (the hook
// must be in place before the first import to see later ones).
const record = process.env.EPHEMERA_GATE_RECORD;
const recorded = [];
let recording = false;
if (record) {
  registerHooks({
    resolve(specifier, context, next) {
      const r = next(specifier, context);
      if (recording && /^file:.*\.[cm]?js$/.test(r.url) && !recorded.includes(r.url)) recorded.push(r.url);
      return r;
    },
  });
  process.on('exit', () => writeFileSync(record, `${JSON.stringify(recorded, null, 1)}\n`));
}

// --- 1. Load the CLI while waiting --------------------------------------------------------
// gemini.js (non-relaunch branch): import("./gemini-*.js") {main}, import("./dist-*.js")
// {FatalError, writeToStderr}, import("./cleanup-*.js") {runExitCleanup}.
function entryModules() {
  const src = readFileSync(join(BUNDLE, 'gemini.js'), 'utf8');
  const find = (what, re) => {
    const m = re.exec(src);
    if (!m) throw new Error(`gate: no ${what} import in ${BUNDLE}/gemini.js`);
    return pathToFileURL(join(BUNDLE, m[1])).href;
  };
  return {
    main: find('main', /const \{ main \} = await import\("\.\/([\w.-]+\.js)"\)/),
    dist: find('FatalError', /const \{ FatalError, writeToStderr \} = await import\("\.\/([\w.-]+\.js)"\)/),
    cleanup: find('runExitCleanup', /const \{ runExitCleanup \} = await import\("\.\/([\w.-]+\.js)"\)/),
  };
}

let loaded;
let loadError;
if (process.env.EPHEMERA_GATE_PRELOAD !== '0') {
  try {
    const m = entryModules();
    const [main, dist, cleanup] = await Promise.all([import(m.main), import(m.dist), import(m.cleanup)]);
    loaded = {
      main: main.main,
      FatalError: dist.FatalError,
      writeToStderr: dist.writeToStderr,
      runExitCleanup: cleanup.runExitCleanup,
    };
    let late = [];
    try {
      late = JSON.parse(readFileSync(PRELOAD, 'utf8'));
    } catch {
      /* none recorded */
    }
    // One at a time, in the order the CLI imported them; a module that fails (node-pty's own
    // build is absent; the CLI falls back) is left to the CLI, and what it prints is dropped:
    // nothing of the request's run is printed before the go line.
    const write = process.stderr.write,
      error = console.error;
    process.stderr.write = () => true;
    console.error = () => {};
    try {
      for (const url of late) await import(url).catch((err) => trace(`preload ${url}: ${err?.message ?? err}`));
    } finally {
      process.stderr.write = write;
      console.error = error;
    }
    trace('CLI loaded');
  } catch (err) {
    loadError = err; // the go line still runs: the fallback below
    process.stderr.write(`gate: could not preload Gemini CLI (${err?.message ?? err}); running it plainly\n`);
  }
}

// --- 2. The go line --------------------------------------------------------------------
function readGoLine() {
  const bytes = [];
  const one = Buffer.alloc(1);
  for (;;) {
    let n;
    try {
      n = readSync(STDIN, one, 0, 1, null);
    } catch (err) {
      if (err.code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
        continue;
      }
      if (err.code === 'EOF') n = 0;
      else throw err;
    }
    if (n === 0) return undefined; // as `read` does: a line cut off by the end of input is not run
    if (one[0] === 0x0a) return Buffer.from(bytes).toString('utf8');
    bytes.push(one[0]);
  }
}

/** Shell words of a go line made only of quoted and plain words; undefined for anything else. */
function shellWords(line) {
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
function plan(words) {
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

/**
 * What the workspace shim does, in this process: stdin's next line is the boundary and the
 * size of the stored workspace's tar, which follows and is unpacked into the workdir before
 * the CLI runs; when this process
 * exits (not when a signal kills it), whatever it left running is killed, then the
 * boundary, a tar of the workdir and tar's status (three digits) go to stdout. Exit
 * listeners that come after this one may not print to stdout any more.
 */
function keepWorkspace(workdir) {
  const line = readGoLine();
  const [boundary, size] = line?.split(' ') ?? [];
  if (!boundary || !/^\d+$/.test(size ?? '')) process.exit(125);
  if (Number(size) > 0) {
    const umask = process.umask(0); // the modes as stored, as the shim's `umask 0` gives them
    const r = spawnSync('tar', ['-x', '-C', workdir], {
      input: readExactly(Number(size)),
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    process.umask(umask);
    if (r.status !== 0) {
      process.stderr.write(`ephemera: the workspace could not be restored into ${workdir}\n`);
      process.exit(125);
    }
  }
  process.on('exit', () => {
    try {
      process.kill(-1, 'SIGKILL');
    } catch {
      /* nothing else runs */
    }
    writeAll(boundary);
    const tar = spawnSync('tar', ['-c', '-C', workdir, '.'], {
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 2 ** 31 - 1,
    });
    if (tar.stdout) writeAll(tar.stdout);
    writeAll(String(tar.status ?? 1).padStart(3, '0'));
    process.stdout.write = () => true;
  });
}

/** All of it to fd 1, which the CLI has made non-blocking: a write may take part, or none yet. */
function writeAll(data) {
  let buf = Buffer.from(data);
  while (buf.length > 0) {
    try {
      buf = buf.subarray(writeSync(1, buf));
    } catch (err) {
      if (err.code !== 'EAGAIN') throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
    }
  }
}

/** Runs the go line as the plain gate does, in a child shell, and ends with its status. */
function runPlainly(goLine) {
  const child = spawn('/bin/sh', ['-c', goLine], { stdio: 'inherit' });
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    }
    process.exit(code ?? 1);
  });
}

/** Exactly `n` bytes of stdin. */
function readExactly(n) {
  const buf = Buffer.alloc(n);
  for (let got = 0; got < n; ) {
    let k;
    try {
      k = readSync(STDIN, buf, got, n - got, null);
    } catch (err) {
      if (err.code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
        continue;
      }
      throw err;
    }
    if (k === 0) throw new Error(`stdin ended ${n - got} bytes before the run's files did`);
    got += k;
  }
  return buf;
}

/**
 * Unpacks a ustar archive (as the service writes it: folders and plain files) under `root`, then makes it read-only.
 */
function untar(buf, root) {
  for (let off = 0; off + 512 <= buf.length; ) {
    const h = buf.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const field = (a, b) => h.toString('utf8', a, b).replace(/\0[\s\S]*$/, '');
    const name = [field(345, 500), field(0, 100)].filter(Boolean).join('/');
    const mode = parseInt(field(100, 108).trim() || '0', 8);
    const size = parseInt(field(124, 136).trim() || '0', 8);
    const type = String.fromCharCode(h[156]);
    off += 512;
    const path = resolve(root, name);
    if (path !== root && !path.startsWith(`${root}/`)) throw new Error(`a file outside ${root}: ${name}`);
    if (type === '5') mkdirSync(path, { recursive: true });
    else if (type === '0' || type === '\0') {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, buf.subarray(off, off + size));
      chmodSync(path, mode & 0o7777);
    }
    off += Math.ceil(size / 512) * 512;
  }
  const readOnly = (p) => {
    const st = statSync(p);
    if (st.isDirectory()) for (const e of readdirSync(p)) readOnly(join(p, e));
    chmodSync(p, st.mode & 0o7555);
  };
  readOnly(root);
}

const goLine = readGoLine();
trace('go line read');
if (goLine === undefined) process.exit(1);
const withFiles = FILES_PREFIX.exec(goLine);
const command = withFiles ? withFiles[2] : goLine.startsWith('exec ') ? goLine.slice(5) : undefined;
const words = command !== undefined ? shellWords(command) : undefined;
const request = words && plan(words);
if (!request || !loaded) {
  runPlainly(goLine);
} else {
  if (withFiles) {
    chmodSync(FILES_ROOT, 0o755); // the engine gave the tmpfs the image's folder mode (0555)
    untar(readExactly(Number(withFiles[1])), FILES_ROOT);
    trace('files unpacked');
  }
  if (request.workspace) keepWorkspace(request.workspace.workdir);
  // --- 3. Run the CLI in this process -----------------------------------------------------
  Object.assign(process.env, request.env);
  if (request.deadline) {
    // As busybox `timeout`: a separate process signals this one at the deadline, even if
    // this one's event loop is stuck. It goes when this process ends (tini ends the container).
    const watcher = spawn(
      '/bin/sh',
      [
        '-c',
        'sleep "$0"; kill -s "$1" "$2"',
        String(request.deadline.seconds),
        request.deadline.signal,
        String(process.pid),
      ],
      { stdio: 'ignore' },
    );
    watcher.unref();
    process.on('exit', () => watcher.kill('SIGKILL'));
  }
  // What entrypoint.sh does before it runs the CLI.
  const home = join(process.env.HOME ?? '/home/gemini', '.gemini');
  mkdirSync(home, { recursive: true });
  for (const f of ['settings.json', '.env']) {
    const from = join(FILES, f);
    if (existsSync(from)) {
      copyFileSync(from, join(home, f));
      chmodSync(join(home, f), 0o600);
    }
  }
  process.argv = [process.execPath, join(BUNDLE, 'gemini.js'), ...request.args];
  // gemini.js's own handlers, then its non-relaunch branch.
  process.on('uncaughtException', (error) => {
    if (error instanceof Error) {
      const message = error.message || '';
      const fromPty = error.stack?.includes('node-pty') || error.stack?.includes('PtyResize');
      if (
        (message === 'Cannot resize a pty that has already exited' ||
          message.includes('EBADF') ||
          error.code === 'EBADF') &&
        fromPty
      )
        return;
      process.stderr.write(`${error.stack}\n`);
    } else {
      process.stderr.write(`${String(error)}\n`);
    }
    process.exit(1);
  });
  const { main, FatalError, writeToStderr, runExitCleanup } = loaded;
  trace('main');
  recording = true;
  main().catch(async (error) => {
    const cleanupTimeout = setTimeout(() => {
      writeToStderr('Cleanup timed out, forcing exit...\n');
      process.exit(1);
    }, 5e3);
    try {
      await runExitCleanup();
    } catch (cleanupError) {
      writeToStderr(
        `Error during final cleanup: ${cleanupError instanceof Error ? cleanupError.message : String(cleanupError)}\n`,
      );
    } finally {
      clearTimeout(cleanupTimeout);
    }
    if (error instanceof FatalError) {
      writeToStderr(`${process.env.NO_COLOR ? error.message : `\x1B[31m${error.message}\x1B[0m`}\n`);
      process.exit(error.exitCode);
    }
    writeToStderr('An unexpected critical error occurred:');
    writeToStderr(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}
void loadError;
