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
  readFileSync,
  readSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { registerHooks } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FILES_PREFIX, plan, shellWords } from './go-line.mjs';
import { untar } from './untar.mjs';

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
const FILES_ROOT = '/ephemera';
const FILES = '/ephemera/gemini';
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
