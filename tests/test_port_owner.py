"""Unit tests for plugins/modules/port_owner.py: which processes listen on a port, and whether they are the unit's."""

import os
import socket

import port_owner as mod

TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:4650 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 1111 1 0 100 0 0 10 0
   1: 0100007F:4651 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 2222 1 0 100 0 0 10 0
   2: 0100007F:4650 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000   999        0 3333 1 0 20 4 30 10 -1
"""
TCP6 = """  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:4650 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1001        0 4444 1 0 100 0 0 10 0
"""


def test_listening_inodes_of_one_port_both_families():
    # 0x4650 = 18000: the IPv4 and the IPv6 listener, not the established connection nor port 18001.
    assert mod.listening_inodes([TCP, TCP6], 18000) == {"1111", "4444"}
    assert mod.listening_inodes([TCP, TCP6], 18001) == {"2222"}
    assert mod.listening_inodes([TCP, TCP6], 18002) == set()


def test_cgroup_path_is_the_one_systemd_tracks():
    assert mod.cgroup_path("0::/system.slice/x.service\n") == "/system.slice/x.service"
    # cgroup v1 hybrid (measured in the test containers), then v1 alone.
    assert mod.cgroup_path("12:pids:/a\n9:name=systemd:/b\n0::/b\n") == "/b"
    assert mod.cgroup_path("12:pids:/a\n1:name=systemd:/c\n") == "/c"
    assert mod.cgroup_path("12:pids:/a\n") is None


def test_paths_are_shifted_by_the_cgroup_systemd_runs_in():
    # In a container sharing the host's cgroup namespace, systemd's units live under its own scope.
    root = mod.systemd_root("0::/system.slice/docker-abc.scope/init.scope\n")
    assert root == "/system.slice/docker-abc.scope"
    assert mod.shift("/system.slice/docker-abc.scope/system.slice/a@blue.service", root) == "/system.slice/a@blue.service"
    assert mod.shift("/system.slice/other.service", root) == "/system.slice/other.service"
    assert mod.systemd_root("0::/init.scope\n") == ""
    assert mod.shift("/system.slice/a.service", "") == "/system.slice/a.service"


def test_strangers_are_the_owners_outside_the_unit():
    unit = "/system.slice/system-a.slice/a@blue.service"
    owners = {
        10: unit,
        11: unit + "/worker",
        # Same name under a user's delegated subtree, a sibling unit with a longer name, another app's unit.
        12: "/user.slice/user-1000.slice/user@1000.service/app.slice" + unit,
        13: unit + "x",
        14: "/system.slice/system-b.slice/b@blue.service",
    }
    assert sorted(mod.strangers(owners, unit)) == [12, 13, 14]
    # A unit without a control group (stopped) owns nothing.
    assert sorted(mod.strangers({10: unit}, "")) == [10]


def test_owners_of_finds_this_process_by_its_socket():
    listener = socket.socket()
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with open("/proc/net/tcp", encoding="utf-8") as handle:
            inodes = mod.listening_inodes([handle.read()], port)
        assert len(inodes) == 1
        owners = mod.owners_of(inodes, "")
        assert os.getpid() in owners
    finally:
        listener.close()
