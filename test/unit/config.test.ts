import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadServiceConfig } from '../../src/config/env.js';
import { BUILTIN_PROFILES, loadProfiles, parseProfiles } from '../../src/config/profiles.js';

describe('loadServiceConfig', () => {
  it('reads the Gemini API key from a variable or a file, never both', () => {
    expect(loadServiceConfig({ GEMINI_API_KEY: ' k1 ' }).secrets.geminiApiKey).toBe('k1');
    const dir = mkdtempSync(join(tmpdir(), 'ephemera-key-'));
    writeFileSync(join(dir, 'key'), 'k2\n');
    expect(loadServiceConfig({ GEMINI_API_KEY_FILE: join(dir, 'key') }).secrets.geminiApiKey).toBe('k2');
    expect(() => loadServiceConfig({ GEMINI_API_KEY: 'a', GEMINI_API_KEY_FILE: join(dir, 'key') })).toThrow(/not both/);
    expect(() => loadServiceConfig({ GEMINI_API_KEY_FILE: join(dir, 'missing') })).toThrow(/ENOENT/);
    expect(loadServiceConfig({}).secrets.geminiApiKey).toBeUndefined();
  });

  it('has the documented defaults', () => {
    const c = loadServiceConfig({});
    expect(c).toMatchObject({ host: '127.0.0.1', port: 8787, databasePath: './data/ephemera.db', maxBodyBytes: 1048576 });
    expect(c.instanceId).toMatch(/^ephemera-/);
  });

  it('names every invalid variable in one message', () => {
    expect(() => loadServiceConfig({ PORT: 'eighty', MAX_BODY_BYTES: '-1' })).toThrow(ConfigError);
    try {
      loadServiceConfig({ PORT: 'eighty', MAX_BODY_BYTES: '-1' });
    } catch (err) {
      expect((err as Error).message).toContain('PORT must be a positive integer');
      expect((err as Error).message).toContain('MAX_BODY_BYTES must be a positive integer');
    }
    expect(() => loadServiceConfig({ PORT: '70000' })).toThrow(/below 65536/);
  });
});

describe('profiles', () => {
  it('pins the gemini image to the CLI version the image builds', () => {
    const version = /^ARG GEMINI_CLI_VERSION=(.+)$/m.exec(readFileSync('images/gemini/Dockerfile', 'utf8'))?.[1];
    expect(version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(loadProfiles('config/profiles.json').profiles.get('gemini')?.image).toBe(`ephemera/gemini:${version}`);
    expect(parseProfiles(BUILTIN_PROFILES).profiles.get('gemini')?.image).toBe(`ephemera/gemini:${version}`);
  });

  it('gives gemini safe defaults: no yolo, session-file replay', () => {
    const g = parseProfiles({ default_agent: 'g', profiles: { g: { kind: 'gemini', image: 'i' } } }).profiles.get('g')!;
    expect(g.gemini).toEqual({ model: 'gemini-2.5-flash', approvalMode: 'default', extraArgs: [] });
    expect(g.replay).toBe('gemini-session-file');
    expect(g.network).toBe('none');
    expect(() => parseProfiles({ default_agent: 'g', profiles: { g: { kind: 'gemini', image: 'i', replay: 'history-file' } } })).toThrow(/gemini-session-file/);
    expect(() => parseProfiles({ default_agent: 'c', profiles: { c: { image: 'i', gemini: {} } } })).toThrow(/only for kind/);
  });

  it('fills defaults and converts limits', () => {
    const set = parseProfiles({ default_agent: 'x', profiles: { x: { image: 'img' } } });
    const x = set.profiles.get('x')!;
    expect(x).toMatchObject({ image: 'img', user: '1000:1000', network: 'none', timeoutMs: 60000, replay: 'history-file' });
    expect(x.limits).toEqual({ memoryBytes: 256 * 1024 * 1024, nanoCpus: 1e9, pids: 256, nofile: 1024 });
    expect(x.readOnlyRoot).toBe(true);
    expect(x.tmpfs).toEqual({ '/tmp': 'rw,nosuid,nodev,size=64m,mode=1777' });
    const w = parseProfiles({ default_agent: 'w', profiles: { w: { image: 'i', workdir: '/work', user: '1000:2000' } } }).profiles.get('w')!;
    expect(w.tmpfs['/work']).toBe('rw,nosuid,nodev,size=64m,mode=0700,uid=1000,gid=2000');
  });

  it('rejects unknown fields, bad names and a default that names no profile', () => {
    expect(() => parseProfiles({ default_agent: 'x', profiles: { x: { image: 'i', imgae: 'typo' } } })).toThrow(/imgae/);
    expect(() => parseProfiles({ default_agent: 'X!', profiles: { 'X!': { image: 'i' } } })).toThrow(ConfigError);
    expect(() => parseProfiles({ default_agent: 'y', profiles: { x: { image: 'i' } } })).toThrow(/default_agent/);
  });

  it('loads the built-in set and the shipped file', () => {
    expect(parseProfiles(BUILTIN_PROFILES).defaultAgent).toBe('shell');
    expect([...loadProfiles('config/profiles.json').profiles.keys()]).toEqual(['shell', 'cat', 'gemini']);
    expect(() => loadProfiles('/nonexistent/profiles.json')).toThrow(/cannot read/);
  });
});
