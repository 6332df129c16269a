#!/usr/bin/env bash
# Prepare this machine for the demo and the tests: tool venv, the .collections/ link that makes the checkout
# importable as pydeploy.web, Docker engine, test images.
# Usage: scripts/bootstrap.sh [SUITE...]   (default: bookworm bullseye trixie)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cd "$PYDEPLOY_ROOT"
apt_install git curl ca-certificates
ensure_venv
ensure_collection_link
ensure_docker
mkdir -p "$PYDEPLOY_CACHE/apt"
for d in molecule/*/; do [ -f "$d/molecule.yml" ] || continue; for s in bookworm bullseye trixie; do mkdir -p "$PYDEPLOY_CACHE/apt/$(basename "$d")-$s/partial"; done; done
suites=("$@")
[ "${#suites[@]}" -gt 0 ] || suites=(bookworm bullseye trixie)
for s in "${suites[@]}"; do ensure_image "$s"; done
