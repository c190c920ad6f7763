import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RUNSC_RUNTIMES } from '../../scripts/runsc-runtimes.mjs';
import { engineRuntime, GVISOR_RUNTIMES, missingRuntimes } from '../../src/runner/docker/runtimes.js';
import { parseProfiles } from '../../src/settings.js';
import { SHELL_IMAGE } from '../helpers/harness.js';

const profiles = () =>
  parseProfiles({
    default_agent: 'plain',
    profiles: {
      plain: { image: SHELL_IMAGE },
      walled: { image: SHELL_IMAGE, runtime: 'runsc' },
      'walled-net': { image: SHELL_IMAGE, runtime: 'runsc', network: 'ephemera-egress' },
    },
  });

describe("a profile's runtime", () => {
  it('is runc unless it says runsc, and nothing else is taken', () => {
    const set = profiles();
    expect(set.profiles.get('plain')!.runtime).toBe('runc');
    expect(set.profiles.get('walled')!.runtime).toBe('runsc');
    expect(() =>
      parseProfiles({ default_agent: 'x', profiles: { x: { image: SHELL_IMAGE, runtime: 'kata' } } }),
    ).toThrow(/runtime/);
  });

  it('maps to the engine runtime for its network: gVisor with its own stack, or on the container namespace', () => {
    expect(engineRuntime('runc', 'none')).toBeUndefined(); // the engine's default, whatever its operator made it
    expect(engineRuntime('runc', 'ephemera-egress')).toBeUndefined();
    expect(engineRuntime('runsc', 'none')).toBe('ephemera-runsc');
    expect(engineRuntime('runsc', 'ephemera-egress')).toBe('ephemera-runsc-net');
  });

  it('is refused, profile by profile, when the engine lacks it, saying how to fix it', () => {
    const lacking = missingRuntimes(profiles(), new Set(['runc', 'ephemera-runsc']));
    expect([...lacking.keys()]).toEqual(['walled-net']);
    expect(lacking.get('walled-net')).toMatch(/ephemera-runsc-net.*npm run setup.*"runc"/);
    expect(missingRuntimes(profiles(), new Set(Object.keys(RUNSC_RUNTIMES)))).toEqual(new Map());
    // runc profiles need nothing listed: an engine that lists no runtimes refuses only the gVisor ones.
    expect([...missingRuntimes(profiles(), new Set()).keys()]).toEqual(['walled', 'walled-net']);
  });

  it('names the runtimes set-up registers, with the network mode each needs', () => {
    expect(RUNSC_RUNTIMES).toEqual({
      [GVISOR_RUNTIMES.noNetwork]: 'none',
      [GVISOR_RUNTIMES.network]: 'host',
    });
  });
});

describe("set-up's merge of the engine's daemon.json", () => {
  const register = (file: string) =>
    spawnSync(process.execPath, ['scripts/register-runsc.mjs', file, '/usr/bin/runsc'], { encoding: 'utf8' });
  const made: string[] = [];
  const dir = () => {
    made.push(mkdtempSync(join(tmpdir(), 'ephemera-daemon-')));
    return made.at(-1)!;
  };
  afterAll(() => {
    for (const d of made) rmSync(d, { recursive: true, force: true });
  });

  it("adds both runtimes and keeps every key of the operator's, their own runsc entry included", () => {
    const file = join(dir(), 'daemon.json');
    const theirs = { 'log-driver': 'local', runtimes: { runsc: { path: '/opt/runsc' } }, 'data-root': '/srv/docker' };
    writeFileSync(file, JSON.stringify(theirs));
    expect(register(file).stdout.trim()).toBe('changed');
    const merged = JSON.parse(readFileSync(file, 'utf8'));
    expect(merged).toEqual({
      ...theirs,
      runtimes: {
        runsc: { path: '/opt/runsc' },
        'ephemera-runsc': { path: '/usr/bin/runsc', runtimeArgs: ['--network=none'] },
        'ephemera-runsc-net': { path: '/usr/bin/runsc', runtimeArgs: ['--network=host'] },
      },
    });
    expect(register(file).stdout.trim()).toBe('unchanged'); // idempotent
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(merged);
  });

  it('writes a new file where there is none, and leaves one that is not JSON alone', () => {
    const fresh = join(dir(), 'docker', 'daemon.json');
    expect(register(fresh).stdout.trim()).toBe('changed');
    expect(Object.keys(JSON.parse(readFileSync(fresh, 'utf8')).runtimes)).toEqual(Object.keys(RUNSC_RUNTIMES));

    const broken = join(dir(), 'daemon.json');
    writeFileSync(broken, '{ "log-driver": "local", ');
    const r = register(broken);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('not JSON');
    expect(readFileSync(broken, 'utf8')).toBe('{ "log-driver": "local", ');
  });

  it("keeps an entry of its own that an operator changed, and the file's mode", () => {
    const file = join(dir(), 'daemon.json');
    const theirs = { path: '/opt/gvisor-2026/runsc', runtimeArgs: ['--network=none', '--platform=systrap'] };
    writeFileSync(file, JSON.stringify({ runtimes: { 'ephemera-runsc': theirs } }), { mode: 0o600 });
    expect(register(file).stdout.trim()).toBe('changed'); // the other one was missing
    const merged = JSON.parse(readFileSync(file, 'utf8'));
    expect(merged.runtimes['ephemera-runsc']).toEqual(theirs);
    expect(merged.runtimes['ephemera-runsc-net']).toEqual({ path: '/usr/bin/runsc', runtimeArgs: ['--network=host'] });
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('leaves a file whose runtimes are not an object alone', () => {
    const file = join(dir(), 'daemon.json');
    writeFileSync(file, '{"runtimes": "oops"}');
    expect(register(file).status).toBe(1);
    expect(readFileSync(file, 'utf8')).toBe('{"runtimes": "oops"}');
  });
});
