"""The built collection ships the roles, playbooks and plugins, and no test content."""

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
