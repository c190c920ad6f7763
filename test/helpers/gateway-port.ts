import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const LOCK = join(tmpdir(), 'ephemera-test-gateway-port.lock');

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * The locked egress network lets containers reach one port on the host (GATEWAY_PORT), so
 * the test files that run real model agents behind the gateway take turns: this waits
 * until no other live test process holds the port, and gives back the release.
 */
export async function holdGatewayPort(): Promise<() => void> {
  for (;;) {
    try {
      const fd = openSync(LOCK, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(LOCK, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(LOCK, 'utf8').trim() || 'NaN');
      // A holder that died (or had not written its pid yet, for a moment) leaves a stale lock.
      if (Number.isInteger(holder) && !alive(holder)) rmSync(LOCK, { force: true });
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** How long a model agents' test file may wait for the port: the other such file's whole run. */
export const GATEWAY_PORT_WAIT_MS = 10 * 60_000;
