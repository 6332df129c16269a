#!/usr/bin/env bash
# Deploy the example Flask app with site.yml to a local systemd container and publish it on a loopback port.
# Usage: scripts/demo.sh   (PYDEPLOY_DEMO_PORT=8080, PYDEPLOY_DEMO_SUITE=bookworm)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$PYDEPLOY_ROOT"

port="${PYDEPLOY_DEMO_PORT:-8080}"
suite="${PYDEPLOY_DEMO_SUITE:-bookworm}"
name=pydeploy-demo

bash scripts/bootstrap.sh "$suite"
activate_venv

if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" != "true" ]; then
  docker rm -f "$name" >/dev/null 2>&1 || true
  log "starting the $name container (Debian $suite, systemd), port 127.0.0.1:$port -> 80"
  docker run -d --name "$name" --hostname "$name" \
    --cap-add SYS_ADMIN --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock --tmpfs /tmp \
    -p "127.0.0.1:$port:80" "$PYDEPLOY_IMAGE_PREFIX:$suite" /lib/systemd/systemd >/dev/null
  docker exec "$name" systemctl is-system-running --wait >/dev/null 2>&1 || true
fi

log "publishing the example app as a git repository in the container"
bash scripts/example-repo.sh flask_hello >/dev/null
ansible-playbook -i inventories/local examples/publish.yml
log "ansible-playbook -i inventories/local site.yml"
ansible-playbook -i inventories/local site.yml

url="http://127.0.0.1:$port/"
log "the example app is served at $url"
for path in "" static/hello.txt healthz; do
  printf '  GET %s%s -> ' "$url" "$path"
  curl -fsS "$url$path"
  case "$path" in healthz) echo ;; esac
done
echo "Open $url in a browser on this machine. Stop it with: docker rm -f $name"
