import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack } from 'tar-stream';
import { afterEach, describe, expect, it } from 'vitest';
import { ENTRYPOINT, FILES_PREFIX, plan, shellWords } from '../../images/gemini/go-line.mjs';
import { untar } from '../../images/gemini/untar.mjs';
import { tarOf } from '../../src/runner/docker/docker-container.js';
import { goLine } from '../../src/runner/protocol/go-line.js';
import { workspaceShim } from '../../src/runner/protocol/workspace.js';

/** What a go line asks the gate to exec, read as the gemini image's gate reads it. */
const wordsOf = (line: string) => {
  const withFiles = FILES_PREFIX.exec(line.trimEnd());
  const command = withFiles ? withFiles[2]! : line.trimEnd().replace(/^exec /, '');
  return shellWords(command);
};

const bufferOf = async (stream: AsyncIterable<Buffer>) => {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c);
  return Buffer.concat(chunks);
};

// The gemini image's gate (images/gemini/gate.mjs) reads what src/runner/protocol/go-line.ts
// writes and unpacks what docker-container.ts packs: each side checked against the other here.
describe("the gemini image's gate, against what the service writes", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('finds the files and the command in a go line with files', () => {
    const line = goLine([ENTRYPOINT, '--model', 'm'], {}, 2048)!.trimEnd();
    expect(FILES_PREFIX.exec(line)?.slice(1)).toEqual(['2048', "'/usr/local/bin/ephemera-gemini' '--model' 'm'"]);
  });

  it('reads back every word the service quoted, whatever it holds', () => {
    const argv = [ENTRYPOINT, '--prompt', `it's "quoted", $HOME, \`cmd\`, \\, ; | & * ~`, 'ünïcode', ''];
    const env = { A: 'x y', B: "q'q", C: '' };
    const words = wordsOf(goLine(argv, env, 512)!);
    expect(words).toEqual(['env', 'A=x y', "B=q'q", 'C=', ...argv]);
    expect(plan(words!)).toEqual({ env, deadline: undefined, workspace: undefined, args: argv.slice(1) });
  });

  it('recognises the workspace shim and the own deadline before the entrypoint', () => {
    const argv = [...workspaceShim('/workspace'), 'timeout', '-s', 'KILL', '65', ENTRYPOINT, '-m', 'x'];
    expect(plan(wordsOf(goLine(argv, {})!)!)).toEqual({
      env: {},
      deadline: { signal: 'KILL', seconds: 65 },
      workspace: { workdir: '/workspace' },
      args: ['-m', 'x'],
    });
  });

  it('leaves to the shell what it does not read itself', () => {
    expect(shellWords('a $HOME')).toBeUndefined();
    expect(shellWords("'not closed")).toBeUndefined();
    expect(shellWords('a;b')).toBeUndefined();
    expect(plan(['/bin/sh', '-c', 'x'])).toBeUndefined();
    expect(plan(['timeout', '-s', 'kill', '5', ENTRYPOINT])).toBeUndefined();
    expect(plan(['timeout', 'soon', ENTRYPOINT])).toBeUndefined();
  });

  it('unpacks the files the service packs, read-only', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ephemera-gate-'));
    dirs.push(root);
    const files = [
      { path: '/ephemera/gemini/settings.json', content: Buffer.from('{"a":1}'), mode: 0o644 },
      { path: '/ephemera/gemini/chats/session.json', content: Buffer.from('[]'), mode: 0o600 },
    ];
    untar(await bufferOf(tarOf(files, 1000) as unknown as AsyncIterable<Buffer>), root);
    expect(readFileSync(join(root, 'gemini/settings.json'), 'utf8')).toBe('{"a":1}');
    expect(readFileSync(join(root, 'gemini/chats/session.json'), 'utf8')).toBe('[]');
    for (const p of ['gemini/settings.json', 'gemini/chats', 'gemini']) {
      expect(statSync(join(root, p)).mode & 0o222, p).toBe(0);
    }
  });

  it('refuses an entry that would land outside its folder', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ephemera-gate-'));
    dirs.push(root);
    const tar = pack();
    tar.entry({ name: '../escaped', mode: 0o644 }, Buffer.from('x'));
    tar.finalize();
    expect(() => untar(Buffer.alloc(0), root)).not.toThrow();
    const buf = await bufferOf(tar as unknown as AsyncIterable<Buffer>);
    expect(() => untar(buf, root)).toThrow(/outside/);
  });
});
