"""Lockfiles: uv.lock and poetry.lock decide what goes into the virtualenv; a uv.lock out of date stops the deploy.

Runs on Debian 12 after test_host_safety.py. The example app is committed with a pyproject.toml and a lock from
lockfiles/ (flask locked at 3.0.3 while pyproject.toml allows any flask >= 3.0, pytest in the dev group) and deployed
with playbooks/deploy.yml, which installs with the uv the python role put on the host when site.yml converged.
"""

import json
import os
from pathlib import Path

import pytest
import yaml
from pydeploy_testlib import APP, PROJECT, http, live_release, playbook, publish_commit

pytestmark = pytest.mark.skipif(os.environ.get("MOLECULE_DISTRO", "bookworm") != "bookworm", reason="Debian 12 only")

LOCKS = Path(__file__).with_name("lockfiles")
BASE = {"app_env": {"GREETING": "Bonjour"}}
UV = "/opt/pydeploy/uv/bin/uv"
VERSIONS = r"""
import importlib.metadata as m, json, sys
found = {}
for name in sys.argv[1:]:
    try:
        found[name] = m.version(name)
    except m.PackageNotFoundError:
        found[name] = None
print(json.dumps(found))
"""


def project(kind, **replace):
    """The files that turn flask_hello into a project locked by uv or Poetry (flask_hello's requirements.txt stays)."""
    files = {p.name: p.read_text() for p in (LOCKS / kind).iterdir()}
    for name, (old, new) in replace.items():
        assert old in files[name], (name, old)
        files[name] = files[name].replace(old, new)
    return files


def deploy(check=True):
    return playbook("playbooks/deploy.yml", BASE, check=check)


def installed(host, venv, *names):
    """Versions of the distributions in a virtualenv (None: not installed), read by its Python as the app user."""
    out = host.check_output("runuser -u %s -- %s/bin/python -c %s " + " ".join(["%s"] * len(names)),
                            APP, venv, VERSIONS, *names)
    return json.loads(out)


def built_from(host, release):
    return json.loads(host.file(f"{release}/.pydeploy/release.json").content_string)["dependencies"]


def test_uv_is_pinned_and_the_app_user_cannot_change_it(host):
    want = yaml.safe_load((PROJECT / "roles/python/defaults/main.yml").read_text())["python_uv_version"]
    uv = host.file(UV)
    assert uv.user == "root" and (uv.mode & 0o022) == 0
    assert host.check_output("runuser -u %s -- %s --version", APP, UV).split()[:2] == ["uv", want]
    for attempt in (f"touch {UV}", "touch /opt/pydeploy/uv/bin/x", f"touch /srv/{APP}/venvs/x"):
        assert host.run("runuser -u %s -- sh -c %s", APP, attempt).rc != 0, attempt


def test_uv_lock_decides_the_virtualenv(host):
    commit = publish_commit(version="uv-lock", edits=project("uv"))
    deploy()
    release = live_release(host)
    assert os.path.basename(release).startswith(commit[:12])
    assert built_from(host, release)["file"] == "uv.lock"  # over flask_hello's requirements.txt
    assert built_from(host, release)["installer"].startswith("uv ")
    venv = host.file(f"{release}/.venv").linked_to
    assert os.path.basename(venv).startswith("lock-")
    versions = installed(host, venv, "flask", "pytest", "gunicorn")
    assert versions["flask"] == "3.0.3"  # the locked version; pyproject.toml alone would resolve to a newer flask
    assert versions["pytest"] is None  # the dev group is not installed
    assert versions["gunicorn"]  # the server goes into the same virtualenv
    record = host.file(f"{venv}/.pydeploy-requirements.txt").content_string
    assert "flask==3.0.3" in record and "--hash=sha256:" in record
    # Installed as the app user, from the app's own cache, with bytecode compiled (the sealed venv is read-only).
    cache = host.file(f"/srv/{APP}/.cache/uv")
    assert cache.is_directory and cache.user == APP
    assert host.run("find %s -path '*/flask/__pycache__/app.*.pyc' -print -quit", venv).stdout.strip()
    assert "(flask_hello uv-lock)" in http(host, "/")["body"]


def test_a_uv_lock_out_of_date_stops_the_deploy_and_the_live_release_serves(host):
    live = live_release(host)
    page = http(host, "/")["body"]
    # A new dependency in pyproject.toml, the lock left as it was.
    publish_commit(version="uv-stale", edits=project(
        "uv", **{"pyproject.toml": ('dependencies = ["flask>=3.0"]', 'dependencies = ["flask>=3.0", "six"]')}))
    rc, out = deploy(check=False)
    assert rc != 0
    assert "The lockfile at `uv.lock` needs to be updated" in out, out[-3000:]
    assert "the live release keeps serving" in out
    assert live_release(host) == live
    assert http(host, "/")["body"] == page


def test_poetry_lock_decides_the_virtualenv(host):
    publish_commit(version="poetry-lock", edits=project("poetry"))
    deploy()
    release = live_release(host)
    assert built_from(host, release)["file"] == "poetry.lock"
    venv = host.file(f"{release}/.venv").linked_to
    versions = installed(host, venv, "flask", "click", "pytest", "gunicorn")
    # Poetry locked flask 3.0.3 and, for every Python the project allows (>= 3.9), click 8.1.8; a resolver for this
    # host's Python 3.11 (or uv.lock above) picks a newer click.
    assert versions["flask"] == "3.0.3"
    assert versions["click"] == "8.1.8"
    assert versions["pytest"] is None
    assert versions["gunicorn"]
    assert "--hash=sha256:" in host.file(f"{venv}/.pydeploy-requirements.txt").content_string
    assert "(flask_hello poetry-lock)" in http(host, "/")["body"]
