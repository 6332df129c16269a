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
# The importer lints without the collection's dependencies installed (Galaxy shows the same warnings), so it cannot
# resolve the modules of the collections galaxy.yml depends on, and the syntax check of a playbook whose module_defaults
# name such a collection's action group (the cloud playbooks) ends in an internal error. Those warnings are allowed:
# the first by collection name, the second only for a playbook that passes --syntax-check here, where the dependencies
# are installed. Anything else it warns of, or an error, fails the check.
deps_pattern="$(python - <<'PY'
import yaml
deps = yaml.safe_load(open("galaxy.yml"))["dependencies"]
print("|".join(name.replace(".", "\\.") for name in deps))
PY
)"
problems="$(grep -E 'ERROR|WARNING' <<<"$out" | grep -Ev "couldn't resolve module/action '($deps_pattern)\." || true)"
syntax_error="^WARNING: (playbooks/[a-z0-9_]+\.yml):1: internal-error: Unexpected error code 4 from execution of: ansible-playbook --syntax-check"
while IFS= read -r line; do
  [[ "$line" =~ $syntax_error ]] || continue
  if ansible-playbook -i localhost, --syntax-check "${BASH_REMATCH[1]}" >/dev/null 2>&1; then
    problems="$(grep -vxF -- "$line" <<<"$problems" || true)"
  fi
done <<<"$problems"
if [ -n "$problems" ] || ! grep -q "Importer processing completed successfully" <<<"$out"; then
  echo "$out"
  exit 1
fi
log "galaxy-importer: $(tail -1 <<<"$out")"
