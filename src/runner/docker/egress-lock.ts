import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type Docker from 'dockerode';
import type { ProfileSet } from '../../config/profiles.js';
import { dial, engineKindOf, type EngineKind } from './engine-dialect.js';

/** The iptables chain `npm run setup` (scripts/lock-egress.sh) sends a locked bridge's INPUT to. */
export const EGRESS_CHAIN = 'EPHEMERA-EGRESS';
/** Podman's network has a bridge and a gateway of its own, so a chain of its own (both engines can serve one host). */
export const PODMAN_EGRESS_CHAIN = 'EPHEMERA-EGRESS-PODMAN';

/** What the check needs to know of a network (a part of `docker network inspect`). */
export interface NetworkFacts {
  /** The chain its bridge's INPUT should go to. */
  chain: string;
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
    !facts.iccDisabled &&
      `its containers can reach each other (${facts.chain === PODMAN_EGRESS_CHAIN ? 'the host forwards from its bridge' : 'enable_icc is not false'})`,
    facts.ipv6 && 'it has IPv6, which the INPUT rules do not cover',
    input === 'open' &&
      `the host's ports are open to it (INPUT from ${facts.bridge} does not go first to chain ${facts.chain} as set up)`,
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
  const engine = await engineKindOf(docker).catch(() => undefined);
  for (const p of profiles.profiles.values()) {
    if (p.network === 'none' || p.openEgress) continue;
    if (!seen.has(p.network)) {
      // The engine did not answer: nothing can run now anyway; the next start checks again.
      const facts = engine ? await networkFacts(docker, engine, p.network) : 'unknown';
      const input = facts && facts !== 'unknown' ? hostLock(facts, engine, gatewayPorts) : 'unknown';
      const seenInput = input === 'unknown' && trustUnreadableRules ? 'locked' : input;
      const known = facts === 'unknown' ? undefined : facts && withForwarding(facts, engine, trustUnreadableRules);
      seen.set(p.network, facts === 'unknown' ? undefined : lockProblem(p.network, known, seenInput));
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

/**
 * Podman has no enable_icc: its containers are kept apart by the host dropping what it would
 * forward from the bridge (scripts/egress-podman.sh), read like the INPUT rules.
 */
function withForwarding(facts: NetworkFacts, engine: EngineKind | undefined, trustUnreadable: boolean): NetworkFacts {
  if (engine !== 'podman') return facts;
  const forwarding = process.geteuid?.() === 0 ? forwardingLocked(facts.bridge) : 'unknown';
  return { ...facts, iccDisabled: forwarding === 'locked' || (forwarding === 'unknown' && trustUnreadable) };
}

async function networkFacts(
  docker: Docker,
  engine: EngineKind,
  name: string,
): Promise<NetworkFacts | undefined | 'unknown'> {
  try {
    return engine === 'podman' ? await podmanNetworkFacts(docker, name) : await dockerNetworkFacts(docker, name);
  } catch (err) {
    return (err as { statusCode?: number }).statusCode === 404 ? undefined : 'unknown';
  }
}

async function dockerNetworkFacts(docker: Docker, name: string): Promise<NetworkFacts> {
  const info = (await docker.getNetwork(name).inspect()) as {
    Id: string;
    Internal?: boolean;
    EnableIPv6?: boolean;
    Options?: Record<string, string>;
    IPAM?: { Config?: Array<{ Gateway?: string }> };
  };
  return {
    chain: EGRESS_CHAIN,
    internal: info.Internal === true,
    iccDisabled: info.Options?.['com.docker.network.bridge.enable_icc'] === 'false',
    ipv6: info.EnableIPv6 === true,
    bridge: info.Options?.['com.docker.network.bridge.name'] ?? `br-${info.Id.slice(0, 12)}`,
    gateway: info.IPAM?.Config?.find((c) => c.Gateway)?.Gateway,
  };
}

/** Podman's compatible inspect leaves out the bridge's name: its own API (libpod) says it. */
async function podmanNetworkFacts(docker: Docker, name: string): Promise<NetworkFacts> {
  // Podman serves its own API under a version only (4.0.0: the oldest it takes).
  const info = (await dial(docker, `/v4.0.0/libpod/networks/${encodeURIComponent(name)}/json`)) as {
    internal?: boolean;
    ipv6_enabled?: boolean;
    network_interface?: string;
    subnets?: Array<{ gateway?: string }>;
  };
  return {
    chain: PODMAN_EGRESS_CHAIN,
    internal: info.internal === true,
    iccDisabled: false, // withForwarding reads it from the host
    ipv6: info.ipv6_enabled === true,
    bridge: info.network_interface ?? '',
    gateway: info.subnets?.find((s) => s.gateway)?.gateway,
  };
}

function iptablesRules(chain: string, table = 'filter'): string[] | undefined {
  const r = spawnSync('iptables', ['-t', table, '-S', chain], { encoding: 'utf8', timeout: 5000 });
  return r.error || r.status !== 0 ? undefined : r.stdout.trim().split('\n');
}

/**
 * Whether the host's INPUT sends the bridge to its chain among its first rules (which are all
 * such jumps: one per engine's bridge), and that chain holds what scripts/lock-egress.sh puts
 * there: the gateway's port accepted, the rest dropped.
 */
function hostLock(facts: NetworkFacts, engine: EngineKind | undefined, gatewayPorts: number[]): InputLock {
  if (process.geteuid?.() !== 0 || engine === undefined) return 'unknown';
  const input = iptablesRules('INPUT');
  if (!input) return 'unknown';
  return bridgeJumpLeads(input, facts.bridge, facts.chain) &&
    chainLocks(iptablesRules(facts.chain) ?? [], facts.gateway, gatewayPorts, facts.chain)
    ? 'locked'
    : 'open';
}

/** The rules at the head of INPUT (after its policy) that send one of our bridges to one of our chains. */
export function leadingJumps(input: string[]): string[] {
  const ours = new RegExp(`^-A INPUT -i \\S+ -j (${EGRESS_CHAIN}|${PODMAN_EGRESS_CHAIN})$`);
  const jumps: string[] = [];
  for (const rule of input.slice(1)) {
    if (!ours.test(rule)) break;
    jumps.push(rule);
  }
  return jumps;
}

/** Whether the first of those that names the bridge sends it to its own chain. */
function bridgeJumpLeads(input: string[], bridge: string, chain: string): boolean {
  return (
    leadingJumps(input).find((rule) => rule.startsWith(`-A INPUT -i ${bridge} -j `)) ===
    `-A INPUT -i ${bridge} -j ${chain}`
  );
}

/**
 * Podman: the bridge's forwarding dropped first in mangle FORWARD, with bridged traffic sent
 * through iptables, and no IPv6 on the bridge (the INPUT rules are IPv4's: a container reached
 * a host listener on :: through the bridge's link-local address).
 */
function forwardingLocked(bridge: string): InputLock {
  const forward = iptablesRules('FORWARD', 'mangle');
  const sysctl = (path: string) => {
    try {
      return readFileSync(`/proc/sys/net/${path}`, 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  // No br_netfilter: bridged traffic is never filtered. No IPv6 in the kernel: nothing to turn off.
  if (sysctl('bridge/bridge-nf-call-iptables') !== '1') return 'open';
  const ipv6Off = sysctl('ipv6') === undefined || sysctl(`ipv6/conf/${bridge}/disable_ipv6`) === '1';
  if (!forward) return 'unknown';
  return forward[1] === `-A FORWARD -i ${bridge} -j DROP` && ipv6Off ? 'locked' : 'open';
}

/**
 * Whether EGRESS_CHAIN, as `iptables -S` prints it, is what scripts/lock-egress.sh sets up:
 * tcp to the gateway's address on exactly the model gateways' ports accepted (this service's,
 * and its replicas' on this host: MODEL_GATEWAY_PORTS), then the rest dropped.
 */
export function chainLocks(
  chain: string[],
  gateway: string | undefined,
  ports: number[],
  name: string = EGRESS_CHAIN,
): boolean {
  const accept = new RegExp(
    `^-A ${name} -d ${(gateway ?? '').replace(/\./g, '\\.')}/32 -p tcp -m tcp --dport (\\d+) -j ACCEPT$`,
  );
  const opened = chain.slice(1, -1).map((rule) => accept.exec(rule)?.[1]);
  const want = new Set(ports.map(String));
  return (
    gateway !== undefined &&
    chain[0] === `-N ${name}` &&
    chain.at(-1) === `-A ${name} -j DROP` &&
    opened.length === want.size &&
    opened.every((port) => port !== undefined && want.has(port))
  );
}
