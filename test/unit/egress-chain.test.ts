import { describe, expect, it } from 'vitest';
import { chainLocks, EGRESS_CHAIN } from '../../src/runner/docker/egress-lock.js';

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
});
