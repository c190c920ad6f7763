import { defineAgent } from '../definition.js';
import { geminiAgent } from './agent.js';
import { forwardingRoutes } from '../../../gateway/forward.js';
import { GEMINI_API } from './gateway.js';
import { GeminiOptionsSchema } from './options.js';

/** Google's Gemini CLI, headless; its model calls go through the gateway to the Gemini API. */
export const gemini = defineAgent({
  kind: 'gemini',
  summary: "Google's Gemini CLI: its stream-json is parsed into text, tool and usage events",
  options: GeminiOptionsSchema,
  replays: ['gemini-session-file', 'none'],
  model: {
    keyEnv: 'GEMINI_API_KEY',
    upstreamEnv: 'GEMINI_UPSTREAM_URL',
    defaultUpstream: 'https://generativelanguage.googleapis.com',
    gateway: (opts) => forwardingRoutes(GEMINI_API, { ...opts, keyEnv: 'GEMINI_API_KEY' }),
    budget: (options) => options.budget,
  },
  builtin: {
    name: 'gemini',
    profile: {
      kind: 'gemini',
      image: 'ephemera/gemini:0.61.0',
      user: '1000:1000',
      workdir: '/workspace',
      network: 'ephemera-egress',
      tmpfs: { '/home/gemini': 'rw,size=64m,uid=1000,gid=1000,mode=0700' },
      timeout_ms: 300_000,
      limits: { memory_mb: 1024, cpus: 1, pids: 256 },
      gemini: { model: 'gemini-2.5-flash', approval_mode: 'default', extra_args: [] },
    },
  },
  create: (profile, _options, model, keyConfigured) => geminiAgent(profile, model, keyConfigured),
});
