"""Unit tests for plugins/modules/port_owner.py: the listeners on a port, and whether they are the unit's."""

import port_owner as mod

UNIT = "/system.slice/system-a.slice/a@blue.service"
# ss -Htln --cgroup 'sport = :18000' in a container whose systemd runs in /docker/abc (measured: cgroup v1 hybrid).
SS = (
    "LISTEN 0      2048   127.0.0.1:18000 0.0.0.0:* cgroup:/docker/abc" + UNIT + "\n"
    "LISTEN 0      64     [::]:18000 [::]:* cgroup:/docker/abc/system.slice/pd-squatter.service\n"
    "LISTEN 0      5      0.0.0.0:18000 0.0.0.0:*\n"
)


def test_listeners_with_their_cgroups():
    assert mod.listeners(SS) == [
        {"local": "127.0.0.1:18000", "cgroup": "/docker/abc" + UNIT},
        {"local": "[::]:18000", "cgroup": "/docker/abc/system.slice/pd-squatter.service"},
        {"local": "0.0.0.0:18000", "cgroup": None},
    ]
    assert mod.listeners("") == []


def test_cgroup_path_is_the_one_systemd_tracks():
    assert mod.cgroup_path("0::/system.slice/x.service\n") == "/system.slice/x.service"
    # cgroup v1 hybrid (measured in the test containers), then v1 alone.
    assert mod.cgroup_path("12:pids:/a\n9:name=systemd:/b\n0::/b\n") == "/b"
    assert mod.cgroup_path("12:pids:/a\n1:name=systemd:/c\n") == "/c"
    assert mod.cgroup_path("12:pids:/a\n") is None


def test_paths_are_shifted_by_the_cgroup_systemd_runs_in():
    # In a container sharing the host's cgroup namespace, systemd's units live under its own cgroup.
    root = mod.systemd_root("0::/docker/abc/init.scope\n")
    assert root == "/docker/abc"
    assert mod.shift("/docker/abc" + UNIT, root) == UNIT
    assert mod.shift("/system.slice/other.service", root) == "/system.slice/other.service"
    assert mod.systemd_root("0::/init.scope\n") == ""
    assert mod.shift(UNIT, "") == UNIT


def test_strangers_are_the_listeners_outside_the_unit():
    root = "/docker/abc"
    found = mod.listeners(SS)
    # systemd's ControlGroup carries the same prefix as ss's paths, or none (a host): both compare the same.
    for unit_cgroup in ("/docker/abc" + UNIT, UNIT):
        assert [i["local"] for i in mod.strangers(found, unit_cgroup, root)] == ["[::]:18000", "0.0.0.0:18000"]
    own = [{"local": "127.0.0.1:18000", "cgroup": UNIT}, {"local": "[::1]:18000", "cgroup": UNIT + "/worker"}]
    assert mod.strangers(own, UNIT, "") == []
    # The same name under a user's delegated subtree, a sibling with a longer name, another app's unit.
    others = [{"local": "x", "cgroup": "/user.slice/user-1000.slice/user@1000.service/app.slice" + UNIT},
              {"local": "y", "cgroup": UNIT + "x"},
              {"local": "z", "cgroup": "/system.slice/system-b.slice/b@blue.service"}]
    assert [i["local"] for i in mod.strangers(others, UNIT, "")] == ["x", "y", "z"]
    # A unit without a control group (stopped) owns nothing.
    assert len(mod.strangers(own, "", "")) == 2
