"""The built collection ships the roles, playbooks and plugins, and no test content."""

import os
import subprocess
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_build_tarball_contents(tmp_path):
    subprocess.run(["ansible-galaxy", "collection", "build", str(ROOT), "--output-path", str(tmp_path)],
                   check=True, capture_output=True)
    (tarball,) = tmp_path.glob("pydeploy-web-*.tar.gz")
    names = tarfile.open(tarball).getnames()
    for must in ("roles/app/tasks/main.yml", "roles/gunicorn/templates/etc/systemd/system/gunicorn.service.j2",
                 "roles/nginx/meta/argument_specs.yml", "roles/python/defaults/main.yml",
                 "playbooks/site.yml", "playbooks/deploy.yml", "playbooks/rollback.yml",
                 "plugins/modules/releases.py", "meta/runtime.yml", "README.md"):
        assert must in names, must
    for name in names:
        top = name.split("/")[0]
        assert top not in {"molecule", "tests", "scripts", ".ci", ".venv", ".cache", ".collections", "examples",
                           "inventories", ".config"}, name


def test_installed_tarball_runs_as_pydeploy_web(tmp_path):
    """What a user does in an infra repo: install the built tarball, then run pydeploy.web.site."""
    subprocess.run(["ansible-galaxy", "collection", "build", str(ROOT), "--output-path", str(tmp_path)],
                   check=True, capture_output=True)
    (tarball,) = tmp_path.glob("pydeploy-web-*.tar.gz")
    colls = tmp_path / "collections"
    subprocess.run(["ansible-galaxy", "collection", "install", "--no-deps", "--force", "-p", str(colls), str(tarball)],
                   check=True, capture_output=True, cwd=tmp_path)
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("web:\n  hosts:\n    h1:\n      ansible_connection: local\n")
    env = {"ANSIBLE_COLLECTIONS_PATH": str(colls), "PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    for playbook in ("pydeploy.web.site", "pydeploy.web.deploy", "pydeploy.web.rollback"):
        proc = subprocess.run(["ansible-playbook", "-i", str(inventory), "--syntax-check", playbook],
                              env=env, capture_output=True, text=True, cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
