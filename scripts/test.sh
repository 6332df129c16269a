#!/usr/bin/env bash
# Run every test: lint, ansible-test sanity, unit tests, the cloud provisioning tests against local test doubles and
# the playbooks' syntax on each supported ansible-core (one lane), beside each Molecule scenario (the default one on
# Debian 12, 11 and 13).
# Usage: scripts/test.sh [SCENARIO[:SUITE]...]   e.g. scripts/test.sh default:trixie zero_downtime
# PYDEPLOY_JOBS=N runs N scenarios at once (default 2). Logs: .cache/test-logs/.
# PYDEPLOY_SKIP_STATIC=1 skips lint, sanity and unit tests (for re-running one scenario while developing).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$PYDEPLOY_ROOT"

start=$(date +%s)
bash scripts/bootstrap.sh
activate_venv
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0

logs="$PYDEPLOY_ROOT/.cache/test-logs"
# Each lane writes its exit status here. `wait PID` cannot be trusted for it: over a 40-minute run the kernel reuses
# PIDs (pid_max is 32768 on some hosts), and bash then forgets the status it kept for the old PID.
status="$logs/status"
rm -rf "$status"
mkdir -p "$logs" "$status"

static_checks() {
  log "lint: yamllint"
  yamllint --strict .
  log "lint: ansible-lint (profile production)"
  ansible-lint --offline
  log "lint: gixy on the nginx and lb roles' nginx configurations, rendered without a host (scripts/gixy.sh)"
  bash scripts/gixy.sh
  log "changelog: antsibull-changelog lint"
  antsibull-changelog lint
  log "sanity: ansible-test sanity (scripts/sanity.sh)"
  bash scripts/sanity.sh
  log "galaxy-importer on the built collection (scripts/galaxy-importer.sh)"
  bash scripts/galaxy-importer.sh
  log "unit tests: pytest tests/"
  python -m pytest -q tests/
  log "cloud: provisioning playbooks against moto and the DigitalOcean stand-in (scripts/cloud-tests.sh)"
  bash scripts/cloud-tests.sh
  log "ansible-core range: playbook syntax checks (scripts/version-matrix.sh --syntax-only)"
  bash scripts/version-matrix.sh --syntax-only
}

# The static checks run beside the Molecule runs (they wait on no container), and fail the command like a scenario.
static_pid=""
if [ -z "${PYDEPLOY_SKIP_STATIC:-}" ]; then
  log "static checks (lint, sanity, galaxy-importer, unit and cloud tests, syntax per ansible-core), beside the Molecule runs; log: $logs/static.log"
  (
    t0=$(date +%s)
    rc=0
    static_checks >"$logs/static.log" 2>&1 || rc=$?
    echo "$rc" >"$status/static"
    [ "$rc" -eq 0 ] && echo "PASS static checks in $(( $(date +%s) - t0 )) s"
  ) &
  static_pid=$!
fi

if [ "$#" -gt 0 ]; then
  runs=("$@")
else
  # Longest first, so the two runs at a time finish close together; any new scenario joins on bookworm.
  runs=(default:bookworm zero_downtime scale_out tls default:bullseye default:trixie letsencrypt)
  for f in molecule/*/molecule.yml; do
    s="$(basename "$(dirname "$f")")"
    case " ${runs[*]} " in *" $s "*|*" $s:"*) ;; *) runs+=("$s") ;; esac
  done
fi

jobs="${PYDEPLOY_JOBS:-2}"
failed=()

# SCENARIO[:SUITE] -> the suite (bookworm when none is given).
suite_of() {
  local s="${1#*:}"
  [ "$s" = "$1" ] && s=bookworm
  echo "$s"
}

run_one() {
  local scenario="${1%%:*}" suite
  suite="$(suite_of "$1")"
  local t0; t0=$(date +%s)
  # Each run gets its own Molecule state, so one scenario can run on two suites at once.
  # and its own example repositories (tests commit to them).
  local state="$PYDEPLOY_ROOT/.cache/molecule/$scenario-$suite"
  # PYDEPLOY_RUN_ID (optional) keeps containers and apt caches apart when several checkouts test at once.
  mkdir -p "$PYDEPLOY_CACHE/apt/$scenario-$suite${PYDEPLOY_RUN_ID:--ci}/partial"
  local rc=0
  MOLECULE_DISTRO="$suite" MOLECULE_EPHEMERAL_DIRECTORY="$state" PYDEPLOY_EXAMPLES_DIR="$state/examples" \
    molecule test -s "$scenario" >"$logs/$scenario-$suite.log" 2>&1 || rc=$?
  echo "$rc" >"$status/$scenario-$suite"
  if [ "$rc" -eq 0 ]; then
    echo "PASS $scenario on $suite in $(( $(date +%s) - t0 )) s"
  else
    echo "FAIL $scenario on $suite in $(( $(date +%s) - t0 )) s (log: $logs/$scenario-$suite.log)"
    tail -60 "$logs/$scenario-$suite.log"
  fi
}

for r in "${runs[@]}"; do
  ensure_image "$(suite_of "$r")"
done

for r in "${runs[@]}"; do
  # Count the Molecule runs only: the static lane is a job of this shell too, and runs beside them.
  while [ "$(jobs -rp | grep -vcxF "${static_pid:-none}" || true)" -ge "$jobs" ]; do sleep 2; done
  log "molecule: $r"
  run_one "$r" &
  sleep 5
done
wait || true
for r in "${runs[@]}"; do
  # A missing status file (the lane died before writing it) counts as a failure.
  [ "$(cat "$status/${r%%:*}-$(suite_of "$r")" 2>/dev/null)" = 0 ] || failed+=("$r")
done
if [ -n "$static_pid" ] && [ "$(cat "$status/static" 2>/dev/null)" != 0 ]; then
  echo "FAIL static checks (log: $logs/static.log)"
  tail -80 "$logs/static.log"
  failed+=(static)
fi

log "test command finished in $(( $(date +%s) - start )) s"
echo "failed: ${failed[*]:-none} (of ${#runs[@]} Molecule runs${static_pid:+ and the static checks})"
[ "${#failed[@]}" -eq 0 ]
