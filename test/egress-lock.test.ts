import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProfilesFile } from '../src/config/profiles.js';
import { EGRESS_CHAIN, lockProblem, unlockedProfiles } from '../src/runner/docker/egress-lock.js';
import { createHarness, jsonOf, post, SHELL_IMAGE, TEST_PROFILES } from './helpers/harness.js';
import { processDatabases } from './helpers/process-database.js';
import { spawnService } from './helpers/service-process.js';
import { parseProfiles } from '../src/settings.js';

// The service runs no agent on a network that is not locked down, unless its profile
// accepts that in so many words (the locked network itself is probed in gemini.test.ts).

const docker = new Docker();
const OPEN = `ephemera-test-open-${process.pid}`;
const databases = processDatabases();
beforeAll(async () => {
  await docker.createNetwork({ Name: OPEN, Driver: 'bridge' });
});
afterAll(async () => {
  await docker.getNetwork(OPEN).remove();
  await databases.close();
});

const profilesOn = (extra: ProfilesFile['profiles']): ProfilesFile => ({
  default_agent: 'shell',
  profiles: { ...TEST_PROFILES.profiles, ...extra },
});

describe('the egress lock check', () => {
  it('names what is open on a plain bridge, skips profiles without a network or that accept it', async () => {
    const profiles = parseProfiles(
      profilesOn({
        wide: { image: SHELL_IMAGE, command: ['sh', '-s'], network: OPEN },
        accepted: { image: SHELL_IMAGE, command: ['sh', '-s'], network: OPEN, unsafe: ['open_egress'] },
        missing: { image: SHELL_IMAGE, command: ['sh', '-s'], network: 'ephemera-no-such-network' },
      }),
    );
    const problems = await unlockedProfiles(docker, profiles, [8788]);
    expect([...problems.keys()].sort()).toEqual(['missing', 'wide']);
    expect(problems.get('wide')).toMatch(/route out.*containers can reach each other.*npm run setup.*open_egress/);
    expect(problems.get('missing')).toContain('does not exist');
  });

  it('reads the facts as they are', () => {
    const locked = {
      chain: EGRESS_CHAIN,
      internal: true,
      iccDisabled: true,
      ipv6: false,
      bridge: 'ephemera0',
      gateway: '172.20.0.1',
    };
    expect(lockProblem('n', locked, 'locked')).toBeUndefined();
    expect(lockProblem('n', locked, 'unknown')).toContain('cannot be read'); // not seen is not locked
    expect(lockProblem('n', locked, 'open')).toContain("the host's ports are open to it");
    expect(lockProblem('n', { ...locked, internal: false }, 'locked')).toContain('route out');
    expect(lockProblem('n', { ...locked, ipv6: true }, 'locked')).toContain('IPv6');
    expect(lockProblem('n', undefined, 'unknown')).toContain('does not exist');
  });

  it('a service whose model gateway cannot listen refuses its model agents, and serves the rest', async () => {
    const svc = await spawnService({ ...(await databases.env('gateway-refused')), MODEL_GATEWAY_HOST: '0.0.0.0' });
    try {
      const res = await fetch(`${svc.url}/v1/run?agent=gemini`, { method: 'POST', body: 'hello' });
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({
        error: { code: 'AGENT_UNAVAILABLE', message: expect.stringContaining('model gateway is not serving') },
      });
      expect((await fetch(`${svc.url}/v1/run`, { method: 'POST', body: 'echo fine' })).status).toBe(200);
    } finally {
      svc.proc.kill('SIGTERM');
      await svc.exited;
    }
  });

  it('a disabled agent answers 503 AGENT_UNAVAILABLE, saying why, and stores nothing', async () => {
    const h = createHarness();
    try {
      h.service.runs.disableAgent('cat', 'network x is not locked down');
      const res = await h.app.request(post('/v1/run?agent=cat', 'hello'));
      expect(res.status).toBe(503);
      expect(await jsonOf(res)).toEqual({
        error: { code: 'AGENT_UNAVAILABLE', message: 'agent "cat" is not available: network x is not locked down' },
      });
      expect(await h.rows('select count(*) as n from runs')).toEqual([{ n: 0 }]);
      expect(
        (await h.app.request(post('/v1/run', 'echo shell still runs', { accept: 'application/json' }))).status,
      ).toBe(200);
    } finally {
      await h.close();
    }
  });
});
