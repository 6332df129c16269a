"""Unit tests for plugins/modules/releases.py: listing and prune planning on real temporary trees."""

import importlib.util
import os
import pathlib
import sys

import pytest

import release_trees

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins" / "modules"))
spec = importlib.util.spec_from_file_location("pydeploy_releases", ROOT / "plugins" / "modules" / "releases.py")
releases = importlib.util.module_from_spec(spec)
spec.loader.exec_module(releases)


def make_release(root, rid, created, complete=True, venv="req-a"):
    """release_trees.make_release, with a virtualenv unless told otherwise."""
    return release_trees.make_release(root, rid, created, complete, venv)


@pytest.fixture(autouse=True)
def tests_user_is_root(monkeypatch):
    monkeypatch.setattr(releases, "ROOT_UID", os.getuid())


def link(root, name, rid):
    os.symlink(root / "releases" / rid, root / name)


@pytest.fixture
def app(tmp_path):
    # Created out of order on purpose: the order must come from release.json, not from names or mtimes.
    for rid, created in [("cccc", 300), ("aaaa", 100), ("eeee", 500), ("bbbb", 200), ("dddd", 400)]:
        make_release(tmp_path, rid, created)
    return tmp_path


def ids(rels):
    return [r["id"] for r in rels]


def test_list_releases_oldest_first_with_metadata(app):
    make_release(app, "zzzz", 50, complete=False, venv=None)
    rels = releases.list_releases(str(app))
    assert ids(rels) == ["zzzz", "aaaa", "bbbb", "cccc", "dddd", "eeee"]
    first = rels[1]
    assert first["complete"] and first["commit"] == "aaaaaaaa" and first["version"] == "main"
    assert first["venv"] == os.path.realpath(app / "venvs" / "req-a")
    assert not rels[0]["complete"] and rels[0]["venv"] == ""


def test_list_releases_ignores_links_hidden_and_files(app):
    os.symlink(app / "releases" / "aaaa", app / "releases" / "alias")
    (app / "releases" / ".tmp").mkdir()
    (app / "releases" / "stray.txt").write_text("x")
    assert ids(releases.list_releases(str(app))) == ["aaaa", "bbbb", "cccc", "dddd", "eeee"]


def test_list_releases_without_metadata_falls_back_to_mtime(tmp_path):
    for rid, mtime in [("new", 2000), ("old", 1000)]:
        (tmp_path / "releases" / rid).mkdir(parents=True)
        os.utime(tmp_path / "releases" / rid, (mtime, mtime))
    assert ids(releases.list_releases(str(tmp_path))) == ["old", "new"]


def test_list_releases_missing_dir(tmp_path):
    assert releases.list_releases(str(tmp_path)) == []


def test_live_and_previous_by_readlink(app):
    link(app, "current", "cccc")
    link(app, "previous", "aaaa")
    assert releases._link_target_id(str(app), "current") == "cccc"
    assert releases._link_target_id(str(app), "previous") == "aaaa"
    assert releases._link_target_id(str(app), "candidate") == ""


def test_link_outside_releases_is_not_a_release(app, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    os.symlink(elsewhere, app / "current")
    assert releases._link_target_id(str(app), "current") == ""


def test_plan_prune_keeps_newest(app):
    rels = releases.list_releases(str(app))
    assert releases.plan_prune(rels, 3, set()) == ["aaaa", "bbbb"]
    assert releases.plan_prune(rels, 5, set()) == []
    assert releases.plan_prune(rels, 9, set()) == []


def test_plan_prune_never_deletes_live_or_previous_even_when_oldest(app):
    rels = releases.list_releases(str(app))
    # A rollback made the oldest release live and the second oldest previous.
    doomed = releases.plan_prune(rels, 2, {"aaaa", "bbbb"})
    assert "aaaa" not in doomed and "bbbb" not in doomed
    assert doomed == ["cccc", "dddd", "eeee"]


def test_plan_prune_protected_count_towards_keep(app):
    rels = releases.list_releases(str(app))
    doomed = releases.plan_prune(rels, 3, {"aaaa", "eeee"})
    kept = [r for r in ids(rels) if r not in doomed]
    assert kept == ["aaaa", "dddd", "eeee"]


def test_plan_prune_incomplete_unless_protected(app):
    make_release(app, "half", 600, complete=False)
    make_release(app, "building", 700, complete=False)
    rels = releases.list_releases(str(app))
    doomed = releases.plan_prune(rels, 5, {"building"})
    assert doomed == ["half"]


def test_unused_venvs(app):
    make_release(app, "ffff", 600, venv="req-b")
    (app / "venvs" / "req-orphan").mkdir()
    rels = releases.list_releases(str(app))
    assert releases.unused_venvs(str(app), rels) == ["req-orphan"]
    remaining = [r for r in rels if r["id"] != "ffff"]
    assert releases.unused_venvs(str(app), remaining) == ["req-b", "req-orphan"]


def test_a_marker_or_link_the_app_user_planted_makes_no_release_complete(app):
    make_release(app, "planted", 600, complete=False, venv="req-a")
    os.unlink(app / "releases" / "planted" / ".venv")
    os.symlink("/etc", app / "releases" / "planted" / ".venv")
    rel = [r for r in releases.list_releases(str(app)) if r["id"] == "planted"][0]
    assert not rel["complete"]
    assert rel["venv"] == ""  # the link is not the release's virtualenv


def test_a_record_root_does_not_own_counts_for_nothing(app, monkeypatch):
    monkeypatch.setattr(releases, "ROOT_UID", os.getuid() + 1)
    assert not any(r["complete"] for r in releases.list_releases(str(app)))
    assert releases.sealed_venvs(str(app)) == []


def test_a_state_directory_others_may_write_counts_for_nothing(app):
    os.chmod(app / "sealed" / "releases", 0o777)
    assert not any(r["complete"] for r in releases.list_releases(str(app)))


def test_sealed_venvs_come_from_roots_record_and_exist(app):
    (app / "venvs" / "req-unsealed").mkdir()
    (app / "venvs" / "req-unsealed" / ".pydeploy-complete").write_text("x")
    release_trees.record(app, "venvs", "req-gone", {})
    assert releases.sealed_venvs(str(app)) == ["req-a"]


def test_an_incomplete_releases_link_only_keeps_its_venv(app):
    make_release(app, "building", 700, complete=False, venv="req-new")
    rels = releases.list_releases(str(app))
    assert "req-new" not in releases.unused_venvs(str(app), rels)
