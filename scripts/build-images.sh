#!/bin/sh
# Builds the images Ephemera's profiles use. No registry is needed: when a base image
# cannot be pulled, it is made from this machine's own files with `docker import`.
#   ephemera-base/busybox:local  static busybox only (about 2 MB)
#   ephemera-base/node:local     this machine's node + npm + the libraries node links to + busybox
#   ephemera/shell:<version>     the `shell` profile's image (images/shell/Dockerfile)
#   ephemera/gemini:<cli version> the `gemini` profile's image (images/gemini/Dockerfile)
set -eu
cd "$(dirname "$0")/.."
say() { printf '[images] %s\n' "$*"; }
die() { printf '[images] ERROR: %s\n' "$*" >&2; exit 1; }

export DOCKER_BUILDKIT=0   # the legacy builder works offline with a local base image

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

busybox_bin() {
  for b in /bin/busybox /usr/bin/busybox; do
    if [ -x "$b" ] && file_is_static "$b"; then echo "$b"; return 0; fi
  done
  return 1
}
file_is_static() { ! ldd "$1" >/dev/null 2>&1; }

ensure_busybox() {
  if ! busybox_bin >/dev/null; then
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
      || die "a static busybox is needed to make base images: install Debian's busybox-static"
    say "installing Debian's busybox-static" >&2   # stdout is the path this function returns
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null \
      || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null; }
  fi
  busybox_bin || die "busybox-static was installed but no static busybox was found"
}

# Lays out a root filesystem with busybox and its applet links in $1.
busybox_rootfs() {
  root=$1 bb=$(ensure_busybox)
  mkdir -p "$root/bin" "$root/usr/bin" "$root/tmp" "$root/etc" "$root/workspace"
  chmod 1777 "$root/tmp"
  cp "$bb" "$root/bin/busybox"
  for applet in $("$bb" --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
  done
  ln -s /bin/busybox "$root/usr/bin/env"   # for #!/usr/bin/env shebangs
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' >"$root/etc/group"
}

import_rootfs() { # dir image
  tar -C "$1" -c . | docker import -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin' - "$2" >/dev/null
}

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

# Builds an image from images/<name>/Dockerfile, from the public base when it can be
# pulled and from the local one otherwise.
build_profile_image() { # name tag public_base local_base
  name=$1 tag=$2 public=$3 local=$4
  if have_image "$public" || timeout 30 docker pull -q "$public" >/dev/null 2>&1; then base=$public; else base=$local; fi
  say "building $tag (BASE=$base)"
  log=$(mktemp)
  docker build --build-arg BASE="$base" -t "$tag" "images/$name" >"$log" 2>&1 || { cat "$log" >&2; die "building $tag failed"; }
  rm -f "$log"
}

# The Gemini CLI is installed from the npm registry on this machine and copied into the
# image, so the image builds without network access inside the build.
vendor_gemini_cli() {
  version=$(sed -n 's/^ARG GEMINI_CLI_VERSION=//p' images/gemini/Dockerfile)
  [ -n "$version" ] || die "images/gemini/Dockerfile has no ARG GEMINI_CLI_VERSION"
  pkg=images/gemini/vendor/node_modules/@google/gemini-cli/package.json
  if [ -f "$pkg" ] && [ "$(node -p "require('./$pkg').version")" = "$version" ]; then
    say "gemini-cli $version present in images/gemini/vendor"
  else
    say "installing @google/gemini-cli@$version into images/gemini/vendor"
    rm -rf images/gemini/vendor/node_modules images/gemini/vendor/package.json images/gemini/vendor/package-lock.json
    npm install --prefix images/gemini/vendor --omit=dev --no-audit --no-fund --loglevel=error \
      "@google/gemini-cli@$version" >/dev/null
  fi
  GEMINI_TAG=ephemera/gemini:$version
}


make_busybox_base
make_node_base
build_profile_image shell ephemera/shell:0.1 busybox:1.36 ephemera-base/busybox:local
vendor_gemini_cli
build_profile_image gemini "$GEMINI_TAG" node:20-bookworm-slim ephemera-base/node:local
say "done"
