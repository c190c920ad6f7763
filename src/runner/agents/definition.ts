import type { Hono } from 'hono';
import type { z } from 'zod';
import type { AgentKindSettings, ModelSettings } from '../../config/agent-kinds.js';
import type { AgentProfile } from '../../config/profiles.js';
import type { ModelRouteOptions } from '../../gateway/model-routes.js';
import type { ModelBudget } from '../../gateway/run-tokens.js';
import type { Agent, ModelAccess } from './agent.js';

/**
 * Everything the service knows of one kind of agent, in its own folder: the options a
 * profile of this kind takes, how earlier turns reach it, the model API it calls (its
 * secret, its upstream, its gateway routes) and how a run of it goes (`create`). The
 * profile schema, the settings, the log redaction and the start-up report are built from
 * the list of these in ./registry.ts.
 */
export interface AgentDefinition<Kind extends string = string, Options extends z.ZodType = z.ZodType>
  extends AgentKindSettings {
  kind: Kind;
  /** What this kind is, for the profile docs and errors. */
  summary: string;
  /**
   * The block of settings a profile of this kind takes, under the key named like the kind
   * (`"gemini": {...}`), parsed to what `create` receives; absent when it takes none.
   */
  options?: Options;
  /** The replay formats it reads; the first is the default. */
  replays: readonly [string, ...string[]];
  /** The model API its runs call, always through the service's model gateway. */
  model?: ModelApi<z.output<Options>>;
  /** A profile of this kind in the built-in set (used when there is no profiles file), in the file's format. */
  builtin?: { name: string; profile: Record<string, unknown> };
  /**
   * The Agent for one run. `model` is the run's way to its model (undefined when the service
   * has none to give); `keyConfigured` says whether the gateway holds a real key.
   */
  create(
    profile: AgentProfile,
    options: z.output<Options>,
    model: ModelAccess | undefined,
    keyConfigured: boolean,
  ): Agent;
}

/** A model API an agent calls, and what the service needs to stand between them. */
export interface ModelApi<Options = unknown> extends ModelSettings {
  /** The routes the model gateway serves for it (see src/gateway/forward.ts). */
  gateway(opts: ModelRouteOptions): Hono;
  /** What one run may spend, from the profile's options. */
  budget(options: Options): ModelBudget;
}

/** Declares a definition, keeping its options type tied to its `create` and `model`. */
export const defineAgent = <Kind extends string, Options extends z.ZodType>(d: AgentDefinition<Kind, Options>) => d;
