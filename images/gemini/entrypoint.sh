#!/bin/sh
# Copies what the service put in /ephemera/gemini (settings.json, .env with the API key)
# into the writable HOME where Gemini CLI looks for them, then runs the CLI with our arguments.
set -eu
mkdir -p "$HOME/.gemini"
if [ -d /ephemera/gemini ]; then
  for f in /ephemera/gemini/settings.json /ephemera/gemini/.env; do
    if [ -f "$f" ]; then cp "$f" "$HOME/.gemini/" && chmod 0600 "$HOME/.gemini/$(basename "$f")"; fi
  done
fi
# --single-threaded-gc: see the Dockerfile.
exec node --single-threaded-gc /opt/gemini-cli/node_modules/@google/gemini-cli/bundle/gemini.js "$@"
