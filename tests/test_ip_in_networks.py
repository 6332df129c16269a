"""Unit tests for the pydeploy.web.ip_in_networks filter (the firewall's lockout check uses it)."""

import importlib.util
import pathlib

import pytest
from ansible.errors import AnsibleFilterError

ROOT = pathlib.Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("pydeploy_ip_in_networks", ROOT / "plugins/filter/ip_in_networks.py")
flt = importlib.util.module_from_spec(spec)
spec.loader.exec_module(flt)
ip_in_networks = flt.FilterModule().filters()["ip_in_networks"]

SOURCES = ["203.0.113.0/24", "198.51.100.7", "2001:db8::/32", "fd00:1::/64"]


@pytest.mark.parametrize("address, inside", [
    ("203.0.113.1", True),
    ("203.0.113.255", True),
    ("203.0.114.1", False),
    ("198.51.100.7", True),   # a bare address is a /32
    ("198.51.100.8", False),
    ("::ffff:203.0.113.9", True),  # IPv4-mapped, as a dual-stack sshd may report it
    ("2001:db8:1234::5", True),
    ("2001:db9::5", False),
    ("fd00:1::abcd", True),
    ("fd00:1:0:1::abcd", False),
    ("fe80::1%eth0", False),  # zone ignored, not in any network
])
def test_containment(address, inside):
    assert ip_in_networks(address, SOURCES) is inside


def test_families_never_mix():
    assert not ip_in_networks("0.0.0.1", ["::/0"])
    assert not ip_in_networks("::1", ["0.0.0.0/0"])
    assert ip_in_networks("::1", ["::/0"]) and ip_in_networks("192.0.2.1", ["0.0.0.0/0"])


def test_host_bits_and_single_string():
    assert ip_in_networks("192.0.2.200", ["192.0.2.7/24"])
    assert ip_in_networks("192.0.2.200", "192.0.2.0/24")
    assert not ip_in_networks("192.0.2.200", [])


@pytest.mark.parametrize("address, networks", [("not-an-ip", ["192.0.2.0/24"]), ("192.0.2.1", ["192.0.2.0/33"])])
def test_bad_input_is_an_error_naming_the_value(address, networks):
    with pytest.raises(AnsibleFilterError, match="not an IPv4 or IPv6"):
        ip_in_networks(address, networks)
