import type { AgentProfile } from '../../../config/profiles.js';
import type { ContainerFile } from '../../runtime.js';
import type { Agent, ModelAccess, Verdict, ParsedOutput } from '../agent.js';
import { numericUid } from '../run-user.js';
import type { ClaudeOptions } from './options.js';
import { claudeSessionFile, SESSIONS_DIR } from './session-file.js';
import { ClaudeStreamParser } from './stream-parser.js';

/** What the image's entrypoint reads as the CLI's API key: the run's token, never the real key. */
const TOKEN_PATH = '/ephemera/claude/token';

const AUTH_ERROR = /Invalid API key|authentication_error|API Error: 40[13]\b/;

/**
 * Anthropic's Claude Code CLI, headless (`-p`, stream-json with partial messages, so text
 * streams as the model writes it). The prompt goes to stdin; the CLI calls the model
 * gateway (ANTHROPIC_BASE_URL) with the run's own token as its key, from a file; earlier
 * turns go in as one of its own session files, continued with `--resume`.
 */
export function claudeAgent(
  profile: AgentProfile,
  model: ModelAccess | undefined,
  keyConfigured = model !== undefined,
): Agent {
  const options = profile.options as ClaudeOptions;
  return {
    textEvent: 'delta',
    streamsStderr: false,
    prepare: ({ prompt, history, omitted, steps }) => {
      const files: ContainerFile[] = [];
      // Readable only by the user the CLI runs as: the CLI needs a key to start.
      if (model)
        files.push({ path: TOKEN_PATH, content: Buffer.from(model.token), mode: 0o400, uid: numericUid(profile.user) });
      const args = [
        ...(profile.command ?? []),
        '-p',
        '--output-format',
        'stream-json',
        '--verbose',
        '--include-partial-messages',
        '--model',
        options.model,
        '--permission-mode',
        options.permissionMode,
        ...(options.allowedTools.length > 0 ? ['--allowedTools', options.allowedTools.join(',')] : []),
        ...options.extraArgs,
      ];
      if (profile.replay === 'claude-session' && (history.length > 0 || omitted > 0)) {
        const session = claudeSessionFile(history, profile.workdir ?? '/workspace', omitted, steps);
        files.push({ path: `${SESSIONS_DIR}/${session.sessionId}.jsonl`, content: session.content, mode: 0o444 });
        args.push('--resume', session.sessionId);
      }
      return {
        command: args,
        files,
        stdin: Buffer.from(prompt, 'utf8'),
        ...(model && { env: { ANTHROPIC_BASE_URL: model.baseUrl } }),
      };
    },
    parser: () => new ClaudeStreamParser(),
    judge: (exitCode, parsed) => judgeClaude(exitCode, parsed, keyConfigured),
  };
}

/** The verdict: the CLI's own (`result.is_error`) first, then its exit. */
export function judgeClaude(exitCode: number, parsed: ParsedOutput, hasKey: boolean): Verdict {
  if (parsed.result?.status === 'error') {
    const message = parsed.result.errorMessage ?? 'the model returned an error';
    if (!AUTH_ERROR.test(message)) return { status: 'failed', error: { code: 'MODEL_ERROR', message } };
    const hint = hasKey ? '' : ': the service has no ANTHROPIC_API_KEY configured';
    return { status: 'failed', error: { code: 'AUTH_FAILED', message: `${message}${hint}` } };
  }
  if (exitCode !== 0)
    return { status: 'failed', error: { code: 'AGENT_CRASHED', message: `Claude Code exited with code ${exitCode}` } };
  if (!parsed.result)
    return { status: 'failed', error: { code: 'AGENT_CRASHED', message: 'Claude Code ended without a result' } };
  return { status: 'succeeded', error: null };
}
