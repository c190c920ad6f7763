// node scripts/register-runsc.mjs <daemon.json> <runsc path>
// Adds Ephemera's two gVisor runtimes to the Docker engine's settings file where they are
// missing, keeping every other key (an operator's own runtimes, and these two once there: an
// operator may point them at a newer runsc). Prints "changed" or "unchanged"; exits 1 on a file
// it cannot read as a JSON object, which it then leaves alone. The file keeps its mode, and a
// link is written through.
//   ephemera-runsc      --network=none: gVisor's own network stack, for profiles with no network;
//   ephemera-runsc-net  --network=host: gVisor uses the container's namespace (its bridge
//                       address, the host's INPUT rules) through the host's stack, for the rest.
// runsc's default (`sandbox`) refuses to start on any network (../shared/notes, gVisor).
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { RUNSC_RUNTIMES } from './runsc-runtimes.mjs';

const [file, runsc] = process.argv.slice(2);
if (!file || !runsc) {
  console.error('usage: node scripts/register-runsc.mjs <daemon.json> <runsc path>');
  process.exit(2);
}
let settings = {};
if (existsSync(file)) {
  try {
    const text = readFileSync(file, 'utf8');
    settings = text.trim() === '' ? {} : JSON.parse(text);
  } catch (err) {
    console.error(`${file} is not JSON (${err.message}): left as it is; add the runtimes by hand`);
    process.exit(1);
  }
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) {
    console.error(`${file} is not a JSON object: left as it is`);
    process.exit(1);
  }
}
const wanted = Object.fromEntries(
  Object.entries(RUNSC_RUNTIMES).map(([name, network]) => [
    name,
    { path: runsc, runtimeArgs: [`--network=${network}`] },
  ]),
);
const given = settings.runtimes ?? {};
if (typeof given !== 'object' || given === null || Array.isArray(given)) {
  console.error(`${file}: "runtimes" is not an object: left as it is`);
  process.exit(1);
}
const runtimes = { ...given };
let changed = false;
for (const [name, entry] of Object.entries(wanted)) {
  if (runtimes[name] === undefined) {
    runtimes[name] = entry;
    changed = true;
  }
}
if (changed) {
  const target = existsSync(file) ? realpathSync(file) : file;
  mkdirSync(dirname(target), { recursive: true });
  const mode = existsSync(target) ? statSync(target).mode & 0o777 : 0o644;
  // Written whole, then moved over: the engine never reads half a file.
  const next = `${target}.ephemera-new`;
  writeFileSync(next, `${JSON.stringify({ ...settings, runtimes }, null, 2)}\n`, { mode });
  chmodSync(next, mode);
  renameSync(next, target);
}
console.log(changed ? 'changed' : 'unchanged');
