"""The release_seal module: hands a tree to root without following links, sets sealed modes (never setuid/setgid,
no file capabilities), refuses hard links, makes the .venv link itself and records the seal where only root writes."""

import json
import os
import stat
import subprocess

import pytest

import release_seal as mod

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="sealing hands files to root: run as root")
APP_UID = 65534  # nobody: stands for the app user that built the tree


def build(tmp_path, rid="0123456789ab-1a2b3c4d", venv_name="req-0f1e2d3c4b5a6978"):
    """An app root as the role lays it out, with a release and a virtualenv as the app user leaves them."""
    root = tmp_path / "srv"
    for d in ("releases", "venvs", "sealed"):
        (root / d).mkdir(parents=True)
    os.chmod(root / "sealed", 0o750)
    rel = root / "releases" / rid
    (rel / "static" / "css").mkdir(parents=True)
    (rel / "pkg").mkdir()
    (rel / "app.py").write_text("app = 1\n")
    (rel / "manage.sh").write_text("#!/bin/sh\n")
    os.chmod(rel / "manage.sh", 0o775)
    (rel / "static" / "css" / "site.css").write_text("body {}\n")
    venv = root / "venvs" / venv_name
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("#!/bin/sh\n")
    os.chmod(venv / "bin" / "python", 0o755)
    os.symlink(venv, rel / ".venv")
    return root, rel, venv


def params(root, rel, venv, **kw):
    p = {"path": str(rel), "venv": str(venv), "state": str(root / "sealed"), "links": ["instance"], "public": ["static"],
         "meta": {"id": rel.name, "commit": "c0ffee"}, "revision": "c0ffee", "group": "root", "check_mode": False}
    p.update(kw)
    return p


def chown_tree(path, uid):
    for dirpath, dirnames, filenames in os.walk(path):
        for name in [dirpath] + [os.path.join(dirpath, n) for n in dirnames + filenames]:
            os.chown(name, uid, uid, follow_symlinks=False)


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_sealed_modes_drop_setuid_setgid_and_open_only_public_paths():
    reg = os.stat_result((0o104777, 0, 0, 1, 0, 0, 0, 0, 0, 0))
    plain = os.stat_result((0o102666, 0, 0, 1, 0, 0, 0, 0, 0, 0))
    directory = os.stat_result((0o43777, 0, 0, 2, 0, 0, 0, 0, 0, 0))
    assert mod.wanted_mode(reg, "bin/tool", []) == 0o750
    assert mod.wanted_mode(plain, "app.py", ["static"]) == 0o640
    assert mod.wanted_mode(plain, "static/a.css", ["static"]) == 0o644
    assert mod.wanted_mode(reg, "static/run", ["static"]) == 0o755
    assert mod.wanted_mode(directory, ".", ["static"]) == 0o751
    assert mod.wanted_mode(directory, "assets", ["assets/static"]) == 0o751
    assert mod.wanted_mode(directory, "assets/static/img", ["assets/static"]) == 0o755
    assert mod.wanted_mode(directory, "pkg", ["static"]) == 0o750
    assert mod.wanted_mode(directory, ".", []) == 0o750
    assert mod.wanted_mode(directory, "staticfiles", ["static"]) == 0o750  # a prefix of a name is not the path


def test_hard_linked_files_are_found_without_following_links(tmp_path):
    tree = tmp_path / "tree"
    (tree / "a").mkdir(parents=True)
    (tree / "one").write_text("1")
    os.link(tree / "one", tree / "a" / "two")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x").write_text("x")
    os.link(outside / "x", outside / "y")
    os.symlink(outside, tree / "out")
    assert mod.hard_linked(str(tree)) == ["a/two", "one"]


def test_escaping_links_are_found_and_allowed_ones_kept(tmp_path):
    rel = tmp_path / "release"
    (rel / "static").mkdir(parents=True)
    (rel / "static" / "a.txt").write_text("a")
    os.symlink("/etc", rel / "static" / "leak")
    os.symlink("a.txt", rel / "static" / "inside")
    os.symlink("../../shared", rel / "static" / "up")
    os.symlink("/srv/app/venvs/x", rel / ".venv")
    assert mod.escaping_links(str(rel), {".venv"}) == ["static/leak", "static/up"]


@as_root
def test_seal_hands_the_trees_to_root_with_sealed_modes_and_records_them(tmp_path):
    root, rel, venv = build(tmp_path)
    (rel / "pwn").write_text("#!/bin/sh\n")
    os.chmod(rel / "pwn", 0o6777)
    (venv / "bin" / "pwn").write_text("#!/bin/sh\n")
    os.chmod(venv / "bin" / "pwn", 0o4755)
    os.chmod(rel / "pkg", 0o3777)
    chown_tree(rel, APP_UID)
    chown_tree(venv, APP_UID)
    assert mod.seal(params(root, rel, venv), 0) == (True, [])
    for path in (rel, venv):
        for dirpath, dirnames, filenames in os.walk(path):
            for name in [dirpath] + [os.path.join(dirpath, n) for n in dirnames + filenames]:
                st = os.lstat(name)
                assert st.st_uid == 0, name
                assert not st.st_mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX), name
    assert mode(rel) == 0o751
    assert mode(rel / "app.py") == 0o640
    assert mode(rel / "manage.sh") == 0o750
    assert mode(rel / "pwn") == 0o750
    assert mode(rel / "pkg") == 0o750
    assert mode(rel / "static") == 0o755
    assert mode(rel / "static" / "css" / "site.css") == 0o644
    assert mode(venv) == 0o750
    assert mode(venv / "bin" / "python") == 0o750
    assert mode(venv / "bin" / "pwn") == 0o750
    assert (rel / "REVISION").read_text() == "c0ffee\n"
    record = json.loads((root / "sealed" / "releases" / (rel.name + ".json")).read_text())
    assert record["venv"] == str(venv)
    assert (root / "sealed" / "venvs" / (venv.name + ".json")).exists()
    assert mod.read_record(str(root / "sealed"), "releases", rel.name)["venv"] == str(venv)
    # Sealed: a second run changes nothing.
    assert mod.seal(params(root, rel, venv), 0) == (False, [])


@as_root
def test_seal_removes_file_capabilities(tmp_path):
    root, rel, venv = build(tmp_path)
    tool = venv / "bin" / "python"
    if subprocess.run(["setcap", "cap_net_raw+ep", str(tool)], check=False).returncode != 0:
        pytest.skip("setcap is not available here")
    assert "security.capability" in os.listxattr(tool)
    mod.seal(params(root, rel, venv), 0)
    assert "security.capability" not in os.listxattr(tool)


@as_root
def test_a_hard_link_fails_the_seal_before_anything_changes(tmp_path):
    root, rel, venv = build(tmp_path)
    shared = root / "shared"
    shared.mkdir()
    (shared / "planted").write_text("x")
    os.link(shared / "planted", rel / "static" / "planted.txt")
    chown_tree(rel, APP_UID)
    chown_tree(venv, APP_UID)
    os.chown(shared / "planted", APP_UID, APP_UID)
    with pytest.raises(mod.SealError, match=r"static/planted.txt"):
        mod.seal(params(root, rel, venv), 0)
    assert os.lstat(rel).st_uid == APP_UID
    assert os.lstat(venv / "bin" / "python").st_uid == APP_UID
    assert os.lstat(shared / "planted").st_uid == APP_UID
    assert not mod.is_recorded(str(root / "sealed"), "releases", rel.name)
    assert not mod.is_recorded(str(root / "sealed"), "venvs", venv.name)


@as_root
def test_the_venv_link_and_the_markers_are_roots_not_what_the_build_left(tmp_path):
    root, rel, venv = build(tmp_path)
    victim = tmp_path / "etc-victim"
    victim.mkdir()
    (victim / "shadow").write_text("secret")
    os.chmod(victim / "shadow", 0o600)
    os.unlink(rel / ".venv")
    os.symlink(victim, rel / ".venv")
    (rel / ".pydeploy").mkdir()
    (rel / ".pydeploy" / "complete").write_text("planted\n")
    os.symlink(victim / "shadow", rel / "REVISION")
    chown_tree(rel, APP_UID)
    chown_tree(venv, APP_UID)
    mod.seal(params(root, rel, venv), 0)
    assert os.readlink(rel / ".venv") == str(venv)
    assert os.lstat(rel / ".venv").st_uid == 0
    marker = rel / ".pydeploy" / "complete"
    assert marker.read_text() == rel.name + "\n" and os.lstat(marker).st_uid == 0  # root's, for people to read
    assert (rel / "REVISION").read_text() == "c0ffee\n" and not (rel / "REVISION").is_symlink()
    assert os.lstat(victim).st_uid == 0 and mode(victim / "shadow") == 0o600
    assert (victim / "shadow").read_text() == "secret"


@as_root
def test_a_marker_the_app_wrote_does_not_make_a_release_complete(tmp_path):
    root, rel, venv = build(tmp_path)
    (rel / ".pydeploy").mkdir()
    (rel / ".pydeploy" / "complete").write_text(rel.name + "\n")
    (venv / ".pydeploy-complete").write_text(rel.name + "\n")
    assert not mod.is_recorded(str(root / "sealed"), "releases", rel.name)
    assert not mod.is_recorded(str(root / "sealed"), "venvs", venv.name)
    # Check mode reports a seal to do.
    assert mod.seal(params(root, rel, venv, check_mode=True), 0) == (True, [])


@as_root
def test_a_record_not_owned_by_root_does_not_count(tmp_path):
    root, rel, venv = build(tmp_path)
    (root / "sealed" / "releases").mkdir()
    record = root / "sealed" / "releases" / (rel.name + ".json")
    record.write_text(json.dumps({"venv": "/etc"}))
    os.chown(record, APP_UID, APP_UID)
    assert mod.read_record(str(root / "sealed"), "releases", rel.name) is None


@as_root
@pytest.mark.parametrize("where", ["state", "parent"])
def test_a_state_directory_or_parent_the_app_could_write_is_refused(tmp_path, where):
    root, rel, venv = build(tmp_path)
    before = mode(rel / "app.py")
    target = root / "sealed" if where == "state" else root / "releases"
    os.chown(target, APP_UID, APP_UID)
    with pytest.raises(mod.SealError, match="must be owned by root"):
        mod.seal(params(root, rel, venv), 0)
    assert mode(rel / "app.py") == before  # as build() left it: nothing was sealed
    assert not (root / "sealed" / "releases").exists()


@as_root
def test_seal_never_follows_a_link_out_of_the_tree(tmp_path):
    root, rel, venv = build(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("x")
    os.chown(outside / "victim", APP_UID, APP_UID)
    os.chmod(outside / "victim", 0o4755)
    os.symlink(outside, rel / "pkg" / "out")
    os.symlink(outside / "victim", rel / "pkg" / "victim")
    chown_tree(rel, APP_UID)
    chown_tree(venv, APP_UID)
    _changed, removed = mod.seal(params(root, rel, venv), 0)
    assert removed == ["pkg/out", "pkg/victim"]
    st = os.stat(outside / "victim")
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (APP_UID, 0o4755)  # untouched


@as_root
def test_a_missing_state_directory_is_made_roots(tmp_path):
    root, rel, venv = build(tmp_path)
    os.rmdir(root / "sealed")
    mod.seal(params(root, rel, venv), 0)
    st = os.lstat(root / "sealed")
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o750)
    assert mod.is_recorded(str(root / "sealed"), "releases", rel.name)
