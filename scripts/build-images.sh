#!/bin/sh
# Builds the images Ephemera's profiles use. No registry is needed: when a base image
# cannot be pulled, it is made from this machine's own files with `docker import`.
#   ephemera-base/busybox:local  static busybox only (about 2 MB)
#   ephemera-base/node:local     this machine's node + npm + the libraries node links to + busybox
#   and every images/<name>/: its image.env names the tag and the bases; its vendor.sh, if
#   any, first fetches what the image needs from the npm registry (so that the build itself
#   needs no network); e.g. ephemera/shell:0.1, ephemera/gemini:<cli version>.
set -eu
cd "$(dirname "$0")/.."
say() { printf '[images] %s\n' "$*"; }
die() { printf '[images] ERROR: %s\n' "$*" >&2; exit 1; }

export DOCKER_BUILDKIT=0   # the legacy builder works offline with a local base image

. scripts/rootfs.sh

make_busybox_base() {
  img=ephemera-base/busybox:local
  if have_image "$img"; then say "$img present"; return; fi
  say "making $img from this machine's busybox"
  tmp=$(mktemp -d); busybox_rootfs "$tmp/root"
  import_rootfs "$tmp/root" "$img"; rm -rf "$tmp"
}

make_node_base() {
  img=ephemera-base/node:local
  if have_image "$img"; then say "$img present"; return; fi
  say "making $img from this machine's node ($(node -v))"
  tmp=$(mktemp -d); busybox_rootfs "$tmp/root"
  node_bin=$(command -v node)
  node_real=$(readlink -f "$node_bin")
  mkdir -p "$tmp/root/usr/local/bin"
  cp "$node_real" "$tmp/root/usr/local/bin/node"
  # The shared libraries node links to, at the paths the loader looks for them.
  for lib in $(ldd "$node_real" | awk '/=>/ {print $3} !/=>/ && /^\t\// {print $1}'); do
    mkdir -p "$tmp/root$(dirname "$lib")"
    cp -L "$lib" "$tmp/root$lib"
  done
  npm_root=$(npm root -g)/npm
  if [ -d "$npm_root" ]; then
    mkdir -p "$tmp/root/usr/local/lib/node_modules"
    cp -r "$npm_root" "$tmp/root/usr/local/lib/node_modules/npm"
    ln -s ../lib/node_modules/npm/bin/npm-cli.js "$tmp/root/usr/local/bin/npm"
  fi
  printf 'node:x:1000:1000:node:/home/node:/bin/sh\n' >>"$tmp/root/etc/passwd"
  printf 'node:x:1000:\n' >>"$tmp/root/etc/group"
  mkdir -p "$tmp/root/home/node"; chown 1000:1000 "$tmp/root/home/node"
  import_rootfs "$tmp/root" "$img"; rm -rf "$tmp"
}

# Builds images/<name>/ as its image.env says, from the public base when it can be pulled
# and from the local one otherwise.
build_image_dir() { # dir
  dir=$1 name=$(basename "$1")
  if [ -f "$dir/vendor.sh" ]; then sh "$dir/vendor.sh" || die "preparing $name failed"; fi
  TAG='' PUBLIC_BASE='' LOCAL_BASE=''
  . "./$dir/image.env"
  [ -n "$TAG" ] && [ -n "$PUBLIC_BASE" ] && [ -n "$LOCAL_BASE" ] || die "$dir/image.env must set TAG, PUBLIC_BASE and LOCAL_BASE"
  if have_image "$PUBLIC_BASE" || timeout 30 "$DOCKER" pull -q "$PUBLIC_BASE" >/dev/null 2>&1; then base=$PUBLIC_BASE; else base=$LOCAL_BASE; fi
  say "building $TAG (BASE=$base)"
  log=$(mktemp)
  "$DOCKER" build --build-arg BASE="$base" -t "$TAG" "$dir" >"$log" 2>&1 || { cat "$log" >&2; die "building $TAG failed"; }
  rm -f "$log"
}

make_busybox_base
make_node_base
for dir in images/*/; do
  if [ -f "$dir/image.env" ]; then build_image_dir "${dir%/}"; fi
done
say "done"
