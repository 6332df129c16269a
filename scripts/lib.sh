#!/usr/bin/env bash
# Shared helpers for the bootstrap, demo, test and bench scripts.
# Everything here is idempotent: a second call finds the work done and returns.
set -euo pipefail

PYDEPLOY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYDEPLOY_VENV="${PYDEPLOY_VENV:-$PYDEPLOY_ROOT/.venv}"
PYDEPLOY_CACHE="${PYDEPLOY_CACHE:-/var/cache/pydeploy-test}"
PYDEPLOY_IMAGE_PREFIX="${PYDEPLOY_IMAGE_PREFIX:-pydeploy/debian}"
export PYDEPLOY_ROOT PYDEPLOY_VENV PYDEPLOY_CACHE PYDEPLOY_IMAGE_PREFIX

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

apt_install() {
  # apt_install PKG... : install Debian packages on this machine when missing.
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then echo "need root to install ${missing[*]}" >&2; return 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_venv() {
  local stamp="$PYDEPLOY_VENV/.requirements.sha256"
  local want
  want="$(sha256sum "$PYDEPLOY_ROOT/scripts/requirements-dev.txt" | cut -d' ' -f1)"
  if [ -x "$PYDEPLOY_VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  log "creating tool venv in $PYDEPLOY_VENV"
  python3 -m venv "$PYDEPLOY_VENV"
  "$PYDEPLOY_VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip
  "$PYDEPLOY_VENV/bin/pip" install -q --disable-pip-version-check -r "$PYDEPLOY_ROOT/scripts/requirements-dev.txt"
  echo "$want" >"$stamp"
}

ensure_docker() {
  if docker info >/dev/null 2>&1; then return 0; fi
  command -v dockerd >/dev/null 2>&1 || apt_install docker.io
  command -v docker >/dev/null 2>&1 || apt_install docker.io
  if ! docker info >/dev/null 2>&1; then
    log "starting dockerd"
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      systemctl start docker
    else
      mkdir -p /var/log
      nohup dockerd >/var/log/pydeploy-dockerd.log 2>&1 &
    fi
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  fi
  docker info >/dev/null 2>&1 || { echo "Docker engine did not come up; see /var/log/pydeploy-dockerd.log" >&2; return 1; }
}

# ensure_image SUITE : a systemd-enabled Debian image built from the Debian archive, cached by tag.
ensure_image() {
  local suite="$1" tag="$PYDEPLOY_IMAGE_PREFIX:$1"
  if docker image inspect "$tag" >/dev/null 2>&1; then return 0; fi
  apt_install debootstrap
  local dir
  dir="$(mktemp -d "/var/tmp/pydeploy-rootfs-$suite.XXXXXX")"
  log "debootstrap $suite (about a minute)"
  debootstrap --variant=minbase \
    --include=systemd,systemd-sysv,dbus,python3,sudo,ca-certificates \
    "$suite" "$dir" "${PYDEPLOY_DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$dir.log" 2>&1 \
    || { tail -20 "$dir.log" >&2; return 1; }
  # Trust the same CAs as this machine (a TLS-inspecting proxy is common).
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$dir/usr/local/share/ca-certificates/"
    chroot "$dir" update-ca-certificates >/dev/null 2>&1
  fi
  # A container has no console to log in on, and nothing should try to set the clock.
  chroot "$dir" systemctl mask getty@tty1.service serial-getty@console.service \
    systemd-timesyncd.service systemd-networkd-wait-online.service >/dev/null 2>&1 || true
  rm -rf "$dir/var/cache/apt/archives/"*.deb
  tar -C "$dir" -c . | docker import -c 'CMD ["/lib/systemd/systemd"]' -c 'ENV container=docker' - "$tag" >/dev/null
  rm -rf "$dir" "$dir.log"
  log "built image $tag"
}

# ensure_collection_link : make the checkout importable as pydeploy.web. ansible.cfg and the Molecule base
# config put .collections/ on the collections path; the link is made here, not committed, so that
# ansible-test, ansible-lint and the built tarball never see a symlink loop.
ensure_collection_link() {
  local link="$PYDEPLOY_ROOT/.collections/ansible_collections/pydeploy/web"
  [ "$(readlink "$link" 2>/dev/null)" = "../../.." ] && return 0
  mkdir -p "$(dirname "$link")"
  ln -sfn ../../.. "$link"
}

activate_venv() {
  ensure_collection_link
  # shellcheck disable=SC1091
  . "$PYDEPLOY_VENV/bin/activate"
  export ANSIBLE_CONFIG="$PYDEPLOY_ROOT/ansible.cfg"
}

# collection_tree DEST : copy the checkout to DEST (a path ending in ansible_collections/pydeploy/web), as
# ansible-test needs. Copies what git would commit: tracked files plus new files that are not ignored.
# DEST/tests/output (ansible-test's results and delegation venv) is kept from one run to the next.
collection_tree() {
  local dest="$1"
  case "$dest" in */ansible_collections/pydeploy/web) ;; *) echo "collection_tree: bad DEST $dest" >&2; return 1 ;; esac
  mkdir -p "$dest/tests"
  find "$dest" -mindepth 1 -maxdepth 1 ! -name tests -exec rm -rf {} +
  find "$dest/tests" -mindepth 1 -maxdepth 1 ! -name output -exec rm -rf {} +
  (
    cd "$PYDEPLOY_ROOT"
    git ls-files -z --cached --others --exclude-standard --deduplicate |
      while IFS= read -r -d '' f; do
        if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
      done |
      tar --null --no-recursion -T - -cf -
  ) | tar -xf - -C "$dest"
}

# ensure_get_pip : ansible-test --venv bootstraps pip with a get-pip script downloaded from
# ci-files.testing.ansible.com unless ~/.ansible/test/cache/get_pip_<version>.py exists. Put the offline
# equivalent (scripts/get_pip_local.py: pip from ensurepip's wheel) there, for the version the active
# ansible-test asks for.
ensure_get_pip() {
  local version cache
  version="$(python - <<'PY'
import re, pathlib, ansible_test
src = (pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py").read_text()
match = re.search(r"pip='([0-9.]+)'", src) or re.search(r"pip_version = '([0-9.]+)'", src)
print(match.group(1) if match else "")
PY
)"
  [ -n "$version" ] || { echo "cannot find the pip version ansible-test bootstraps" >&2; return 1; }
  cache="$HOME/.ansible/test/cache/get_pip_${version//./_}.py"
  # A real get-pip script cached while online is kept; an older copy of ours is refreshed.
  if [ ! -e "$cache" ] || { grep -q '^"""Offline stand-in' "$cache" && ! cmp -s "$PYDEPLOY_ROOT/scripts/get_pip_local.py" "$cache"; }; then
    mkdir -p "$(dirname "$cache")"
    cp "$PYDEPLOY_ROOT/scripts/get_pip_local.py" "$cache"
  fi
}
