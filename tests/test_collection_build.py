"""The built collection ships the roles, playbooks and plugins, and no test content."""

import os
import re
import subprocess
import tarfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


# Every file of the built tarball must match one of these: the collection's content, its docs and metadata.
# Anything else (ansible.cfg, inventories, test or bench data, editor and VCS files) is checkout-only and belongs
# in galaxy.yml's build_ignore.
ALLOWED = [re.compile(p) for p in (
    r"(FILES|MANIFEST)\.json",
    r"(README\.md|LICENSE|CHANGELOG\.rst)",
    r"meta/runtime\.yml",
    r"changelogs/(changelog|config)\.yaml",
    r"docs/[\w-]+\.md",
    r"docs/bench/[\w-]+\.png",
    r"playbooks/(tasks/|vars/)?[\w-]+\.yml",
    r"plugins/(action|modules|module_utils|filter|lookup|doc_fragments)/\w+\.py",
    r"plugins/(filter|test)/\w+\.yml",  # docs of filter and test plugins
    r"roles/\w+/README\.md",
    r"roles/\w+/(defaults|handlers|meta|tasks|vars)/[\w-]+\.yml",
    r"roles/\w+/templates/([\w.-]+/)*[\w.-]+\.j2",
    r"roles/\w+/files/([\w.-]+/)*[\w.-]+",
)]


def build(tmp_path):
    subprocess.run(["ansible-galaxy", "collection", "build", str(ROOT), "--output-path", str(tmp_path)],
                   check=True, capture_output=True)
    (tarball,) = tmp_path.glob("pydeploy-web-*.tar.gz")
    return tarball


def test_build_tarball_contents(tmp_path):
    with tarfile.open(build(tmp_path)) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    for must in ("roles/app/tasks/main.yml", "roles/gunicorn/templates/etc/systemd/system/instance.service.j2",
                 "roles/nginx/meta/argument_specs.yml", "roles/python/defaults/main.yml",
                 "playbooks/site.yml", "playbooks/deploy.yml", "playbooks/rollback.yml",
                 "playbooks/provision_ec2.yml", "playbooks/teardown_ec2.yml",
                 "playbooks/provision_digitalocean.yml", "playbooks/teardown_digitalocean.yml", "docs/cloud.md",
                 "plugins/modules/releases.py", "meta/runtime.yml", "README.md", "LICENSE", "CHANGELOG.rst"):
        assert must in names, must
    files = [m for m in members if m.isfile()]
    unexpected = [m.name for m in files if not any(p.fullmatch(m.name) for p in ALLOWED)]
    assert not unexpected, "checkout-only files in the tarball (add them to build_ignore): %s" % unexpected
    empty = [m.name for m in files if m.size == 0]
    assert not empty, "empty files in the tarball: %s" % empty
    links = [m.name for m in members if m.issym() or m.islnk()]
    assert not links, "links in the tarball: %s" % links


def test_license_matches_galaxy_yml():
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    assert galaxy["license"] == ["GPL-3.0-or-later"]
    text = (ROOT / "LICENSE").read_text()
    assert "GNU GENERAL PUBLIC LICENSE" in text and "Version 3, 29 June 2007" in text


def test_installed_tarball_runs_as_pydeploy_web(tmp_path):
    """What a user does in an infra repo: install the built tarball, then run pydeploy.web.site."""
    tarball = build(tmp_path)
    colls = tmp_path / "collections"
    subprocess.run(["ansible-galaxy", "collection", "install", "--no-deps", "--force", "-p", str(colls), str(tarball)],
                   check=True, capture_output=True, cwd=tmp_path)
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("web:\n  hosts:\n    h1:\n      ansible_connection: local\n")
    env = {"ANSIBLE_COLLECTIONS_PATH": str(colls), "PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    # The cloud playbooks resolve amazon.aws and community.digitalocean from the ansible package, as a user's would.
    playbooks = ["pydeploy.web." + p.stem for p in sorted((ROOT / "playbooks").glob("*.yml"))]
    assert {"pydeploy.web.site", "pydeploy.web.provision_ec2", "pydeploy.web.teardown_digitalocean"} <= set(playbooks)
    for playbook in playbooks:
        proc = subprocess.run(["ansible-playbook", "-i", str(inventory), "--syntax-check", playbook],
                              env=env, capture_output=True, text=True, cwd=tmp_path, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_roles_min_ansible_version_matches_requires_ansible():
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())
    lower = re.fullmatch(r">=(\d+\.\d+)\.\d+", runtime["requires_ansible"]).group(1)
    for meta in sorted((ROOT / "roles").glob("*/meta/main.yml")):
        info = yaml.safe_load(meta.read_text())["galaxy_info"]
        assert str(info["min_ansible_version"]) == lower, meta
