import { defineAgent } from '../definition.js';
import { commandAgent } from './agent.js';

/** Any command that reads the prompt on stdin; its stdout is the reply. The default kind. */
export const command = defineAgent({
  kind: 'command',
  summary: 'any command reading the prompt on stdin; its stdout is the reply',
  replays: ['history-file', 'none'],
  builtin: {
    name: 'shell',
    profile: {
      kind: 'command',
      image: 'ephemera/shell:0.1',
      command: ['sh', '-s'],
      user: '1000:1000',
      workdir: '/workspace',
      network: 'none',
      timeout_ms: 60_000,
      limits: { memory_mb: 256, cpus: 1, pids: 256, nofile: 1024, tmpfs_mb: 64 },
      replay: 'history-file',
      // Two containers wait started (a busybox one holds ~1 MB): a first curl answers in
      // milliseconds, not the ~150 ms of a cold start (BENCHMARKS.md, "Standby").
      standby: 2,
    },
  },
  create: (profile) => commandAgent(profile),
});
