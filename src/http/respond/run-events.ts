import type { RunHandle } from '../../runner/run/run.js';
import type { NumberedEvent } from '../../runner/events/typed-event.js';

/**
 * A run's typed events as it emits them, each with its number in the run's log (EventTyper
 * decodes and numbers them, once). Leaving the loop early lets go of the run's events (the
 * caller cancels the run if it must).
 */
export async function* typedEvents(run: RunHandle): AsyncGenerator<NumberedEvent> {
  for await (const output of run.events) yield* output.events;
}
