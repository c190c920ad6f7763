import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { modelGateway } from '../../src/gateway/model-gateway.js';
import { RunTokens } from '../../src/gateway/run-tokens.js';
import { createLogger } from '../../src/observability/logger.js';
import { AGENTS, MODEL_AGENTS } from '../../src/runner/agents/registry.js';
import { BUILTIN_PROFILES, loadServiceConfig, parseProfiles } from '../../src/settings.js';

// What the registry derives: one definition a kind, and the rest of the service built from the list.
describe('the agent registry', () => {
  it('gives the built-in set one profile per kind that has one, each parsed with its defaults', () => {
    const set = parseProfiles(BUILTIN_PROFILES);
    for (const d of AGENTS) {
      if (!d.builtin) continue;
      const p = set.profiles.get(d.builtin.name)!;
      expect(p.kind).toBe(d.kind);
      expect(p.replay).toBe(d.replays[0]);
    }
    expect(set.profiles.size).toBe(AGENTS.filter((d) => d.builtin).length);
  });

  it("takes only registered kinds, and a kind's options block only on a profile of that kind", () => {
    const one = (p: Record<string, unknown>) =>
      parseProfiles({ default_agent: 'x', profiles: { x: { image: 'i', ...p } } });
    expect(() => one({ kind: 'nope' })).toThrow(new RegExp(AGENTS.map((d) => `"${d.kind}"`).join('\\|')));
    for (const { kind } of MODEL_AGENTS) {
      const other = AGENTS.find((d) => d.kind !== kind)!.kind;
      expect(() => one({ kind: other, [kind]: {} })).toThrow(`profiles.x.${kind}: only for kind "${kind}"`);
    }
  });

  it('lets every kind set the common fields, `command` included (a kind named like a field takes no block)', () => {
    for (const d of AGENTS) {
      const set = parseProfiles({
        default_agent: 'x',
        profiles: { x: { kind: d.kind, image: 'i', command: ['run', 'it'] } },
      });
      expect(set.profiles.get('x')!.command).toEqual(['run', 'it']);
    }
  });

  it("reads each model agent's key (or key file) and upstream from the environment", () => {
    const dir = mkdtempSync(join(tmpdir(), 'ephemera-keys-'));
    for (const { kind, model } of MODEL_AGENTS) {
      expect(loadServiceConfig({ [model.keyEnv]: ' k1 ' }).secrets[model.keyEnv]).toBe('k1');
      writeFileSync(join(dir, kind), 'k2\n');
      expect(loadServiceConfig({ [`${model.keyEnv}_FILE`]: join(dir, kind) }).secrets[model.keyEnv]).toBe('k2');
      expect(loadServiceConfig({}).modelGateway.upstreams[kind]).toBe(model.defaultUpstream);
      expect(() => loadServiceConfig({ [model.upstreamEnv]: 'http://corp.example/' })).toThrow(model.upstreamEnv);
    }
  });

  it("never logs a model agent's key, under its variable's name or in the secrets", () => {
    const lines: string[] = [];
    const logger = createLogger({ destination: { write: (l: string) => void lines.push(l) } });
    for (const { model } of MODEL_AGENTS) {
      logger.info(
        {
          [model.keyEnv]: 'sekrit-a',
          env: { [model.keyEnv]: 'sekrit-b' },
          config: { secrets: { [model.keyEnv]: 'sekrit-c' } },
        },
        'x',
      );
    }
    expect(lines.length).toBe(MODEL_AGENTS.length);
    expect(lines.join('')).not.toContain('sekrit');
  });

  it("accepts a run's token only on its own kind's model API", async () => {
    const tokens = new RunTokens();
    // Keys configured, upstreams nowhere: a call that got past the token check would answer 502, not 401.
    const config = {
      ...loadServiceConfig({}),
      secrets: Object.fromEntries(MODEL_AGENTS.map(({ model }) => [model.keyEnv, 'real-key'])),
    };
    const app = modelGateway({
      tokens,
      logger: pino({ level: 'silent' }),
      config: { ...config, modelGateway: { ...config.modelGateway, upstreams: {} } },
    });
    const gemini = (token: string) =>
      app.request('/v1beta/models/m:generateContent', {
        method: 'POST',
        body: '{}',
        headers: { 'x-goog-api-key': token },
      });
    expect((await gemini(tokens.issue('run_1', {}, () => {}, 'command').token)).status).toBe(401);
    expect((await gemini(tokens.issue('run_2', {}, () => {}, 'someother').token)).status).toBe(401);
    expect((await app.request('/v1/elsewhere', { method: 'POST' })).status).toBe(404);
  });
});
