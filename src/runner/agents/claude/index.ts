import { forwardingRoutes } from '../../../gateway/forward.js';
import { defineAgent } from '../definition.js';
import { claudeAgent } from './agent.js';
import { ANTHROPIC_API } from './gateway.js';
import { ClaudeOptionsSchema } from './options.js';

/** Anthropic's Claude Code CLI, headless; its model calls go through the gateway to the Messages API. */
export const claude = defineAgent({
  kind: 'claude',
  summary: "Anthropic's Claude Code CLI: its stream-json is parsed into text, tool and usage events",
  options: ClaudeOptionsSchema,
  replays: ['claude-session', 'none'],
  model: {
    keyEnv: 'ANTHROPIC_API_KEY',
    upstreamEnv: 'ANTHROPIC_UPSTREAM_URL',
    defaultUpstream: 'https://api.anthropic.com',
    gateway: (opts) => forwardingRoutes(ANTHROPIC_API, { ...opts, keyEnv: 'ANTHROPIC_API_KEY' }),
    budget: (options) => options.budget,
  },
  builtin: {
    name: 'claude',
    profile: {
      kind: 'claude',
      image: 'ephemera/claude:2.1.328',
      user: '1000:1000',
      workdir: '/workspace',
      network: 'ephemera-egress',
      tmpfs: { '/home/claude': 'rw,size=64m,uid=1000,gid=1000,mode=0700' },
      timeout_ms: 300_000,
      limits: { memory_mb: 1024, cpus: 1, pids: 256 },
      claude: { model: 'sonnet', permission_mode: 'default' },
    },
  },
  create: (profile, _options, model, keyConfigured) => claudeAgent(profile, model, keyConfigured),
});
