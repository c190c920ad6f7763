import type { Logger } from 'pino';
import type { AgentProfile } from '../../config/profiles.js';
import type { Replay, StoredWorkspace } from '../../db/contract.js';
import type { TurnSteps } from '../events/turn-steps.js';

/** A turn that was checked and recorded as `running`: everything its run needs to know. */
export interface PlannedRun {
  sessionId: string;
  runId: string;
  agentName: string;
  profile: AgentProfile;
  timeoutMs: number;
  prompt: string;
  /** performance.now() when the request arrived; run timings count from it. */
  receivedAt: number;
  replay: Replay;
  /** What the replayed turns did besides replying (tool calls, stderr, exit code), by run id. */
  steps: ReadonlyMap<string, TurnSteps>;
  /** The session's stored workspace, restored into the run's workdir (profile.keepWorkspace). */
  workspace: StoredWorkspace | undefined;
  logger?: Logger;
  keepOutput: boolean;
}
