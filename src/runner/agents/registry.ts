import type { ServiceConfig } from '../../config/env.js';
import type { AgentDefinition, ModelApi } from './definition.js';
import { claude } from './claude/index.js';
import { command } from './command/index.js';
import { gemini } from './gemini/index.js';

/** Every kind of agent the service runs: one line each. The first is a profile's default kind. */
export const AGENTS = [command, gemini, claude] as const satisfies readonly AgentDefinition[];

export type AgentKind = (typeof AGENTS)[number]['kind'];
export const AGENT_KINDS = AGENTS.map((a) => a.kind) as [AgentKind, ...AgentKind[]];

const BY_KIND = new Map<string, AgentDefinition>(AGENTS.map((a) => [a.kind, a as AgentDefinition]));

export function definitionOf(kind: string): AgentDefinition {
  const d = BY_KIND.get(kind);
  if (!d) throw new Error(`no agent of kind "${kind}" is registered`);
  return d;
}

/** The kinds whose runs call a model, with its API. */
export const MODEL_AGENTS: Array<{ kind: string; model: ModelApi }> = AGENTS.flatMap((a) =>
  'model' in a && a.model ? [{ kind: a.kind, model: a.model as ModelApi }] : [],
);

/** Whether runs of this kind call a model (through the gateway). */
export const callsModel = (kind: string) => MODEL_AGENTS.some((m) => m.kind === kind);

/** The real key of a kind's model API, when the service has one. */
export function modelKeyOf(config: Pick<ServiceConfig, 'secrets'>, kind: string): string | undefined {
  const model = MODEL_AGENTS.find((m) => m.kind === kind)?.model;
  return model && config.secrets[model.keyEnv];
}
