#!/bin/sh
# Sets up everything Ephemera needs on this machine; safe to run again.
#   1. npm packages (only when package-lock.json changed since the last install)
#   2. a Docker engine (a running one; else, as root on Debian, docker.io started in the background),
#      and Compose (the engine's plugin, or Debian's docker-compose)
#   3. the images the profiles use, built locally (no registry is needed)
#   4. the network model agents use, reaching nothing but the service's model gateway
#   5. gVisor (Debian's runsc) registered with the engine, for profiles with "runtime": "runsc"
# ENGINE=podman: Podman's Docker-compatible API in place of the Docker engine (2 to 4 the Podman
# way; no Compose, no service image, no gVisor: see docs/operations.md, "Podman").
set -eu
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# --- 1. Node and npm packages -------------------------------------------------
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null) || die "Node.js is not installed (need Node 20)."
[ "$node_major" -ge 20 ] || die "Node.js $node_major found; Ephemera needs Node 20 or newer."

lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp=node_modules/.ephemera-installed
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_hash" ]; then
  say "npm packages up to date"
else
  say "installing npm packages (better-sqlite3 compiles from source: about a minute)"
  npm ci --no-audit --no-fund
  echo "$lock_hash" > "$stamp"
fi

ENGINE=${ENGINE:-docker}
case $ENGINE in
  docker)
    # --- 2. Docker engine, and Compose for docker-compose.yml -------------------------
    sh scripts/ensure-docker.sh
    sh scripts/ensure-compose.sh
    # --- 3. Images ----------------------------------------------------------------
    sh scripts/build-images.sh
    # What the service's own image (Node 22) needs offline: its Node, and better-sqlite3 built for it.
    sh scripts/vendor-service.sh
    # --- 4. The model agents' network, locked down ---------------------------------------
    sh scripts/lock-egress.sh
    # --- 5. gVisor, for profiles that ask for it ----------------------------------------
    sh scripts/ensure-runsc.sh
    ;;
  podman)
    sh scripts/setup-podman.sh
    say "Podman: no Compose file, service image or gVisor set up (docs/operations.md, \"Podman\")"
    ;;
  *) die "ENGINE=$ENGINE: say docker or podman" ;;
esac

# The transcripts live here: private to the user the service runs as.
mkdir -p data && chmod 700 data
say "ready"
