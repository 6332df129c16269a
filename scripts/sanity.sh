#!/usr/bin/env bash
# Run ansible-test sanity on the collection, with no ignore file.
# Usage: scripts/sanity.sh [TEST...]   e.g. scripts/sanity.sh pep8 validate-modules   (default: every test)
# ansible-test needs the collection at a path ending in ansible_collections/pydeploy/web: this copies what git
# would commit (tracked files and new, not ignored ones) to .cache/sanity/ansible_collections/pydeploy/web and
# runs there, in ansible-test's own venvs (--venv; cached in ~/.ansible/test/venv, so a re-run takes about a
# minute). Needs no network once the venvs exist. PYDEPLOY_SANITY_ARGS adds ansible-test options (e.g. -v).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$PYDEPLOY_ROOT"

start=$(date +%s)
ensure_venv
# Without shellcheck, ansible-test skips its shellcheck test with a warning.
command -v shellcheck >/dev/null || apt_install shellcheck || log "no shellcheck: ansible-test will skip that test"
activate_venv
ensure_get_pip

tree="$PYDEPLOY_ROOT/.cache/sanity/ansible_collections/pydeploy/web"
collection_tree "$tree"
tests=()
for t in "$@"; do tests+=(--test "$t"); done
cd "$tree"
# Without this, ansible-test would find the checkout's git repository above the copy and see no files.
export ANSIBLE_TEST_CONTENT_ROOT="$tree"
log "ansible-test sanity --venv --python 3.11 ${tests[*]}"
# shellcheck disable=SC2086  # word splitting of PYDEPLOY_SANITY_ARGS is wanted
ansible-test sanity --venv --python 3.11 --color no ${PYDEPLOY_SANITY_ARGS:-} "${tests[@]}"
log "sanity passed in $(( $(date +%s) - start )) s"
