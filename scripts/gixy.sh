#!/usr/bin/env bash
# gixy (PyPI gixy-ng, an nginx configuration checker) on the configurations the nginx and lb roles write, rendered on
# this machine without a host (scripts/nginx-render.yml): every finding, of any severity, fails.
# Usage: scripts/gixy.sh [RENDER_DIR]   (default: a temporary directory, removed afterwards)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$PYDEPLOY_ROOT"
activate_venv

out="${1:-}"
if [ -z "$out" ]; then
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
fi
ANSIBLE_COLLECTIONS_PATH="$PYDEPLOY_ROOT/.collections" ANSIBLE_NOCOLOR=1 \
  ansible-playbook -i localhost, scripts/nginx-render.yml -e "pydeploy_render_dir=$out" >"$out/render.log" 2>&1 \
  || { cat "$out/render.log"; exit 1; }

rc=0
# Each main configuration: the nginx role's, and each lb variant's public nginx and pool.
for conf in "$out"/nginx/etc/nginx/nginx.conf "$out"/lb-*/etc/nginx/nginx.conf "$out"/lb-*/etc/nginx/pydeploy-lb/pool.conf; do
  echo "gixy: ${conf#"$out"/}"
  # The distribution's mime.types and modules are not rendered: gixy warns that it cannot find them.
  gixy -f text "$conf" 2> >(grep -v 'File not found: .*/\(mime.types\|modules-enabled\)' >&2) || rc=1
done
exit "$rc"
