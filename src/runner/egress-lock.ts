import { spawnSync } from 'node:child_process';
import type Docker from 'dockerode';
import type { ProfileSet } from '../config/profiles.js';

/** The iptables chain `npm run setup` (scripts/lock-egress.sh) sends a locked bridge's INPUT to. */
export const EGRESS_CHAIN = 'EPHEMERA-EGRESS';

/** What the check needs to know of a network (a part of `docker network inspect`). */
export interface NetworkFacts {
  internal: boolean;
  iccDisabled: boolean;
  bridge: string;
}

/**
 * Why a network is not locked down, or undefined when it is: internal (no route out),
 * containers isolated from each other, and the host's INPUT from its bridge sent to
 * EGRESS_CHAIN (which lets through only the model gateway's port). `inputLocked` is
 * undefined where iptables cannot be read (not root): then only the rest is checked.
 */
export function lockProblem(name: string, facts: NetworkFacts | undefined, inputLocked: boolean | undefined): string | undefined {
  if (!facts) return `network ${name} does not exist`;
  const open = [
    !facts.internal && 'it has a route out (not --internal)',
    !facts.iccDisabled && 'its containers can reach each other (enable_icc is not false)',
    inputLocked === false && `the host's ports are open to it (no INPUT rule from ${facts.bridge} to chain ${EGRESS_CHAIN})`,
  ].filter(Boolean);
  return open.length === 0 ? undefined : `network ${name} is not locked down: ${open.join('; ')}`;
}

/**
 * The profiles whose network is not locked down and that did not accept that
 * (`unsafe: ["open_egress"]`), with the reason: the service refuses to run them.
 */
export async function unlockedProfiles(docker: Docker, profiles: ProfileSet): Promise<Map<string, string>> {
  const problems = new Map<string, string>();
  const seen = new Map<string, string | undefined>();
  for (const p of profiles.profiles.values()) {
    if (p.network === 'none' || p.openEgress) continue;
    if (!seen.has(p.network)) {
      const facts = await networkFacts(docker, p.network);
      // The engine did not answer: nothing can run now anyway; the next start checks again.
      seen.set(p.network, facts === 'unknown' ? undefined : lockProblem(p.network, facts, facts && inputLocked(facts.bridge)));
    }
    const problem = seen.get(p.network);
    if (problem) {
      problems.set(p.name, `${problem}; run \`npm run setup\` as root to lock it, or add "open_egress" to profile ${p.name}'s "unsafe" list`);
    }
  }
  return problems;
}

async function networkFacts(docker: Docker, name: string): Promise<NetworkFacts | undefined | 'unknown'> {
  try {
    const info = (await docker.getNetwork(name).inspect()) as { Id: string; Internal?: boolean; Options?: Record<string, string> };
    return {
      internal: info.Internal === true,
      iccDisabled: info.Options?.['com.docker.network.bridge.enable_icc'] === 'false',
      bridge: info.Options?.['com.docker.network.bridge.name'] ?? `br-${info.Id.slice(0, 12)}`,
    };
  } catch (err) {
    return (err as { statusCode?: number }).statusCode === 404 ? undefined : 'unknown';
  }
}

/** Whether the bridge's INPUT goes to EGRESS_CHAIN; undefined when iptables cannot be asked. */
function inputLocked(bridge: string): boolean | undefined {
  if (process.geteuid?.() !== 0) return undefined;
  const check = spawnSync('iptables', ['-C', 'INPUT', '-i', bridge, '-j', EGRESS_CHAIN], { stdio: 'ignore', timeout: 5000 });
  if (check.error) return undefined; // no iptables here
  return check.status === 0;
}
