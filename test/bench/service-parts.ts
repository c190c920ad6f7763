// What the benches in their own files get from test/bench/service.ts: a service started with
// some settings, and one request through it, timed.

export interface StartedService {
  url: string;
  stop: () => Promise<void>;
}

export type StartService = (env: Record<string, string>) => Promise<StartedService>;

export type ServiceRun = (
  url: string,
  prompt: string,
  path?: string,
) => Promise<{ firstByteMs: number; totalMs: number; bytes: number }>;
