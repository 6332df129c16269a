"""The nftables firewall, seen from a second network namespace inside the container (traffic never leaves it)."""

import pytest
from conftest import DOMAIN

# RFC 5737 documentation addresses on a veth pair that exists only inside the container.
HOST_IP, PROBE_IP = "192.0.2.1", "192.0.2.2"
PROBE = "ip netns exec fwprobe"


@pytest.fixture(scope="module")
def probe_netns(host):
    setup = [
        "ip netns add fwprobe",
        "ip link add fwp0 type veth peer name fwp1",
        "ip link set fwp1 netns fwprobe",
        f"ip addr add {HOST_IP}/24 dev fwp0",
        "ip link set fwp0 up",
        f"{PROBE} ip addr add {PROBE_IP}/24 dev fwp1",
        f"{PROBE} ip link set fwp1 up",
        f"{PROBE} ip link set lo up",
        # A listener the firewall does not allow: it answers on loopback, the probe must not reach it.
        "systemd-run --unit fwprobe-listener --property=WorkingDirectory=/tmp python3 -m http.server 8081 --bind 0.0.0.0",
    ]
    for cmd in setup:
        host.run_test(cmd)
    host.run("for i in $(seq 50); do ss -ltn | grep -q ':8081 ' && break; sleep 0.1; done")
    yield
    host.run("systemctl stop fwprobe-listener; ip link del fwp0; ip netns del fwprobe")


def test_ruleset_loaded_with_drop_policy(host):
    out = host.check_output("nft list table inet pydeploy_firewall")
    assert "policy drop" in out


def test_listener_answers_on_loopback(host, probe_netns):
    assert host.run("curl -s -o /dev/null --max-time 5 http://127.0.0.1:8081/").rc == 0


def test_unlisted_port_dropped_from_outside(host, probe_netns):
    cmd = host.run(f"{PROBE} curl -s -o /dev/null --max-time 3 http://{HOST_IP}:8081/")
    assert cmd.rc == 28, cmd  # timed out: the SYN was dropped (not refused, not answered)


def test_http_and_https_reachable_from_outside(host, probe_netns):
    http = host.check_output(f"{PROBE} curl -s -o /dev/null -w '%{{http_code}}' --max-time 5 -H 'Host: {DOMAIN}' http://{HOST_IP}/")
    assert http == "308"
    https = host.check_output(
        f"{PROBE} curl -sk -o /dev/null -w '%{{http_code}}' --max-time 5 --resolve {DOMAIN}:443:{HOST_IP} https://{DOMAIN}/"
    )
    assert https == "200"


def test_ping_allowed(host, probe_netns):
    assert host.run(f"{PROBE} ping -c 1 -W 2 {HOST_IP}").rc == 0
