#!/bin/sh
# Runs Claude Code with our arguments, after installing into the writable HOME (a tmpfs) what
# the service put in /ephemera/claude before start:
#   token                the run's API token: exported as ANTHROPIC_API_KEY for this process
#                        (and so for the CLI's tool subprocesses), never a container env var
#   settings.json        copied to $HOME/.claude/settings.json
#   sessions/<uuid>.jsonl  linked as $HOME/.claude/projects/<cwd, each non-alphanumeric char
#                        replaced by ->/<uuid>.jsonl, for `--resume <uuid>`; the CLI reads it and
#                        does not need to write it (appending to a read-only file fails silently)
set -eu
in=/ephemera/claude
mkdir -p "$HOME/.claude"
if [ -f "$in/token" ]; then
  ANTHROPIC_API_KEY=$(cat "$in/token")
  export ANTHROPIC_API_KEY
fi
if [ -f "$in/settings.json" ]; then
  cp "$in/settings.json" "$HOME/.claude/settings.json"
  chmod 0600 "$HOME/.claude/settings.json"
fi
if [ -d "$in/sessions" ]; then
  project=$HOME/.claude/projects/$(pwd | sed 's/[^A-Za-z0-9]/-/g')
  mkdir -p "$project"
  for f in "$in"/sessions/*.jsonl; do
    if [ -f "$f" ]; then ln -sf "$f" "$project/"; fi
  done
fi
exec /usr/local/bin/claude "$@"
