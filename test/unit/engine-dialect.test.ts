import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { createOptions } from '../../src/runner/docker/docker-container.js';
import { forPodman, missingControllers } from '../../src/runner/docker/engine-dialect.js';
import type { ContainerSpec } from '../../src/runner/runtime.js';

const spec = (over: Partial<ContainerSpec> = {}): ContainerSpec =>
  ({
    image: 'ephemera/shell:0.1',
    command: ['sh'],
    env: {},
    user: '1000:1000',
    workdir: '/workspace',
    labels: {},
    network: 'none',
    runtime: 'runc',
    limits: { memoryBytes: 256 << 20, nanoCpus: 1e9, pids: 256, nofile: 1024 },
    readOnlyRoot: true,
    tmpfs: { '/tmp': 'rw,size=64m', '/workspace': 'rw,nosuid,nodev,size=64m,mode=0700,uid=1000,gid=1000' },
    files: [],
    ...over,
  }) as unknown as ContainerSpec;

describe('create options on Podman', () => {
  it("gives a tmpfs to the container's user with U, not uid= and gid=, and keeps every other option", () => {
    const podman = forPodman(createOptions(spec()), 8192);
    expect(podman.HostConfig?.Tmpfs).toEqual({
      '/tmp': 'rw,size=64m',
      '/workspace': 'rw,nosuid,nodev,size=64m,mode=0700,U',
    });
    const docker = createOptions(spec());
    const rest = (o: Docker.ContainerCreateOptions) => ({
      ...o,
      HostConfig: { ...o.HostConfig, Tmpfs: undefined, Ulimits: undefined, Sysctls: undefined },
    });
    expect(rest(podman)).toEqual(rest(docker));
  });

  it('refuses a gVisor profile, whose runtime Podman would drop and run under runc', () => {
    const walled = createOptions(spec({ runtime: 'runsc' }));
    expect(walled.HostConfig?.Runtime).toBe('ephemera-runsc');
    expect(() => forPodman(walled, 8192)).toThrow(/ephemera-runsc: Podman's API would run it under runc/);
  });

  it('refuses a tmpfs owner other than the container user, which U cannot say', () => {
    const other = spec({ tmpfs: { '/home/x': 'rw,uid=2000,gid=2000' } });
    expect(() => forPodman(createOptions(other), 8192)).toThrow(/tmpfs \/home\/x.*container's user \(1000:1000\)/);
    const groupOnly = spec({ tmpfs: { '/home/x': 'rw,gid=0' } });
    expect(() => forPodman(createOptions(groupOnly), 8192)).toThrow(/tmpfs \/home\/x/);
  });

  it("adds Podman's configured nproc beside the profile's nofile, and keeps an nproc already given", () => {
    const limits = (o: Docker.ContainerCreateOptions) => o.HostConfig?.Ulimits;
    expect(limits(forPodman(createOptions(spec()), 8192))).toEqual([
      { Name: 'nofile', Soft: 1024, Hard: 1024 },
      { Name: 'nproc', Soft: 8192, Hard: 8192 },
    ]);
    const given = createOptions(spec());
    given.HostConfig!.Ulimits!.push({ Name: 'nproc', Soft: 10, Hard: 10 });
    expect(limits(forPodman(given, 8192))).toEqual(given.HostConfig!.Ulimits);
  });

  it("needs the cgroup controllers that enforce a run's limits: rootless Podman on cgroups v1 has none", () => {
    // As Podman 4.3 reported them on this machine: rootful, then rootless (cgroups v1).
    expect(missingControllers(['cpuset', 'cpu', 'cpuacct', 'blkio', 'memory', 'devices', 'freezer', 'pids'])).toEqual(
      [],
    );
    expect(missingControllers([])).toEqual(['memory', 'pids', 'cpu']);
  });

  it('leaves nproc to Podman where it has none configured (rootless)', () => {
    expect(forPodman(createOptions(spec()), undefined).HostConfig?.Ulimits).toEqual([
      { Name: 'nofile', Soft: 1024, Hard: 1024 },
    ]);
  });

  it("turns IPv6 off inside the container, which netavark leaves on (the locked network's rules are IPv4's)", () => {
    const onNetwork = forPodman(createOptions(spec({ network: 'ephemera-egress' })), 8192);
    expect(onNetwork.HostConfig?.Sysctls).toEqual({ 'net.ipv6.conf.all.disable_ipv6': '1' });
    expect(createOptions(spec({ network: 'ephemera-egress' })).HostConfig?.Sysctls).toBeUndefined(); // Docker does it itself
  });
});
