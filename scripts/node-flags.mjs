// How node runs the service: `npm start`, the Docker image's CMD and the benches start it with
// these (test/unit/node-flags.test.ts holds package.json and the Dockerfile to this list).
//
// --max-semi-space-size=1: V8's young generation grows its two semi-spaces with the allocation
// rate (to 16 MiB each on 64-bit) and keeps them once grown. The service's allocations are
// short-lived request objects and output chunks (whose bytes live outside the heap), so 1 MiB
// costs nothing measurable: idle RSS 85.6 -> 75.3 MB, first byte, runs/s and 100 MB streaming
// within noise, measured side by side (BENCHMARKS.md, "Module boundaries").
export const SERVICE_NODE_FLAGS = ['--max-semi-space-size=1'];
