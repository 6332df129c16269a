#!/usr/bin/env bash
# Run galaxy-importer, the checks Galaxy runs on an upload, on the built collection: metadata, docs of every plugin,
# content discovery and its ansible-lint. Its ansible-test step needs container images from a registry, which this
# machine cannot reach; scripts/sanity.sh runs ansible-test sanity instead.
# Usage: scripts/galaxy-importer.sh      (venv and build under .cache/galaxy-importer/)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$PYDEPLOY_ROOT"
activate_venv

base="$PYDEPLOY_ROOT/.cache/galaxy-importer"
venv="$base/venv"
version="${PYDEPLOY_GALAXY_IMPORTER:-galaxy-importer==0.4.44}"
if ! "$venv/bin/python" -m pip show -q galaxy-importer >/dev/null 2>&1; then
  log "galaxy-importer venv in $venv ($version)"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "$version"
fi
rm -rf "$base/build"
mkdir -p "$base/build"
ansible-galaxy collection build --output-path "$base/build" --force >/dev/null
printf '[galaxy-importer]\nRUN_ANSIBLE_TEST = False\nRUN_ANSIBLE_LINT = True\n' >"$base/galaxy-importer.cfg"
# It writes importer_result.json into the working directory: run it in .cache/.
out="$(cd "$base" && PATH="$venv/bin:$PATH" GALAXY_IMPORTER_CONFIG="$base/galaxy-importer.cfg" \
  "$venv/bin/python" -m galaxy_importer.main "$base"/build/pydeploy-web-*.tar.gz 2>&1)" || { echo "$out"; exit 1; }
# The importer lints without the collection's dependencies installed, so it cannot resolve community.crypto's modules
# (a warning Galaxy shows too). Anything else it warns of, or an error, fails the check.
problems="$(grep -E 'ERROR|WARNING' <<<"$out" | grep -v "couldn't resolve module/action 'community\.crypto\." || true)"
if [ -n "$problems" ] || ! grep -q "Importer processing completed successfully" <<<"$out"; then
  echo "$out"
  exit 1
fi
log "galaxy-importer: $(tail -1 <<<"$out")"
