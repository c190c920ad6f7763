#!/bin/sh
# Puts into images/claude/vendor/ what images/claude/Dockerfile copies into the image, so the
# image builds with no network access: the Claude Code CLI pinned by TAG in image.env,
# installed from the npm registry (only its linux-x64 glibc native binary is kept), and the
# shared libraries that binary links to, for a base image that has no libc (busybox).
# Run from anywhere; fast when vendor/ already holds this version.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/image.env"
version=${TAG##*:}
vendor=$here/vendor
stamp=$vendor/.installed
stamp_value="$version linux-x64-glibc bash"   # change the second part when the layout changes
say() { printf '[claude vendor] %s\n' "$*"; }
die() { printf '[claude vendor] ERROR: %s\n' "$*" >&2; exit 1; }

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$stamp_value" ] && [ -x "$vendor/claude" ] && [ -x "$vendor/sysroot/bin/bash" ]; then
  say "claude-code $version present"
  exit 0
fi

say "installing @anthropic-ai/claude-code@$version (linux-x64, glibc) from the npm registry"
rm -rf "$vendor/npm" "$vendor/claude" "$vendor/sysroot" "$stamp"
mkdir -p "$vendor"
# --ignore-scripts: the wrapper's postinstall only copies the native binary over its bin/ stub;
# we take the binary from the platform package ourselves. --os/--cpu/--libc: only linux-x64 glibc.
log=$vendor/npm-install.log
npm install --prefix "$vendor/npm" --no-save --no-package-lock --ignore-scripts --omit=dev \
  --no-audit --no-fund --loglevel=error --os=linux --cpu=x64 --libc=glibc \
  "@anthropic-ai/claude-code@$version" >"$log" 2>&1 \
  || { cat "$log" >&2; die "npm install @anthropic-ai/claude-code@$version failed"; }
rm -f "$log"
pkg=$vendor/npm/node_modules/@anthropic-ai/claude-code-linux-x64
[ -f "$pkg/package.json" ] || die "the npm install has no @anthropic-ai/claude-code-linux-x64"
got=$(node -p "require('$pkg/package.json').version")
[ "$got" = "$version" ] || die "claude-code-linux-x64 $got installed, want $version"
mv "$pkg/claude" "$vendor/claude"
chmod 0755 "$vendor/claude"
rm -rf "$vendor/npm"

# A sysroot for a base with no libc (busybox): the shared libraries the binary links to
# (libc, libm, librt, libpthread, libdl and the loader), and bash, which the CLI's Bash
# tool needs ("No suitable shell found" with only busybox sh), with its own libraries.
# The Dockerfile copies each file only where the base lacks it: a Debian base keeps its own.
bash_bin=$(command -v bash) || die "bash is needed on this machine (the image's Bash tool uses it)"
mkdir -p "$vendor/sysroot/bin"
cp -L "$bash_bin" "$vendor/sysroot/bin/bash"
for lib in $( { ldd "$vendor/claude"; ldd "$bash_bin"; } | awk '/=>/ {print $3} !/=>/ && /^\t\// {print $1}' | sort -u); do
  mkdir -p "$vendor/sysroot$(dirname "$lib")"
  cp -L "$lib" "$vendor/sysroot$lib"
done

actual=$("$vendor/claude" --version 2>/dev/null | awk '{print $1}')
[ "$actual" = "$version" ] || die "vendor/claude --version says '$actual', want $version"
echo "$stamp_value" >"$stamp"
say "claude-code $version in $vendor ($(du -sh "$vendor" | cut -f1))"
