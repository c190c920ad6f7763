import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { ProfilesFile } from '../../src/config/profiles.js';
import { SHELL_IMAGE, TEST_PROFILES } from './harness.js';
import { loadServiceConfig } from '../../src/settings.js';

/** The harness's model gateway settings: forward to `upstream` (a fake Gemini API on loopback). */
export const gatewayTo = (upstream: string) => ({
  ...loadServiceConfig({}).modelGateway,
  upstreams: { ...loadServiceConfig({}).modelGateway.upstreams, gemini: upstream },
});

/** The image tag the set-up builds, from the version pinned in images/gemini/Dockerfile. */
export function geminiImage(): string {
  const version = /^ARG GEMINI_CLI_VERSION=(.+)$/m.exec(readFileSync('images/gemini/Dockerfile', 'utf8'))?.[1];
  if (!version) throw new Error('images/gemini/Dockerfile pins no GEMINI_CLI_VERSION');
  return `ephemera/gemini:${version}`;
}

export const EGRESS_NETWORK = 'ephemera-egress';

/** The one port the locked egress network lets containers reach on the host (scripts/lock-egress.sh). */
export const GATEWAY_PORT = 8788;

/** Where a container on the egress network reaches a server on this host bound to 0.0.0.0. */
export function hostAddressFromContainers(): string {
  return execFileSync('docker', ['network', 'inspect', EGRESS_NETWORK, '-f', '{{(index .IPAM.Config 0).Gateway}}'], {
    encoding: 'utf8',
  }).trim();
}

/**
 * Test profiles plus `gemini` (a crashing variant, and one with a budget of one model
 * call). They reach their model through the service's model gateway.
 */
export function geminiProfiles(): ProfilesFile {
  const gemini = {
    kind: 'gemini' as const,
    image: geminiImage(),
    network: EGRESS_NETWORK,
    env: {},
    tmpfs: { '/home/gemini': 'rw,size=64m,uid=1000,gid=1000,mode=0700' },
    limits: { memory_mb: 512, cpus: 1, pids: 256 },
    timeout_ms: 60_000,
  };
  return {
    default_agent: 'shell',
    profiles: {
      ...TEST_PROFILES.profiles,
      gemini,
      // Node's heap capped far too low: the CLI dies of a fatal error mid-start.
      'gemini-crash': { ...gemini, env: { ...gemini.env, NODE_OPTIONS: '--max-old-space-size=8' } },
      'gemini-budget': { ...gemini, gemini: { budget: { model_calls: 1 } } },
      // A workspace carried across turns, and file edits allowed without asking.
      'gemini-editor': { ...gemini, workdir: '/workspace', gemini: { approval_mode: 'auto_edit' as const } },
      // A plain shell on the egress network: what a tool the agent runs could try from there.
      probe: { image: SHELL_IMAGE, command: ['sh', '-s'], network: EGRESS_NETWORK, replay: 'none', timeout_ms: 30_000 },
      // The same two under gVisor.
      'gemini-gvisor': { ...gemini, runtime: 'runsc' as const },
      'probe-gvisor': {
        image: SHELL_IMAGE,
        command: ['sh', '-s'],
        network: EGRESS_NETWORK,
        replay: 'none',
        timeout_ms: 30_000,
        runtime: 'runsc' as const,
      },
    },
  };
}
