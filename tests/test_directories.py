"""Unit tests for plugins/modules/directories.py: links refused before anything changes, owner and mode applied."""

import grp
import os
import pwd
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "plugins" / "modules"))
import directories  # noqa: E402  pylint: disable=import-error,wrong-import-position

ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


def entry(path, mode="0750"):
    return {"path": str(path), "owner": ME, "group": MY_GROUP, "mode": mode}


def test_plan_refuses_a_link_before_anything_changes(tmp_path):
    (tmp_path / "target").mkdir()
    (tmp_path / "shared").symlink_to(tmp_path / "target")
    with pytest.raises(ValueError, match="symbolic link"):
        directories.plan([entry(tmp_path / "new"), entry(tmp_path / "shared")])
    assert not (tmp_path / "new").exists()


def test_plan_refuses_a_file_a_bad_mode_and_an_unknown_user(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        directories.plan([entry(tmp_path / "file")])
    with pytest.raises(ValueError, match="octal"):
        directories.plan([entry(tmp_path / "d", mode="rwx")])
    with pytest.raises(ValueError, match="unknown user"):
        directories.plan([dict(entry(tmp_path / "d"), owner="no-such-user-pydeploy")])


def test_check_mode_counts_an_unknown_user_as_a_change(tmp_path):
    planned = directories.plan([dict(entry(tmp_path / "d"), owner="no-such-user-pydeploy")], check_mode=True)
    assert planned[0][4] is None  # absent: would be created


def test_check_mode_leaves_only_the_unknown_id_open_on_an_existing_directory(tmp_path):
    (tmp_path / "d").mkdir()
    _entry, uid, gid, _mode, current = directories.plan(
        [dict(entry(tmp_path / "d"), owner="no-such-user-pydeploy")], check_mode=True)[0]
    assert (uid, gid) == (None, os.getgid())
    assert current["uid"] != uid  # counts as a change, as the files module counts it


def test_apply_creates_parents_and_sets_the_mode(tmp_path):
    path = tmp_path / "a" / "b"
    assert directories.apply(str(path), os.getuid(), os.getgid(), 0o750)
    assert (path.stat().st_mode & 0o7777) == 0o750
    assert not directories.apply(str(path), os.getuid(), os.getgid(), 0o700)
    assert (path.stat().st_mode & 0o7777) == 0o700


def test_apply_does_not_follow_a_link_that_replaced_the_directory(tmp_path):
    (tmp_path / "victim").mkdir(mode=0o755)
    (tmp_path / "d").symlink_to(tmp_path / "victim")
    with pytest.raises(OSError):
        directories.apply(str(tmp_path / "d"), os.getuid(), os.getgid(), 0o700)
    assert ((tmp_path / "victim").stat().st_mode & 0o7777) == 0o755


def test_remove_takes_a_link_not_its_target_and_a_tree_without_following_links(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("x")
    (tmp_path / "link").symlink_to(victim)
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "inner-link").symlink_to(victim)
    directories.remove(str(tmp_path / "link"))
    directories.remove(str(tree))
    assert not os.path.lexists(tmp_path / "link")
    assert not tree.exists()
    assert (victim / "keep").read_text() == "x"
