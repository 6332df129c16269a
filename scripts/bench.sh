#!/usr/bin/env bash
# Benchmark the deployed example app and the Ansible runs on this machine (docs/performance.md).
# Usage: scripts/bench.sh [bench/run.py options]   e.g. scripts/bench.sh --keep
# Results: bench/results/latest.json and chart.png (copy them to docs/bench/ to publish).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$PYDEPLOY_ROOT"

start=$(date +%s)
bash scripts/bootstrap.sh "${PYDEPLOY_BENCH_SUITE:-bookworm}"
activate_venv
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0
python bench/run.py "$@"
log "bench finished in $(( $(date +%s) - start )) s"
