"""Release trees for the releases module's tests: what the app user leaves, and root's record of a sealed one."""

import json
import os


def make_release(root, rid, created, complete=True, venv=None):
    """A release as the app user leaves it (with the markers and link it could plant); complete: root's record too."""
    path = root / "releases" / rid
    (path / ".pydeploy").mkdir(parents=True)
    meta = {"id": rid, "commit": rid * 2, "version": "main", "created": created}
    (path / ".pydeploy" / "release.json").write_text(json.dumps(meta))
    (path / ".pydeploy" / "complete").write_text(rid + "\n")  # planted or not, it never counts
    if venv:
        (root / "venvs" / venv).mkdir(parents=True, exist_ok=True)
        os.symlink(root / "venvs" / venv, path / ".venv")
    if complete:
        record(root, "releases", rid, {"id": rid, "meta": meta,
                                       "venv": os.path.realpath(root / "venvs" / venv) if venv else ""})
        if venv:
            record(root, "venvs", venv, {"path": os.path.realpath(root / "venvs" / venv)})
    return path


def record(root, kind, name, data):
    """Root's record, as release_seal writes it (the tests' own user stands for root: see the fixture)."""
    (root / "sealed" / kind).mkdir(parents=True, exist_ok=True)
    (root / "sealed" / kind / (name + ".json")).write_text(json.dumps(data))
