import { readFileSync } from 'node:fs';
import type { ProfilesFile } from '../../src/config/profiles.js';
import { EGRESS_NETWORK } from './gemini.js';
import { TEST_PROFILES } from './harness.js';
import { loadServiceConfig } from '../../src/settings.js';

/** The image tag the set-up builds, from images/claude/image.env. */
export function claudeImage(): string {
  const tag = /^TAG=(.+)$/m.exec(readFileSync('images/claude/image.env', 'utf8'))?.[1];
  if (!tag) throw new Error('images/claude/image.env sets no TAG');
  return tag;
}

/** The harness's model gateway settings, forwarding claude's calls to `upstream` (a fake Messages API). */
export const claudeGatewayTo = (upstream: string) => {
  const gateway = loadServiceConfig({}).modelGateway;
  return { ...gateway, upstreams: { ...gateway.upstreams, claude: upstream } };
};

/** Test profiles plus `claude` (and one with a budget of one model call), behind the model gateway. */
export function claudeProfiles(): ProfilesFile {
  const claude = {
    kind: 'claude' as const,
    image: claudeImage(),
    network: EGRESS_NETWORK,
    workdir: '/workspace',
    tmpfs: { '/home/claude': 'rw,size=64m,uid=1000,gid=1000,mode=0700' },
    limits: { memory_mb: 1024, cpus: 1, pids: 256 },
    timeout_ms: 60_000,
  };
  return {
    default_agent: 'shell',
    profiles: {
      ...TEST_PROFILES.profiles,
      claude,
      'claude-budget': { ...claude, claude: { budget: { model_calls: 1 } } },
      // Edits in the workspace allowed without asking.
      'claude-editor': { ...claude, claude: { permission_mode: 'acceptEdits' as const } },
      'claude-gvisor': { ...claude, runtime: 'runsc' as const },
    },
  };
}
