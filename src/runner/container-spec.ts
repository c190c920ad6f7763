import type { PreparedTurn } from './agents/agent.js';
import type { PlannedRun } from './planned-run.js';
import type { ContainerSpec } from './runtime.js';

/** A container may outlive its deadline by this much (kill and removal) before any instance reaps it. */
const DEADLINE_SLACK_MS = 60_000;
/**
 * The container's own deadline comes this long after the service's timer, which therefore
 * fires first while the service lives (the run ends as `timeout`); the container's only
 * matters when the service is gone.
 */
const OWN_DEADLINE_AFTER_MS = 5_000;

/** The container one run starts: its profile's settings, its agent's turn, and labels that say whose it is. */
export function containerSpec(run: PlannedRun, turn: PreparedTurn, instanceId: string, now: number): ContainerSpec {
  const { profile } = run;
  return {
    image: profile.image,
    command: turn.command,
    env: { ...profile.env, ...turn.env },
    user: profile.user,
    workdir: profile.workdir,
    network: profile.network,
    limits: profile.limits,
    readOnlyRoot: profile.readOnlyRoot,
    tmpfs: profile.tmpfs,
    labels: {
      'ephemera.managed': 'true',
      'ephemera.instance': instanceId,
      'ephemera.session': run.sessionId,
      'ephemera.run': run.runId,
      'ephemera.agent': run.agentName,
      // Past this, the container belongs to no live run, whoever started it.
      'ephemera.deadline': String(now + run.timeoutMs + DEADLINE_SLACK_MS),
    },
    files: turn.files,
    stdin: turn.stdin,
    ownDeadlineAt: profile.ownDeadline ? now + run.timeoutMs + OWN_DEADLINE_AFTER_MS : undefined,
  };
}
