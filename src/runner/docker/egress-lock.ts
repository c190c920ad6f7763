import { spawnSync } from 'node:child_process';
import type Docker from 'dockerode';
import type { ProfileSet } from '../../config/profiles.js';

/** The iptables chain `npm run setup` (scripts/lock-egress.sh) sends a locked bridge's INPUT to. */
export const EGRESS_CHAIN = 'EPHEMERA-EGRESS';

/** What the check needs to know of a network (a part of `docker network inspect`). */
export interface NetworkFacts {
  internal: boolean;
  iccDisabled: boolean;
  ipv6: boolean;
  bridge: string;
  gateway: string | undefined;
}

/** Whether the host's INPUT from the bridge is locked; `unknown` when iptables cannot be read (not root, none). */
export type InputLock = 'locked' | 'open' | 'unknown';

/**
 * Why a network is not locked down, or undefined when it is: internal (no route out),
 * containers isolated from each other, and the host's INPUT from its bridge sent to
 * EGRESS_CHAIN (which lets through only the model gateway's port). `inputLocked` is
 * undefined where iptables cannot be read (not root): then only the rest is checked.
 */
export function lockProblem(name: string, facts: NetworkFacts | undefined, input: InputLock): string | undefined {
  if (!facts) return `network ${name} does not exist`;
  const open = [
    !facts.internal && 'it has a route out (not --internal)',
    !facts.iccDisabled && 'its containers can reach each other (enable_icc is not false)',
    facts.ipv6 && 'it has IPv6, which the INPUT rules do not cover',
    input === 'open' &&
      `the host's ports are open to it (INPUT from ${facts.bridge} does not go first to chain ${EGRESS_CHAIN} as set up)`,
    // Fail closed: what cannot be seen is not taken as locked.
    input === 'unknown' &&
      `the host's INPUT rules cannot be read (the service is not root, or has no iptables) to see that its ports are closed to it`,
  ].filter(Boolean);
  return open.length === 0 ? undefined : `network ${name} is not locked down: ${open.join('; ')}`;
}

/**
 * The profiles whose network is not locked down and that did not accept that
 * (`unsafe: ["open_egress"]`), with the reason: the service refuses to run them.
 */
export async function unlockedProfiles(
  docker: Docker,
  profiles: ProfileSet,
  /** The model gateway ports the egress chain should open: this service's and its replicas' on this host. */
  gatewayPorts: number[],
  /** Take INPUT rules that cannot be read as in place (the operator says so: EGRESS_TRUST_HOST_RULES=1). */
  trustUnreadableRules = false,
): Promise<Map<string, string>> {
  const problems = new Map<string, string>();
  const seen = new Map<string, string | undefined>();
  for (const p of profiles.profiles.values()) {
    if (p.network === 'none' || p.openEgress) continue;
    if (!seen.has(p.network)) {
      const facts = await networkFacts(docker, p.network);
      // The engine did not answer: nothing can run now anyway; the next start checks again.
      const input = facts && facts !== 'unknown' ? inputLock(facts, gatewayPorts) : 'unknown';
      const seenInput = input === 'unknown' && trustUnreadableRules ? 'locked' : input;
      seen.set(p.network, facts === 'unknown' ? undefined : lockProblem(p.network, facts, seenInput));
    }
    const problem = seen.get(p.network);
    if (problem) {
      problems.set(
        p.name,
        `${problem}; run \`npm run setup\` as root to lock it, or add "open_egress" to profile ${p.name}'s "unsafe" list`,
      );
    }
  }
  return problems;
}

async function networkFacts(docker: Docker, name: string): Promise<NetworkFacts | undefined | 'unknown'> {
  try {
    const info = (await docker.getNetwork(name).inspect()) as {
      Id: string;
      Internal?: boolean;
      EnableIPv6?: boolean;
      Options?: Record<string, string>;
      IPAM?: { Config?: Array<{ Gateway?: string }> };
    };
    return {
      internal: info.Internal === true,
      iccDisabled: info.Options?.['com.docker.network.bridge.enable_icc'] === 'false',
      ipv6: info.EnableIPv6 === true,
      bridge: info.Options?.['com.docker.network.bridge.name'] ?? `br-${info.Id.slice(0, 12)}`,
      gateway: info.IPAM?.Config?.find((c) => c.Gateway)?.Gateway,
    };
  } catch (err) {
    return (err as { statusCode?: number }).statusCode === 404 ? undefined : 'unknown';
  }
}

/**
 * Whether the host's INPUT sends the bridge first to EGRESS_CHAIN, and that chain holds
 * what scripts/lock-egress.sh puts there: the gateway's port accepted, the rest dropped.
 */
function inputLock(facts: NetworkFacts, gatewayPorts: number[]): InputLock {
  if (process.geteuid?.() !== 0) return 'unknown';
  const rules = (chain: string) => {
    const r = spawnSync('iptables', ['-S', chain], { encoding: 'utf8', timeout: 5000 });
    return r.error || r.status !== 0 ? undefined : r.stdout.trim().split('\n');
  };
  const input = rules('INPUT');
  if (!input) return 'unknown';
  return input[1] === `-A INPUT -i ${facts.bridge} -j ${EGRESS_CHAIN}` &&
    chainLocks(rules(EGRESS_CHAIN) ?? [], facts.gateway, gatewayPorts)
    ? 'locked'
    : 'open';
}

/**
 * Whether EGRESS_CHAIN, as `iptables -S` prints it, is what scripts/lock-egress.sh sets up:
 * tcp to the gateway's address on exactly the model gateways' ports accepted (this service's,
 * and its replicas' on this host: MODEL_GATEWAY_PORTS), then the rest dropped.
 */
export function chainLocks(chain: string[], gateway: string | undefined, ports: number[]): boolean {
  const accept = new RegExp(
    `^-A ${EGRESS_CHAIN} -d ${(gateway ?? '').replace(/\./g, '\\.')}/32 -p tcp -m tcp --dport (\\d+) -j ACCEPT$`,
  );
  const opened = chain.slice(1, -1).map((rule) => accept.exec(rule)?.[1]);
  const want = new Set(ports.map(String));
  return (
    gateway !== undefined &&
    chain[0] === `-N ${EGRESS_CHAIN}` &&
    chain.at(-1) === `-A ${EGRESS_CHAIN} -j DROP` &&
    opened.length === want.size &&
    opened.every((port) => port !== undefined && want.has(port))
  );
}
