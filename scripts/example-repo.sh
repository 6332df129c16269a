#!/usr/bin/env bash
# Commit an example app into a bare git repository on this machine, for the demo and the tests.
# Usage: scripts/example-repo.sh NAME [SRC_DIR] [MESSAGE]
#   NAME     repository name (.cache/examples/NAME.git, or $PYDEPLOY_EXAMPLES_DIR/NAME.git)
#   SRC_DIR  folder whose content becomes the new tip of main (default: examples/NAME)
# Prints the commit id. A second call with unchanged content adds no commit.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

name="$1"; src="${2:-$PYDEPLOY_ROOT/examples/$name}"; msg="${3:-Update $name}"
bare="${PYDEPLOY_EXAMPLES_DIR:-$PYDEPLOY_ROOT/.cache/examples}/$name.git"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
[ -d "$bare" ] || git init --quiet --bare --initial-branch=main "$bare"
git -C "$work" init --quiet --initial-branch=main
if git -C "$work" fetch --quiet "$bare" main 2>/dev/null; then
  git -C "$work" reset --quiet --soft FETCH_HEAD
fi
cp -a "$src/." "$work/"
find "$work" -name __pycache__ -prune -exec rm -rf {} +
git -C "$work" add --all
if ! git -C "$work" diff --cached --quiet 2>/dev/null || ! git -C "$work" rev-parse -q --verify HEAD >/dev/null; then
  git -C "$work" -c user.name=pydeploy -c user.email=pydeploy@localhost commit --quiet -m "$msg"
  git -C "$work" push --quiet "$bare" HEAD:main
fi
git -C "$bare" rev-parse main
