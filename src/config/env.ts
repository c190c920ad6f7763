import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';

/** Service settings read from the environment, validated once at start. */
export interface ServiceConfig {
  host: string;
  port: number;
  databasePath: string;
  /** Path of the agent profiles file; undefined means the built-in profiles. */
  profilesPath: string | undefined;
  maxBodyBytes: number;
  /** No run may last longer than this, whatever its profile or request asks. */
  maxTimeoutMs: number;
  /** Labels this service's containers so that several instances can share one engine. */
  instanceId: string;
  dockerHost: string | undefined;
  /** Secrets handed to agents as files inside their containers; never logged, never in env vars. */
  secrets: { geminiApiKey: string | undefined };
}

const positiveInt = (name: string, fallback: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return fallback;
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n <= 0) {
        ctx.addIssue({ code: 'custom', message: `${name} must be a positive integer, got "${v}"` });
        return z.NEVER;
      }
      return n;
    });

const EnvSchema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: positiveInt('PORT', 8787).refine((p) => p < 65536, 'PORT must be below 65536'),
  DATABASE_PATH: z.string().min(1).default('./data/ephemera.db'),
  PROFILES_PATH: z.string().min(1).optional(),
  MAX_BODY_BYTES: positiveInt('MAX_BODY_BYTES', 1024 * 1024),
  MAX_TIMEOUT_MS: positiveInt('MAX_TIMEOUT_MS', 15 * 60 * 1000),
  INSTANCE_ID: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'INSTANCE_ID may hold letters, digits, _ . - (1-64)')
    .optional(),
  DOCKER_HOST: z.string().min(1).optional(),
  GEMINI_API_KEY: z.string().optional(),
  GEMINI_API_KEY_FILE: z.string().min(1).optional(),
});

const DEFAULT_PROFILES_PATH = './config/profiles.json';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadServiceConfig(env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || 'env'}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  return {
    host: e.HOST,
    port: e.PORT,
    databasePath: e.DATABASE_PATH,
    // The repository's config/profiles.json when present; the built-in profiles otherwise.
    profilesPath: e.PROFILES_PATH ?? (existsSync(DEFAULT_PROFILES_PATH) ? DEFAULT_PROFILES_PATH : undefined),
    maxBodyBytes: e.MAX_BODY_BYTES,
    maxTimeoutMs: e.MAX_TIMEOUT_MS,
    instanceId: e.INSTANCE_ID ?? `ephemera-${process.pid}-${Date.now().toString(36)}`,
    dockerHost: e.DOCKER_HOST,
    secrets: { geminiApiKey: readSecret('GEMINI_API_KEY', e.GEMINI_API_KEY, e.GEMINI_API_KEY_FILE) },
  };
}

/** A secret from its variable or from the file its `_FILE` variable names (trimmed). */
function readSecret(name: string, value: string | undefined, file: string | undefined): string | undefined {
  if (value !== undefined && file !== undefined) throw new ConfigError(`set ${name} or ${name}_FILE, not both`);
  if (file !== undefined) {
    try {
      value = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read ${name}_FILE: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  const v = value?.trim();
  if (v !== undefined && /[\r\n]/.test(v)) throw new ConfigError(`${name} must be one line`);
  return v === '' ? undefined : v;
}
