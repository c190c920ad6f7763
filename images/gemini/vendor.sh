#!/bin/sh
# Installs the Gemini CLI version the Dockerfile pins from the npm registry on this machine
# into images/gemini/vendor, which the Dockerfile copies: the image builds with no network.
set -eu
say() { printf '[images] %s\n' "$*"; }
version=$(sed -n 's/^ARG GEMINI_CLI_VERSION=//p' images/gemini/Dockerfile)
[ -n "$version" ] || { echo "images/gemini/Dockerfile has no ARG GEMINI_CLI_VERSION" >&2; exit 1; }
pkg=images/gemini/vendor/node_modules/@google/gemini-cli/package.json
if [ -f "$pkg" ] && [ "$(node -p "require('./$pkg').version")" = "$version" ]; then
  say "gemini-cli $version present in images/gemini/vendor"
else
  say "installing @google/gemini-cli@$version into images/gemini/vendor"
  rm -rf images/gemini/vendor/node_modules images/gemini/vendor/package.json images/gemini/vendor/package-lock.json
  npm install --prefix images/gemini/vendor --omit=dev --no-audit --no-fund --loglevel=error \
    "@google/gemini-cli@$version" >/dev/null
fi
