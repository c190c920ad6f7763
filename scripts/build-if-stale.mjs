// Builds (npm run build: tsc, then the bundle) only when a source is newer than the last
// build, so that `npm start` and the CLIs start in a moment when nothing changed.
// Usage: node scripts/build-if-stale.mjs
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const STAMP = 'dist/.built';
const INPUTS = [
  'src',
  'migrations',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'tsconfig.build.json',
  'scripts/bundle.mjs',
];

/** The newest modification time under a path. */
function newest(path) {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  return readdirSync(path).reduce((m, e) => Math.max(m, newest(join(path, e))), s.mtimeMs);
}

const builtAt = existsSync(STAMP) ? statSync(STAMP).mtimeMs : 0;
const stale = INPUTS.filter((p) => existsSync(p) && newest(p) > builtAt);
if (stale.length > 0) {
  const started = Date.now();
  execFileSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
  // Stamped with the build's start: a file saved while it ran is newer, so the next start builds again.
  writeFileSync(STAMP, `${new Date(started).toISOString()}\n`);
  utimesSync(STAMP, started / 1000, started / 1000);
  process.stderr.write(
    `[build] built in ${((Date.now() - started) / 1000).toFixed(1)} s (changed: ${stale.join(', ')})\n`,
  );
}
