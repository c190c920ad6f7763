import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/env.js';
import {
  BUILTIN_PROFILES,
  loadProfiles,
  loadServiceConfig,
  parseProfiles,
  serviceSettingNames,
} from '../../src/settings.js';

describe('loadServiceConfig', () => {
  it('reads the Gemini API key from a variable or a file, never both', () => {
    expect(loadServiceConfig({ GEMINI_API_KEY: ' k1 ' }).secrets.GEMINI_API_KEY).toBe('k1');
    // The gateway sends the real key to its upstream: over TLS, or in clear only to this machine.
    expect(
      loadServiceConfig({ GEMINI_UPSTREAM_URL: 'https://corp.example/gemini/' }).modelGateway.upstreams.gemini,
    ).toBe('https://corp.example/gemini/');
    expect(loadServiceConfig({ GEMINI_UPSTREAM_URL: 'http://127.0.0.1:9999' }).modelGateway.upstreams.gemini).toBe(
      'http://127.0.0.1:9999',
    );
    for (const bad of [
      'http://corp.example/',
      'https://u:p@corp.example/',
      'https://corp.example/?x=1',
      'ftp://corp.example/',
    ]) {
      expect(() => loadServiceConfig({ GEMINI_UPSTREAM_URL: bad }), bad).toThrow(/GEMINI_UPSTREAM_URL/);
    }
    const dir = mkdtempSync(join(tmpdir(), 'ephemera-key-'));
    writeFileSync(join(dir, 'key'), 'k2\n');
    expect(loadServiceConfig({ GEMINI_API_KEY_FILE: join(dir, 'key') }).secrets.GEMINI_API_KEY).toBe('k2');
    expect(() => loadServiceConfig({ GEMINI_API_KEY: 'a', GEMINI_API_KEY_FILE: join(dir, 'key') })).toThrow(/not both/);
    expect(() => loadServiceConfig({ GEMINI_API_KEY_FILE: join(dir, 'missing') })).toThrow(/ENOENT/);
    expect(loadServiceConfig({}).secrets.GEMINI_API_KEY).toBeUndefined();
  });

  it('has the documented defaults', () => {
    const c = loadServiceConfig({});
    expect(c).toMatchObject({
      host: '127.0.0.1',
      port: 8787,
      databasePath: './data/ephemera.db',
      maxBodyBytes: 1048576,
    });
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

  it('bounds the HTTP server: defaults, overrides, and a request timeout shorter than the headers one', () => {
    expect(loadServiceConfig({}).http).toEqual({
      maxConnections: 512,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 60_000,
      keepAliveTimeoutMs: 5_000,
    });
    const env = {
      MAX_CONNECTIONS: '64',
      HEADERS_TIMEOUT_MS: '2000',
      REQUEST_TIMEOUT_MS: '30000',
      KEEP_ALIVE_TIMEOUT_MS: '1000',
    };
    expect(loadServiceConfig(env).http).toEqual({
      maxConnections: 64,
      headersTimeoutMs: 2000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 1000,
    });
    expect(() => loadServiceConfig({ MAX_CONNECTIONS: '0' })).toThrow(
      'MAX_CONNECTIONS must be a positive integer, got "0"',
    );
    expect(() => loadServiceConfig({ HEADERS_TIMEOUT_MS: 'soon' })).toThrow(
      'HEADERS_TIMEOUT_MS must be a positive integer',
    );
    expect(() => loadServiceConfig({ HEADERS_TIMEOUT_MS: '20000', REQUEST_TIMEOUT_MS: '5000' })).toThrow(
      'REQUEST_TIMEOUT_MS (5000) must be at least HEADERS_TIMEOUT_MS (20000)',
    );
  });
});

describe('DATABASE_PASSWORD_FILE', () => {
  it('goes with a DATABASE_URL that holds no password, and only with one', () => {
    const url = 'postgres://ephemera@db.internal:5432/ephemera';
    expect(loadServiceConfig({ DATABASE_URL: url, DATABASE_PASSWORD_FILE: '/run/secrets/pg' })).toMatchObject({
      databaseUrl: url,
      databasePasswordFile: '/run/secrets/pg',
    });
    expect(() =>
      loadServiceConfig({
        DATABASE_URL: 'postgres://ephemera:pw@db:5432/e',
        DATABASE_PASSWORD_FILE: '/run/secrets/pg',
      }),
    ).toThrow(/one place/);
    expect(() =>
      loadServiceConfig({ DATABASE_URL: `${url}?password=pw`, DATABASE_PASSWORD_FILE: '/run/secrets/pg' }),
    ).toThrow(/one place/);
    expect(() => loadServiceConfig({ DATABASE_PASSWORD_FILE: '/run/secrets/pg' })).toThrow(/DATABASE_PASSWORD_FILE/);
    // A URL the pattern takes but URL parsing refuses: a configuration error, which does not quote it.
    let thrown: unknown;
    try {
      loadServiceConfig({
        DATABASE_URL: 'postgres://u:s3cret@h:9999999/db',
        DATABASE_PASSWORD_FILE: '/run/secrets/pg',
      });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect(JSON.stringify(thrown) + String(thrown)).not.toContain('s3cret');
    expect(loadServiceConfig({}).databasePasswordFile).toBeUndefined();
  });
});

describe('MODEL_GATEWAY_PORTS', () => {
  it("lists every replica's gateway port, this one's among them; MODEL_GATEWAY_PORT alone by default", () => {
    expect(loadServiceConfig({}).modelGateway.ports).toEqual([8788]);
    expect(
      loadServiceConfig({ MODEL_GATEWAY_PORT: '8790', MODEL_GATEWAY_PORTS: '8788 8790' }).modelGateway.ports,
    ).toEqual([8788, 8790]);
    expect(loadServiceConfig({ MODEL_GATEWAY_PORTS: '8788,8790' }).modelGateway.ports).toEqual([8788, 8790]);
    expect(() => loadServiceConfig({ MODEL_GATEWAY_PORTS: '8790' })).toThrow(/must include MODEL_GATEWAY_PORT/);
    for (const bad of ['8788 22', '8788 99999', '8788 08790', '8788 x'])
      expect(() => loadServiceConfig({ MODEL_GATEWAY_PORTS: bad }), bad).toThrow(/MODEL_GATEWAY_PORTS/);
  });
});

describe('MODEL_KEYS_DIR', () => {
  it('reads a key file named after its variable when present, and yields to the variables', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ephemera-keys-'));
    writeFileSync(join(dir, 'gemini_api_key'), 'from-the-dir\n');
    expect(loadServiceConfig({ MODEL_KEYS_DIR: dir }).secrets).toMatchObject({
      GEMINI_API_KEY: 'from-the-dir',
      ANTHROPIC_API_KEY: undefined,
    });
    expect(loadServiceConfig({ MODEL_KEYS_DIR: dir, GEMINI_API_KEY: 'direct' }).secrets.GEMINI_API_KEY).toBe('direct');
    expect(loadServiceConfig({ MODEL_KEYS_DIR: join(dir, 'none') }).secrets.GEMINI_API_KEY).toBeUndefined();
  });
});

describe('.env.example', () => {
  it('lists every setting the service reads, and nothing else', () => {
    const listed = [...readFileSync('.env.example', 'utf8').matchAll(/^# ([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]);
    expect([...listed].sort()).toEqual([...serviceSettingNames(), 'LOG_LEVEL'].sort());
  });
});

describe('the webhook settings', () => {
  it('take exact origins, and need a signing secret with them', () => {
    expect(loadServiceConfig({}).webhooks).toEqual({
      allowedOrigins: [],
      secret: undefined,
      firstRetryMs: 2000,
      attempts: 10,
    });
    const secret = 's'.repeat(16);
    expect(
      loadServiceConfig({
        WEBHOOK_ALLOWED_ORIGINS: 'https://hooks.example, http://127.0.0.1:9',
        WEBHOOK_SECRET: secret,
      }).webhooks.allowedOrigins,
    ).toEqual(['https://hooks.example', 'http://127.0.0.1:9']);
    expect(() => loadServiceConfig({ WEBHOOK_ALLOWED_ORIGINS: 'https://hooks.example' })).toThrow(/WEBHOOK_SECRET/);
    expect(() =>
      loadServiceConfig({ WEBHOOK_ALLOWED_ORIGINS: 'https://hooks.example', WEBHOOK_SECRET: 'short' }),
    ).toThrow(/at least 16/);
    expect(() =>
      loadServiceConfig({ WEBHOOK_ALLOWED_ORIGINS: 'https://hooks.example/path', WEBHOOK_SECRET: secret }),
    ).toThrow(/WEBHOOK_ALLOWED_ORIGINS is a comma-separated list of origins/);
  });
});

describe('CORS_ORIGINS and the WebSocket settings', () => {
  it('take exact origins only, and default to none', () => {
    expect(loadServiceConfig({}).corsOrigins).toEqual([]);
    expect(loadServiceConfig({ CORS_ORIGINS: 'https://a.example, http://localhost:5173' }).corsOrigins).toEqual([
      'https://a.example',
      'http://localhost:5173',
    ]);
    for (const bad of ['*', 'https://a.example/', 'https://a.example/app', 'a.example', 'ftp://a.example']) {
      expect(() => loadServiceConfig({ CORS_ORIGINS: bad })).toThrow(
        /CORS_ORIGINS is a comma-separated list of origins/,
      );
    }
    expect(loadServiceConfig({}).websocket).toEqual({ idleMs: 300_000, pingMs: 30_000 });
    expect(loadServiceConfig({ WS_IDLE_TIMEOUT_MS: '1000', WS_PING_INTERVAL_MS: '500' }).websocket).toEqual({
      idleMs: 1000,
      pingMs: 500,
    });
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
    expect(g.options).toEqual({ model: 'gemini-2.5-flash', approvalMode: 'default', extraArgs: [], budget: {} });
    const budgeted = parseProfiles({
      default_agent: 'g',
      profiles: { g: { kind: 'gemini', image: 'i', gemini: { budget: { model_calls: 20, tokens: 100000 } } } },
    });
    expect(budgeted.profiles.get('g')!.options.budget).toEqual({ modelCalls: 20, tokens: 100000 });
    expect(() =>
      parseProfiles({
        default_agent: 'g',
        profiles: { g: { kind: 'gemini', image: 'i', gemini: { budget: { model_calls: 0 } } } },
      }),
    ).toThrow(/model_calls/);
    expect(g.replay).toBe('gemini-session-file');
    expect(g.network).toBe('none');
    expect(() =>
      parseProfiles({ default_agent: 'g', profiles: { g: { kind: 'gemini', image: 'i', replay: 'history-file' } } }),
    ).toThrow(/gemini-session-file/);
    expect(() => parseProfiles({ default_agent: 'c', profiles: { c: { image: 'i', gemini: {} } } })).toThrow(
      /only for kind/,
    );
  });

  it('fills defaults and converts limits', () => {
    const set = parseProfiles({ default_agent: 'x', profiles: { x: { image: 'img' } } });
    const x = set.profiles.get('x')!;
    expect(x).toMatchObject({
      image: 'img',
      user: '1000:1000',
      network: 'none',
      timeoutMs: 60000,
      replay: 'history-file',
    });
    expect(x.limits).toEqual({ memoryBytes: 256 * 1024 * 1024, nanoCpus: 1e9, pids: 256, nofile: 1024 });
    expect(x.readOnlyRoot).toBe(true);
    expect(x.tmpfs).toEqual({ '/tmp': 'rw,nosuid,nodev,size=64m,mode=1777' });
    const w = parseProfiles({
      default_agent: 'w',
      profiles: { w: { image: 'i', workdir: '/work', user: '1000:2000' } },
    }).profiles.get('w')!;
    expect(w.tmpfs['/work']).toBe('rw,nosuid,nodev,size=64m,mode=0700,uid=1000,gid=2000');
  });

  it('rejects unknown fields, bad names and a default that names no profile', () => {
    expect(() => parseProfiles({ default_agent: 'x', profiles: { x: { image: 'i', imgae: 'typo' } } })).toThrow(
      /imgae/,
    );
    expect(() => parseProfiles({ default_agent: 'X!', profiles: { 'X!': { image: 'i' } } })).toThrow(ConfigError);
    expect(() => parseProfiles({ default_agent: 'y', profiles: { x: { image: 'i' } } })).toThrow(/default_agent/);
  });

  it('loads the built-in set and the shipped file', () => {
    expect(parseProfiles(BUILTIN_PROFILES).defaultAgent).toBe('shell');
    expect([...loadProfiles('config/profiles.json').profiles.keys()]).toEqual(['shell', 'cat', 'gemini', 'claude']);
    expect(() => loadProfiles('/nonexistent/profiles.json')).toThrow(/cannot read/);
  });

  describe('settings that weaken isolation need an "unsafe" acknowledgement', () => {
    const one = (profile: Record<string, unknown>) =>
      parseProfiles({ default_agent: 'dev', profiles: { dev: { image: 'i', ...profile } } }, 'profiles file p.json');
    const refusal = (profile: Record<string, unknown>) => {
      try {
        one(profile);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error(`accepted ${JSON.stringify(profile)}`);
    };

    it.each([
      [{ network: 'host' }, 'network', 'host_network'],
      [{ network: 'HOST' }, 'network', 'host_network'],
      [{ network: 'ns:/proc/1/ns/net' }, 'network', 'host_network'],
      [{ network: 'container:db' }, 'network', 'container_network'],
      [{ user: '0' }, 'user', 'root_user'],
      [{ user: 'root' }, 'user', 'root_user'],
      [{ user: '0:0' }, 'user', 'root_user'],
      [{ user: 'root:1000' }, 'user', 'root_user'],
      [{ user: '00' }, 'user', 'root_user'],
      [{ user: '+0:1000' }, 'user', 'root_user'],
      // The engine runs an empty uid as root, and a gid 0 is root's group.
      [{ user: ':1000' }, 'user', 'root_user'],
      [{ user: ':0' }, 'user', 'root_user'],
      [{ user: ':' }, 'user', 'root_user'],
      [{ user: '1000:0' }, 'user', 'root_user'],
      [{ user: '1000:' }, 'user', 'root_user'],
      [{ read_only_root: false }, 'read_only_root', 'writable_root'],
      [{ tmpfs: { '/opt/x': 'rw,exec,size=8m' } }, 'tmpfs./opt/x', 'tmpfs_exec'],
      [{ tmpfs: { '/tmp': 'rw,suid,size=8m' } }, 'tmpfs./tmp', 'tmpfs_suid'],
      [{ tmpfs: { '/dev2': 'dev' } }, 'tmpfs./dev2', 'tmpfs_dev'],
    ])('refuses %j, naming the profile and the field, unless acknowledged', (profile, field, setting) => {
      const message = refusal(profile);
      expect(message).toContain('invalid profiles file p.json');
      expect(message).toContain(`profiles.dev.${field}: `);
      expect(message).toContain(`add "${setting}" to its "unsafe" list`);
      expect(() => one({ ...profile, unsafe: [setting] })).not.toThrow();
    });

    it('takes "open_egress" only for a profile with a network', () => {
      expect(() => one({ network: 'ephemera-egress', unsafe: ['open_egress'] })).not.toThrow();
      expect(refusal({ network: 'none', unsafe: ['open_egress'] })).toContain('has no network');
    });

    it('says why, and lists every refusal at once', () => {
      const message = refusal({ network: 'host', user: '0:0', read_only_root: false });
      expect(message).toContain(`profiles.dev.network: network "host" shares the host's network stack`);
      expect(message).toContain('profiles.dev.user: user "0:0" runs as root (uid or gid 0)');
      expect(message).toContain(
        "profiles.dev.read_only_root: read_only_root false lets a run write to the image's filesystem",
      );
      expect(() =>
        one({
          network: 'host',
          user: '0:0',
          read_only_root: false,
          unsafe: ['host_network', 'root_user', 'writable_root'],
        }),
      ).not.toThrow();
      // and only them
      for (const profile of [
        { network: 'none' },
        { network: 'bridge' },
        { network: 'ephemera-egress' },
        { network: 'hostnet' },
        { user: '1000' },
        { user: 'nobody' },
        { user: '10:10' },
        { tmpfs: { '/home/x': 'rw,noexec,nosuid,nodev,size=8m,mode=0700' } },
      ]) {
        expect(() => one(profile)).not.toThrow();
      }
    });

    it('refuses an unknown, a repeated or an unused acknowledgement', () => {
      expect(refusal({ unsafe: ['root'] })).toContain(
        'profiles.dev.unsafe.0: Invalid option: expected one of "host_network"|',
      );
      expect(refusal({ user: '0', unsafe: ['root_user', 'root_user'] })).toContain(
        'profiles.dev.unsafe.1: "root_user" is listed twice',
      );
      expect(refusal({ network: 'host', unsafe: ['host_network', 'root_user'] })).toContain(
        'profiles.dev.unsafe.1: "root_user" is acknowledged but nothing in this profile uses it: remove it',
      );
    });
  });
});
