// The engine runtimes `npm run setup` registers for profiles with "runtime": "runsc", and the
// runsc network mode of each (scripts/register-runsc.mjs). The service picks one by the
// profile's network (src/runner/docker/runtimes.ts); a unit test keeps the two in step.
export const RUNSC_RUNTIMES = { 'ephemera-runsc': 'none', 'ephemera-runsc-net': 'host' };
