import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** A loopback port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** A process's resident memory (VmRSS), in MB; NaN when /proc does not say. */
export function residentMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/**
 * The real service as its own process, for signal and crash tests: src/index.ts through
 * tsx, or the node arguments given (a built bundle).
 */
export async function spawnService(env: Record<string, string>, args = ['--import', 'tsx', 'src/index.ts']) {
  const port = await freePort();
  // Its model gateway must not take the port the gemini tests' gateway listens on.
  const gatewayPort = await freePort();
  const proc: ChildProcess = spawn(process.execPath, args, {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', MODEL_GATEWAY_PORT: String(gatewayPort), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  proc.stdout!.on('data', (d: Buffer) => logs.push(...d.toString().split('\n').filter(Boolean)));
  proc.stderr!.on('data', (d: Buffer) => logs.push(...d.toString().split('\n').filter(Boolean)));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 20_000;
  while (!logs.some((l) => l.includes('ephemera listening'))) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`service did not start:\n${logs.join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `http://127.0.0.1:${port}`, proc, logs, exited };
}

/** The shipped profiles (config/profiles.json) with no standby, written in `dir`: for tests about cold runs. */
export function shippedWithoutStandby(dir: string): string {
  const shipped = JSON.parse(readFileSync('config/profiles.json', 'utf8')) as {
    profiles: Record<string, { standby?: number }>;
  };
  for (const p of Object.values(shipped.profiles)) delete p.standby;
  const path = join(dir, 'profiles-cold.json');
  writeFileSync(path, JSON.stringify(shipped));
  return path;
}
