import type { ContainerSpec } from '../runtime.js';

/**
 * What a run's process reads on stdin, in order (docs/architecture.md, "What a container's
 * stdin and stdout carry"): a standby container's go line and files come first, written by
 * the standby runtime (./go-line.ts); then, with a kept workspace, the shim's line (boundary,
 * tar size) and the workspace's tar (./workspace.ts); then the turn's own input. This is the
 * part every container reads: with a kept workspace, the shim's line and the tar, then the turn.
 */
export function stdinOf(spec: ContainerSpec): Buffer {
  const w = spec.workspace;
  if (!w) return spec.stdin;
  const restore = w.restore ?? Buffer.alloc(0);
  return Buffer.concat([Buffer.from(`${w.boundary} ${restore.length}\n`), restore, spec.stdin]);
}
