import type Docker from 'dockerode';
import type { OciRuntime, ProfileSet } from '../../config/profiles.js';

/**
 * The engine runtimes `npm run setup` registers for gVisor (scripts/register-runsc.mjs, which a
 * unit test holds to these names). runsc's default network mode refuses every network, so there
 * are two: gVisor's own stack with no network at all, and for a container on a network, gVisor
 * on the container's namespace through the host's stack (its bridge address, the host's INPUT
 * rules: the locked egress network holds as under runc).
 */
export const GVISOR_RUNTIMES = { noNetwork: 'ephemera-runsc', network: 'ephemera-runsc-net' } as const;

/**
 * The engine's name for a container's runtime, or undefined for `runc`: the engine's default is
 * left to it (runc, unless its operator set `default-runtime` to something else, which is kept).
 */
export function engineRuntime(runtime: OciRuntime, network: string): string | undefined {
  if (runtime === 'runc') return undefined;
  return network === 'none' ? GVISOR_RUNTIMES.noNetwork : GVISOR_RUNTIMES.network;
}

/**
 * The profiles whose runtime the engine does not have, with what to do about it: the service
 * answers 503 AGENT_UNAVAILABLE for those alone (src/index.ts), as for an unlocked network.
 */
export function missingRuntimes(profiles: ProfileSet, available: ReadonlySet<string>): Map<string, string> {
  const problems = new Map<string, string>();
  for (const p of profiles.profiles.values()) {
    const name = engineRuntime(p.runtime, p.network);
    if (name === undefined || available.has(name)) continue;
    problems.set(
      p.name,
      `profile ${p.name} runs under ${p.runtime} (engine runtime ${name}), which the Docker engine does not have: ` +
        'run `npm run setup` as root on the engine host (it installs Debian\'s runsc and registers it), or set its "runtime" to "runc"',
    );
  }
  return problems;
}

/** The runtimes the engine lists (`docker info`); undefined when it does not answer. */
export async function engineRuntimes(docker: Docker): Promise<Set<string> | undefined> {
  try {
    const info = (await docker.info()) as { Runtimes?: Record<string, unknown> };
    return new Set(Object.keys(info.Runtimes ?? {}));
  } catch {
    return undefined;
  }
}
