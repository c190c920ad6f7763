import type { z } from 'zod';

/**
 * What the settings and the profiles file need to know of one kind of agent. The list is the
 * agent registry's (src/runner/agents/registry.ts), handed in where the service is wired
 * (src/settings.ts): config/ knows no agent by name.
 */
export interface AgentKindSettings {
  kind: string;
  /** The block of settings a profile of this kind takes, under the key named like the kind. */
  options?: z.ZodType;
  /** The replay formats it reads; the first is the default. */
  replays: readonly [string, ...string[]];
  /** A profile of this kind in the built-in set (used when there is no profiles file), in the file's format. */
  builtin?: { name: string; profile: Record<string, unknown> };
  /** The model API its runs call: the variables holding its key and naming its upstream. */
  model?: ModelSettings;
}

export interface ModelSettings {
  /** The variable holding the real key (also read from `<name>_FILE`); never logged, never in a container. */
  keyEnv: string;
  /** The variable naming the upstream, and its default. */
  upstreamEnv: string;
  defaultUpstream: string;
}

/** The kinds whose runs call a model, each with its model's settings. */
export const modelKinds = (agents: readonly AgentKindSettings[]) =>
  agents.flatMap((a) => (a.model ? [{ kind: a.kind, model: a.model }] : []));
