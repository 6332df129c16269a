#!/usr/bin/env bash
# Test the ansible-core range that meta/runtime.yml claims (requires_ansible).
# Usage: scripts/version-matrix.sh [--syntax-only] [MINOR...]   e.g. scripts/version-matrix.sh 2.16 2.19
# For each ansible-core minor version (default: every one from requires_ansible's lower bound up to 2.19; the newest
# patch release pip finds for this Python), in a venv under .cache/version-matrix/<minor>/:
#   1. ansible-playbook --syntax-check of every playbook in playbooks/ (pydeploy.web.<name>), with this collection and
#      the collections galaxy.yml depends on (community.crypto 2.x, amazon.aws, community.digitalocean, from the
#      ansible 11 package) on the collections path;
#   2. unless --syntax-only: that version's `ansible-test sanity --venv --python 3.11`, every test.
# The venvs are kept, so a re-run installs nothing. `scripts/test.sh` runs --syntax-only (seconds per version);
# the full matrix takes several minutes per version and is run by hand (README, "What is tested").
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$PYDEPLOY_ROOT"

syntax_only=""
if [ "${1:-}" = "--syntax-only" ]; then syntax_only=1; shift; fi
minors=("$@")
if [ "${#minors[@]}" -eq 0 ]; then
  lower="$(sed -n 's/^requires_ansible: *"*>=\([0-9]*\.[0-9]*\).*/\1/p' meta/runtime.yml)"
  for m in 15 16 17 18 19; do
    [ "${lower#2.}" -le "$m" ] 2>/dev/null && minors+=("2.$m")
  done
fi
[ "${#minors[@]}" -gt 0 ] || { echo "no ansible-core version to test" >&2; exit 1; }

base="$PYDEPLOY_ROOT/.cache/version-matrix"
deps="$base/deps"
python="${PYDEPLOY_MATRIX_PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3
# community.crypto 2.x runs on every ansible-core from 2.9 on; 3.x (in the ansible 12 package) needs 2.17.
# The same package brings amazon.aws 9.x and community.digitalocean 1.27.
crypto_from="${PYDEPLOY_MATRIX_ANSIBLE_PACKAGE:-ansible==11.13.0}"
dep_collections=(community/crypto amazon/aws community/digitalocean)
if [ -z "$syntax_only" ] && ! command -v shellcheck >/dev/null; then
  apt_install shellcheck || log "no shellcheck: ansible-test will skip that test"
fi

ensure_deps() {
  local c missing=""
  for c in "${dep_collections[@]}"; do [ -f "$deps/ansible_collections/$c/MANIFEST.json" ] || missing=1; done
  [ -z "$missing" ] && return 0
  log "${dep_collections[*]} from the $crypto_from package (PyPI)"
  mkdir -p "$base/wheels"
  "$python" -m pip download -q --disable-pip-version-check --no-deps -d "$base/wheels" "$crypto_from"
  "$python" - "$base/wheels" "$deps" "${dep_collections[@]}" <<'PY'
import glob, sys, zipfile
wheel = sorted(glob.glob(sys.argv[1] + "/ansible-*.whl"))[-1]
prefixes = tuple("ansible_collections/%s/" % c for c in sys.argv[3:])
with zipfile.ZipFile(wheel) as zf:
    zf.extractall(sys.argv[2], [n for n in zf.namelist() if n.startswith(prefixes)])
PY
}

ensure_core_venv() {
  # ensure_core_venv MINOR : a venv with the newest ansible-core MINOR.x; prints nothing, sets $venv.
  venv="$base/$1/venv"
  if [ -x "$venv/bin/ansible-playbook" ]; then return 0; fi
  log "venv with ansible-core $1.* in $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "ansible-core~=$1.0"
}

ensure_deps
results=()
failed=0
for minor in "${minors[@]}"; do
  ensure_core_venv "$minor"
  version="$("$venv/bin/python" -c 'import ansible; print(ansible.__version__)')"
  tree="$base/$minor/ansible_collections/pydeploy/web"
  collection_tree "$tree"
  t0=$(date +%s)
  syntax=PASS
  for playbook in playbooks/*.yml; do
    playbook="pydeploy.web.$(basename "$playbook" .yml)"
    # Run outside the checkout so its ansible.cfg (made for running from a checkout) does not apply.
    if ! (cd "$base/$minor" && env -u ANSIBLE_CONFIG ANSIBLE_COLLECTIONS_PATH="$base/$minor:$deps" \
          ANSIBLE_HOME="$base/$minor/.ansible" "$venv/bin/ansible-playbook" -i localhost, --syntax-check "$playbook" \
          >"$base/$minor/syntax.log" 2>&1); then
      syntax=FAIL
      echo "ansible-core $version: --syntax-check $playbook failed:" >&2
      tail -20 "$base/$minor/syntax.log" >&2
    fi
  done
  line="ansible-core $version: syntax-check $syntax ($(( $(date +%s) - t0 )) s)"
  [ "$syntax" = PASS ] || failed=1
  if [ -z "$syntax_only" ]; then
    t0=$(date +%s)
    sanity=PASS
    # The PATH puts this version's ansible-test (and python, for ensure_get_pip) first.
    if ! (PATH="$venv/bin:$PATH" ensure_get_pip &&
          cd "$tree" && PATH="$venv/bin:$PATH" ANSIBLE_TEST_CONTENT_ROOT="$tree" \
          ansible-test sanity --venv --python 3.11 --color no >"$base/$minor/sanity.log" 2>&1); then
      sanity=FAIL
      failed=1
      grep -E '^(ERROR|FATAL)' "$base/$minor/sanity.log" | head -40 >&2 || true
    fi
    line="$line, sanity $sanity ($(( $(date +%s) - t0 )) s; log: .cache/version-matrix/$minor/sanity.log)"
  fi
  log "$line"
  results+=("$line")
done

printf '%s\n' "${results[@]}"
exit "$failed"
