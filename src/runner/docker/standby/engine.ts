import type { ContainerExit, ContainerSpec, OutputSink } from '../../runtime.js';

/** A container created, attached and started ahead of its run, waiting at the gate. */
export interface WaitingContainer {
  id: string;
  /** Its `ephemera.run` label: a placeholder, live while the pool holds the container or its run goes on. */
  label: string;
  /** The environment it was created with; a run's own additions go in its go line. */
  env: Record<string, string>;
  /** Settles if it stops waiting by itself (it died, or the engine went away). */
  ended: Promise<void>;
}

/** What a runtime does to keep containers waiting and hand one to a run. */
export interface StandbyEngine {
  /** Creates, attaches and starts a container that runs the gate. */
  startWaiting(base: ContainerSpec): Promise<WaitingContainer>;
  /**
   * Gives a waiting container its run: the run's files in, the go line and the prompt on
   * stdin, its output to the sink until it exits; then removes it, whatever happens.
   * Undefined when this run cannot go through the gate (a newline in an argument): the
   * container is left waiting, and the run starts one of its own.
   */
  assign(
    waiting: WaitingContainer,
    spec: ContainerSpec,
    sink: OutputSink,
    signal: AbortSignal,
  ): Promise<ContainerExit> | undefined;
  /** Removes a waiting container nobody will use. */
  discard(waiting: WaitingContainer): Promise<void>;
}

/** A runtime that can keep containers waiting. */
export interface WithStandby {
  readonly standby: StandbyEngine;
}

export const hasStandby = (r: object): r is WithStandby =>
  'standby' in r && typeof (r as WithStandby).standby === 'object';
