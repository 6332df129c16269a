#!/usr/bin/env bash
# Provision, list, re-run, clash with and tear down EC2 instances and DigitalOcean Droplets with the playbooks and
# inventories of this checkout, against local test doubles: moto in server mode (EC2 API) and the DigitalOcean
# stand-in (tests/cloud/do_standin.py). Both listen on 127.0.0.1 at free ports; the tests' fixtures start them and
# stop them when the run ends. Every other HTTP(S) request of the runs goes to a closed local port: nothing leaves
# this machine. docs/cloud.md says what each test proves. About 3 CPU-minutes, spread over 2 cores (see docs/cloud.md).
# Usage: scripts/cloud-tests.sh [PYTEST ARGS...]   e.g. scripts/cloud-tests.sh -k digitalocean
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$PYDEPLOY_ROOT"

start=$(date +%s)
ensure_venv
activate_venv
command -v ssh-keygen >/dev/null || apt_install openssh-client
export PYDEPLOY_CLOUD_TESTS=1
# The EC2 and the DigitalOcean file run side by side (pytest-xdist), each in its file's order.
python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile tests/cloud "$@"
log "cloud tests passed in $(( $(date +%s) - start )) s"
