"""Unit tests for plugins/modules/files.py: every file validated before any goes live, links never followed."""

import grp
import os
import pwd
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "plugins" / "modules"))
import files  # noqa: E402  pylint: disable=import-error,wrong-import-position

ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name
COMPILE = sys.executable + """ -c 'import sys; compile(open(sys.argv[1]).read(), sys.argv[1], "exec")' %s"""


def spec(path, content="x\n", mode="0644", validate=None):
    return {"dest": str(path), "content": content, "owner": ME, "group": MY_GROUP, "mode": mode, "validate": validate}


def run_command(argv):
    import subprocess  # pylint: disable=import-outside-toplevel

    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def test_plan_sees_new_changed_and_unchanged_files(tmp_path):
    (tmp_path / "same").write_text("x\n")
    os.chmod(tmp_path / "same", 0o644)
    (tmp_path / "other").write_text("old\n")
    os.chmod(tmp_path / "other", 0o644)
    same, other, new = (files.plan_file(spec(tmp_path / n)) for n in ("same", "other", "new"))
    assert not same["content_changed"] and not same["attrs_changed"]
    assert other["content_changed"] and not other["created"]
    assert new["content_changed"] and new["created"]
    assert files.plan_file(spec(tmp_path / "same", mode="0600"))["attrs_changed"]


def test_an_unknown_group_fails_but_counts_as_a_change_in_check_mode(tmp_path):
    (tmp_path / "conf").write_text("x\n")
    os.chmod(tmp_path / "conf", 0o644)
    unknown = dict(spec(tmp_path / "conf"), group="no-such-group-pydeploy")
    with pytest.raises(ValueError, match="unknown group"):
        files.plan_file(unknown)
    item = files.plan_file(unknown, check_mode=True)
    assert (item["uid"], item["gid"]) == (os.getuid(), None)
    assert item["attrs_changed"] and not item["content_changed"]


def test_plan_refuses_a_link_in_place_of_a_file(tmp_path):
    (tmp_path / "target").write_text("secret\n")
    (tmp_path / "conf").symlink_to(tmp_path / "target")
    with pytest.raises(ValueError, match="not a regular file"):
        files.plan_file(spec(tmp_path / "conf"))


def test_stage_validates_and_leaves_nothing_when_the_check_fails(tmp_path):
    good = files.plan_file(spec(tmp_path / "ok.py", content="x = 1\n", validate=COMPILE))
    tmp = files.stage(good, run_command)
    assert Path(tmp).read_text() == "x = 1\n" and (Path(tmp).stat().st_mode & 0o777) == 0o644
    os.unlink(tmp)
    bad = files.plan_file(spec(tmp_path / "bad.py", content="x = (\n", validate=COMPILE))
    with pytest.raises(ValueError, match="failed its check"):
        files.stage(bad, run_command)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_links_are_checked_and_replaced_atomically(tmp_path):
    link = tmp_path / "enabled"
    assert files.link_state(str(link), "/a") == "missing"
    files.make_link(str(link), "/a")
    assert files.link_state(str(link), "/a") == "ok"
    assert files.link_state(str(link), "/b") == "wrong"
    files.make_link(str(link), "/b")
    assert os.readlink(link) == "/b"
    (tmp_path / "plain").write_text("x")
    with pytest.raises(ValueError, match="not a symbolic link"):
        files.link_state(str(tmp_path / "plain"), "/a")
