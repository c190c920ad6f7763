# Sourced by the scripts that make images without a registry (build-images.sh,
# replica-images.sh): a root filesystem from this machine's own files, made an image with
# `docker import`. The caller defines say() and die(); DOCKER names the engine's command
# (docker, or podman: the same words).
DOCKER=${DOCKER:-docker}

have_image() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

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

# Copies programs or libraries ($2...) into the root filesystem $1 at the same paths, with
# the shared libraries they link to, at the paths the loader looks for them.
copy_with_libs() { # root file...
  root=$1; shift
  for f in "$@"; do
    mkdir -p "$root$(dirname "$f")"
    cp -L "$f" "$root$f"
    for lib in $(ldd "$f" 2>/dev/null | awk '/=>/ {print $3} !/=>/ && /^\t\// {print $1}'); do
      [ -e "$root$lib" ] && continue
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    done
  done
}

import_rootfs() { # dir image [docker import -c change...]
  dir=$1 img=$2; shift 2
  tar -C "$dir" -c . | "$DOCKER" import -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin' "$@" - "$img" >/dev/null
}
