"""The releases module: live/previous by readlink, pruning keeps what a rollback needs."""

import os

import pytest

import releases as mod
from release_trees import make_release


@pytest.fixture(autouse=True)
def tests_user_is_root(monkeypatch):
    monkeypatch.setattr(mod, "ROOT_UID", os.getuid())


def test_live_and_previous_come_from_the_links_not_from_mtime(tmp_path):
    a = make_release(tmp_path, "aaa", 1)
    b = make_release(tmp_path, "bbb", 2)
    os.symlink(a, tmp_path / "current")  # rolled back to the older one
    os.symlink(b, tmp_path / "previous")
    assert mod._link_target_id(str(tmp_path), "current") == "aaa"
    assert mod._link_target_id(str(tmp_path), "previous") == "bbb"
    assert [r["id"] for r in mod.list_releases(str(tmp_path))] == ["aaa", "bbb"]


def test_prune_keeps_live_previous_and_protected(tmp_path):
    for i, rid in enumerate(["r1", "r2", "r3", "r4", "r5", "r6"]):
        make_release(tmp_path, rid, i + 1)
    rels = mod.list_releases(str(tmp_path))
    # live is the oldest (a rollback), previous the second oldest
    doomed = mod.plan_prune(rels, keep=3, protected={"r1", "r2", "r6"})
    assert doomed == ["r3", "r4", "r5"]
    assert "r1" not in doomed and "r2" not in doomed


def test_prune_removes_interrupted_builds_first(tmp_path):
    make_release(tmp_path, "ok1", 1)
    make_release(tmp_path, "half", 2, complete=False)
    make_release(tmp_path, "ok2", 3)
    rels = mod.list_releases(str(tmp_path))
    assert mod.plan_prune(rels, keep=5, protected=set()) == ["half"]
    assert mod.plan_prune(rels, keep=5, protected={"half"}) == []


def test_unused_venvs_are_found(tmp_path):
    make_release(tmp_path, "r1", 1, venv="req-a")
    make_release(tmp_path, "r2", 2, venv="req-b")
    (tmp_path / "venvs/req-old").mkdir()
    rels = [r for r in mod.list_releases(str(tmp_path)) if r["id"] != "r1"]
    assert mod.unused_venvs(str(tmp_path), rels) == ["req-a", "req-old"]


def test_read_units_reports_each_units_active_state():
    out = (
        "Id=shop@blue.service\nActiveState=active\n\n"
        "ActiveState=inactive\nId=shop@green.service\n"
    )

    class Module:  # the two AnsibleModule methods read_units uses
        @staticmethod
        def get_bin_path(name, required=False):
            return "/bin/" + name

        @staticmethod
        def run_command(argv):
            assert argv == ["/bin/systemctl", "show", "--property=Id,ActiveState", "--",
                            "shop@blue.service", "shop@green.service"]
            return 0, out, ""

    assert mod.read_units(Module(), ["shop@blue.service", "shop@green.service"]) == {
        "shop@blue.service": "active", "shop@green.service": "inactive"}
    assert mod.read_units(Module(), []) == {}
