#!/bin/sh
# Podman's part of set-up (ENGINE=podman npm run setup; and npm run check, for the `podman` test
# project): its API socket, the images built into its store, its locked egress network.
set -eu
cd "$(dirname "$0")/.."
sh scripts/ensure-podman.sh
DOCKER=podman sh scripts/build-images.sh
ENGINE=podman sh scripts/lock-egress.sh
