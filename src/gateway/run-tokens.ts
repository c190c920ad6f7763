import { randomBytes } from 'node:crypto';

/** What one run may spend on its model; undefined parts are unlimited. */
export interface ModelBudget {
  modelCalls?: number;
  tokens?: number;
}

/** What the gateway saw of one run's model calls. */
export interface ModelUsage {
  calls: number;
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  /** Upstream answers with an error status, and upstreams that could not be reached. */
  errors: number;
}

export interface RunGrant {
  runId: string;
  /** The kind of agent the run is: its token is good for that agent's model API only (undefined: any). */
  kind: string | undefined;
  /** The run's stand-in for an API key: valid only while the run is in progress. */
  token: string;
  budget: ModelBudget;
  usage: ModelUsage;
  /** Set once the run went over its budget; the gateway refuses its further calls. */
  overBudget: string | undefined;
  /** Its calls being answered now. */
  inFlight: number;
  /** Told once, when the run first goes over its budget (the run service stops the run). */
  onOverBudget: (why: string) => void;
}

/**
 * The per-run tokens the model gateway accepts. A run gets one when it starts and loses
 * it when it ends, so a token copied out of a container is worth nothing afterwards.
 */
export class RunTokens {
  private readonly byToken = new Map<string, RunGrant>();

  issue(runId: string, budget: ModelBudget, onOverBudget: (why: string) => void = () => {}, kind?: string): RunGrant {
    const grant: RunGrant = {
      runId,
      kind,
      token: `eph-run-${randomBytes(24).toString('base64url')}`,
      budget,
      usage: { calls: 0, inputTokens: 0, outputTokens: 0, totalTokens: 0, errors: 0 },
      overBudget: undefined,
      inFlight: 0,
      onOverBudget,
    };
    this.byToken.set(grant.token, grant);
    return grant;
  }

  /** The grant of a run in progress, or undefined for any other string. */
  get(token: string): RunGrant | undefined {
    return this.byToken.get(token);
  }

  revoke(grant: RunGrant): void {
    this.byToken.delete(grant.token);
  }

  get live(): number {
    return this.byToken.size;
  }
}

/** Counts a model call's usage against its grant; marks the grant over budget when it is. */
export function charge(grant: RunGrant, usage: { input: number; output: number; total: number }): void {
  grant.usage.inputTokens += usage.input;
  grant.usage.outputTokens += usage.output;
  grant.usage.totalTokens += usage.total;
  const { tokens } = grant.budget;
  if (tokens !== undefined && grant.usage.totalTokens > tokens)
    markOverBudget(grant, `the run used ${grant.usage.totalTokens} model tokens, over its budget of ${tokens}`);
}

/** Ends the grant's spending: its further calls are refused, and its run is told (once). */
export function markOverBudget(grant: RunGrant, why: string): void {
  if (grant.overBudget !== undefined) return;
  grant.overBudget = why;
  grant.onOverBudget(why);
}
