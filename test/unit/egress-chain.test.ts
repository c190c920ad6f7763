import { describe, expect, it } from 'vitest';
import { chainLocks, EGRESS_CHAIN, leadingJumps, PODMAN_EGRESS_CHAIN } from '../../src/runner/docker/egress-lock.js';

const C = EGRESS_CHAIN;
const accept = (port: number, gw = '172.18.0.1') => `-A ${C} -d ${gw}/32 -p tcp -m tcp --dport ${port} -j ACCEPT`;
const chain = (...middle: string[]) => [`-N ${C}`, ...middle, `-A ${C} -j DROP`];

describe('the egress chain as scripts/lock-egress.sh sets it up', () => {
  it("is locked with exactly the gateway ports accepted: this service's, or its replicas' too (MODEL_GATEWAY_PORTS)", () => {
    expect(chainLocks(chain(accept(8788)), '172.18.0.1', [8788])).toBe(true);
    expect(chainLocks(chain(accept(8788), accept(8790)), '172.18.0.1', [8790, 8788])).toBe(true);
  });

  it('is not locked with a port open that the service was not told of, or one of its ports closed', () => {
    expect(chainLocks(chain(accept(8788), accept(22)), '172.18.0.1', [8788])).toBe(false);
    expect(chainLocks(chain(accept(8788)), '172.18.0.1', [8788, 8790])).toBe(false);
  });

  it('is not locked when the port is not this service’s, or a rule lets more through, or nothing is dropped after', () => {
    expect(chainLocks(chain(accept(8790)), '172.18.0.1', [8788])).toBe(false);
    expect(chainLocks(chain(accept(8788), `-A ${C} -j ACCEPT`), '172.18.0.1', [8788])).toBe(false);
    expect(chainLocks(chain(accept(8788), `-A ${C} -p tcp -m tcp --dport 22 -j ACCEPT`), '172.18.0.1', [8788])).toBe(
      false,
    );
    expect(chainLocks(chain(accept(8788, '172.18.0.10')), '172.18.0.1', [8788])).toBe(false);
    expect(chainLocks(chain(accept(8788, '172x18x0x1')), '172.18.0.1', [8788])).toBe(false); // dots are dots
    expect(chainLocks([`-N ${C}`, accept(8788)], '172.18.0.1', [8788])).toBe(false);
    expect(chainLocks(chain(), '172.18.0.1', [8788])).toBe(false);
    expect(chainLocks([], '172.18.0.1', [8788])).toBe(false);
    expect(chainLocks(chain(accept(8788)), undefined, [8788])).toBe(false);
  });

  it("is read under Podman's chain name for Podman's network, and one engine's chain does not stand for the other's", () => {
    const P = PODMAN_EGRESS_CHAIN;
    const podman = [`-N ${P}`, `-A ${P} -d 10.89.0.1/32 -p tcp -m tcp --dport 8788 -j ACCEPT`, `-A ${P} -j DROP`];
    expect(chainLocks(podman, '10.89.0.1', [8788], P)).toBe(true);
    expect(chainLocks(podman, '10.89.0.1', [8788])).toBe(false);
    expect(chainLocks(chain(accept(8788, '10.89.0.1')), '10.89.0.1', [8788], P)).toBe(false);
  });
});

describe('the jumps at the head of INPUT', () => {
  const docker = `-A INPUT -i ephemera0 -j ${EGRESS_CHAIN}`;
  const podman = `-A INPUT -i ephemera1 -j ${PODMAN_EGRESS_CHAIN}`;
  it("are both engines' bridge jumps, in either order, before anything else", () => {
    expect(leadingJumps(['-P INPUT ACCEPT', podman, docker, '-A INPUT -j ACCEPT'])).toEqual([podman, docker]);
    expect(leadingJumps(['-P INPUT ACCEPT', docker, podman])).toEqual([docker, podman]);
  });

  it('stop at the first other rule: a jump behind an ACCEPT is not in force for what that rule takes', () => {
    expect(leadingJumps(['-P INPUT ACCEPT', '-A INPUT -i ephemera1 -j ACCEPT', podman])).toEqual([]);
    expect(leadingJumps(['-P INPUT ACCEPT', docker, '-A INPUT -p tcp -j ACCEPT', podman])).toEqual([docker]);
    expect(leadingJumps(['-P INPUT ACCEPT', '-A INPUT -i ephemera1 -j OTHER-CHAIN', podman])).toEqual([]);
    expect(leadingJumps(['-P INPUT ACCEPT', `-A INPUT -i ephemera1 -j ${EGRESS_CHAIN}-X`, podman])).toEqual([]);
    expect(leadingJumps([])).toEqual([]);
  });
});
