import type { AgentProfile } from '../../config/profiles.js';
import type { PreparedTurn } from '../agents/agent.js';
import type { PlannedRun } from './planned-run.js';
import type { ContainerSpec } from '../runtime.js';
import { newBoundary } from '../protocol/workspace.js';
import type { WorkspaceBounds } from '../../workspace/archive.js';

/** A container may outlive its deadline by this much (kill and removal) before any instance reaps it. */
const DEADLINE_SLACK_MS = 60_000;
/**
 * The container's own deadline comes this long after the service's timer, which therefore
 * fires first while the service lives (the run ends as `timeout`); the container's only
 * matters when the service is gone.
 */
const OWN_DEADLINE_AFTER_MS = 5_000;

/** The container one run starts: its profile's settings, its agent's turn, and labels that say whose it is. */
export function containerSpec(
  run: PlannedRun,
  turn: PreparedTurn,
  instanceId: string,
  now: number,
  workspaceBounds: WorkspaceBounds,
): ContainerSpec {
  const { profile } = run;
  return {
    ...profileSettings(profile),
    command: turn.command,
    env: { ...profile.env, ...turn.env },
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
    workspace: profile.keepWorkspace
      ? { boundary: newBoundary(), maxBytes: workspaceBounds.maxBytes + CAPTURE_SLACK, restore: run.workspace?.tar }
      : undefined,
  };
}

/** Past the stored bound, a capture may be larger by the tar's own padding and trailer (checked exactly later). */
const CAPTURE_SLACK = 64 * 1024;

/** What every container of a profile has, whichever run it serves. */
function profileSettings(profile: AgentProfile) {
  const { image, user, workdir, network, limits, readOnlyRoot, runtime, tmpfs } = profile;
  return { image, user, workdir, network, limits, readOnlyRoot, runtime, tmpfs };
}

/**
 * A profile's standby container (src/runner/docker/standby): no run yet, so none of a run's files,
 * no prompt and no deadline of its own (those come at assignment). Its labels name a placeholder for the
 * run, and a deadline past the longest it may wait and then run, for other instances' reapers.
 */
export function standbySpec(
  profile: AgentProfile,
  label: string,
  instanceId: string,
  now: number,
  maxIdleMs: number,
): ContainerSpec {
  return {
    ...profileSettings(profile),
    command: undefined,
    env: { ...profile.env },
    labels: {
      'ephemera.managed': 'true',
      'ephemera.instance': instanceId,
      'ephemera.run': label,
      'ephemera.agent': profile.name,
      'ephemera.standby': 'true',
      'ephemera.deadline': String(now + maxIdleMs + profile.maxTimeoutMs + DEADLINE_SLACK_MS),
    },
    files: [],
    stdin: Buffer.alloc(0),
    ownDeadlineAt: undefined,
    workspace: undefined,
  };
}
