"""The nftables firewall, seen from a second network namespace inside the container (traffic never leaves it)."""

import os
import shutil
import subprocess
import tempfile

import pytest
import yaml
from conftest import DOMAIN
from pydeploy_testlib import PROJECT, ansible_env, group_vars

# RFC 5737 documentation addresses on a veth pair that exists only inside the container, plus fixed link-local
# IPv6 addresses on it (DHCPv6 servers answer from theirs).
HOST_IP, PROBE_IP = "192.0.2.1", "192.0.2.2"
HOST_LL, PROBE_LL = "fe80::1", "fe80::2"
PROBE = "ip netns exec fwprobe"
UDP_LOG = "/tmp/fwprobe-udp.log"
# Logs "<port> <payload>" for every datagram on the DHCP client ports and two control ports nothing opens.
# (No % in it: systemd-run would take %d and %s for unit specifiers.)
UDP_LISTENER = (
    "import select, socket\n"
    "ports = {}\n"
    "for fam, addr, port in [(socket.AF_INET6, '::', 546), (socket.AF_INET6, '::', 5546),"
    " (socket.AF_INET, '0.0.0.0', 68), (socket.AF_INET, '0.0.0.0', 5068)]:\n"
    "    s = socket.socket(fam, socket.SOCK_DGRAM)\n"
    "    s.bind((addr, port))\n"
    "    ports[s] = port\n"
    "while True:\n"
    "    for s in select.select(list(ports), [], [])[0]:\n"
    "        line = str(ports[s]) + ' ' + s.recv(512).decode() + chr(10)\n"
    f"        open('{UDP_LOG}', 'a').write(line)\n"
)


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
        # IPv6 on the host's end: Docker disables it in the container's netns and mounts /proc/sys read-only, so
        # enable it for fwp0 alone from a private mount namespace (CAP_SYS_ADMIN and CAP_NET_ADMIN, no --privileged).
        "unshare -m sh -c 'mount -o remount,rw /proc/sys && echo 0 > /proc/sys/net/ipv6/conf/fwp0/disable_ipv6'",
        f"ip -6 addr add {HOST_LL}/64 dev fwp0 nodad",
        f"{PROBE} ip -6 addr add {PROBE_LL}/64 dev fwp1 nodad",
        f"systemd-run --unit fwprobe-udp python3 -c \"{UDP_LISTENER}\"",
    ]
    for cmd in setup:
        host.run_test(cmd)
    host.run("for i in $(seq 50); do ss -ltn | grep -q ':8081 ' && break; sleep 0.1; done")
    host.run("for i in $(seq 50); do ss -lun | grep -q ':5068 ' && break; sleep 0.1; done")
    yield
    host.run(f"systemctl stop fwprobe-listener fwprobe-udp; ip link del fwp0; ip netns del fwprobe; rm -f {UDP_LOG}")


def send_udp(host, source, target, payload):
    """Send one datagram from the probe netns, from source (address, port) to target (a link-local pair is on fwp1)."""
    (src, sport), (dst, dport) = source, target
    v6 = ":" in src
    fam = "AF_INET6" if v6 else "AF_INET"
    scope = ", 0, socket.if_nametoindex('fwp1')" if v6 else ""
    script = (f"import socket; s = socket.socket(socket.{fam}, socket.SOCK_DGRAM); s.bind(('{src}', {sport}{scope}));"
              f" s.sendto(b'{payload}', ('{dst}', {dport}{scope}))")
    host.run_test(f'{PROBE} python3 -c "{script}"')


def udp_received(host, payload, seconds=3):
    """The ports the host's listener logged payload on, after waiting up to `seconds` for it."""
    host.run(f"for i in $(seq {seconds * 10}); do grep -q ' {payload}$' {UDP_LOG} 2>/dev/null && break; sleep 0.1; done")
    out = host.run(f"cat {UDP_LOG} 2>/dev/null || true").stdout
    return sorted(int(line.split()[0]) for line in out.splitlines() if line.endswith(" " + payload))


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


def test_dhcpv6_reply_reaches_the_client_port(host, probe_netns):
    # A DHCPv6 server's reply: from its link-local address, port 547, to the client's link-local address, port 546.
    send_udp(host, (PROBE_LL, 547), (HOST_LL, 546), "dhcp6-reply")
    # Control: the same datagram to a port the firewall does not open is dropped.
    send_udp(host, (PROBE_LL, 547), (HOST_LL, 5546), "dhcp6-control")
    assert udp_received(host, "dhcp6-reply") == [546]
    assert udp_received(host, "dhcp6-control", seconds=2) == []
    # Only from a DHCPv6 server's port: source port 5547 to the client port is dropped.
    send_udp(host, (PROBE_LL, 5547), (HOST_LL, 546), "dhcp6-wrong-sport")
    assert udp_received(host, "dhcp6-wrong-sport", seconds=2) == []


def test_dhcpv4_reply_reaches_the_client_port(host, probe_netns):
    send_udp(host, (PROBE_IP, 67), (HOST_IP, 68), "dhcp4-reply")
    send_udp(host, (PROBE_IP, 67), (HOST_IP, 5068), "dhcp4-control")
    assert udp_received(host, "dhcp4-reply") == [68]
    assert udp_received(host, "dhcp4-control", seconds=2) == []


def https_code(host, port):
    return host.run(
        f"{PROBE} curl -sk -o /dev/null -w '%{{http_code}}' --max-time 5 --resolve {DOMAIN}:{port}:{HOST_IP} https://{DOMAIN}:{port}/"
    ).stdout


def test_web_ports_follow_nginx(host, site, probe_netns):
    """The firewall opens the port nginx listens on, as site.yml wires it: 8443 while nginx serves HTTPS there."""
    moved = site({"nginx_https_port": 8443})
    try:
        assert moved.returncode == 0, (moved.stdout + moved.stderr)[-3000:]
        assert https_code(host, 8443) == "200"
        assert "443" not in host.check_output("nft list table inet pydeploy_firewall").replace("8443", "")
    finally:
        back = site({})
    assert back.returncode == 0, (back.stdout + back.stderr)[-3000:]
    assert https_code(host, 443) == "200"
    assert https_code(host, 8443) == "000"  # closed again: dropped, the connection timed out


def site_with_group_vars(**extra):
    """site.yml with variables set in the inventory (group_vars of web), where users keep firewall_web_sources."""
    with tempfile.TemporaryDirectory() as inv_dir:
        shutil.copy(os.environ["MOLECULE_INVENTORY_FILE"], os.path.join(inv_dir, "hosts.yml"))
        os.mkdir(os.path.join(inv_dir, "group_vars"))
        with open(os.path.join(inv_dir, "group_vars", "web.yml"), "w", encoding="utf-8") as fh:
            yaml.safe_dump({**group_vars(), **extra}, fh)
        cmd = ["ansible-playbook", "-i", os.path.join(inv_dir, "hosts.yml"), str(PROJECT / "playbooks" / "site.yml")]
        proc = subprocess.run(cmd, env=ansible_env(), capture_output=True, text=True, cwd=PROJECT, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def test_the_inventorys_firewall_web_sources_are_kept(host, probe_netns):
    """site.yml merges the balancers' addresses (none here) into the inventory's list instead of replacing it."""
    rc, out = site_with_group_vars(firewall_web_sources=["203.0.113.0/24"])
    try:
        assert rc == 0, out[-3000:]
        # The probe's address (192.0.2.2) is not in the list: the web ports drop it.
        assert https_code(host, 443) == "000"
    finally:
        back = site_with_group_vars()
    assert back[0] == 0, back[1][-3000:]
    assert https_code(host, 443) == "200"
