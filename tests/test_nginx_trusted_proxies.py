"""The nginx role's address checks for nginx_trusted_proxies, with the regular expressions preflight uses."""

import ipaddress
import re
from pathlib import Path

import pytest
import yaml

VARS = yaml.safe_load((Path(__file__).resolve().parents[1] / "roles/nginx/vars/main.yml").read_text())
CIDR4 = re.compile(VARS["__nginx_cidr4_re"])
CIDR6 = re.compile(
    VARS["__nginx_cidr6_re"].replace("{{ __nginx_ip6_forms | join('|') }}", "|".join(VARS["__nginx_ip6_forms"])),
    re.IGNORECASE,
)

GOOD = [
    "10.0.0.0/8", "172.16.0.0/12", "192.168.1.10", "0.0.0.0/0", "255.255.255.255/32", "127.0.0.2/32",
    "::/0", "::1", "::1/128", "2001:db8::/32", "2001:DB8:0:0:1::/80", "fe80::1:2:3:4/64", "1:2:3:4:5:6:7:8",
    "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1::8", "2600:1f18:abcd::/56",
]
BAD = [
    "10.0.0.0/33", "not-a-cidr", "256.0.0.0/8", "10.0.0/8", "10.0.0.0/", "10.0.0.0/8 ", " 10.0.0.0/8", "10.0.0.0/8\n",
    "2001:db8::/129", "2001:db8:::1", "1:2:3:4:5:6:7:8:9", "12345::/16", "1::2::3", "g::1", ":1", "1:", "",
    "10.0.0.0/8; allow all", "all", "unix:",
]


def valid(text):
    """What preflight accepts: an IPv4 or an IPv6 address, each with an optional prefix length."""
    return bool(CIDR4.match(text) or CIDR6.match(text))


@pytest.mark.parametrize("cidr", GOOD)
def test_valid_addresses_pass(cidr):
    """Addresses and CIDRs nginx accepts pass preflight."""
    assert valid(cidr)
    ipaddress.ip_network(cidr, strict=False)  # and Python agrees


@pytest.mark.parametrize("cidr", BAD)
def test_invalid_addresses_fail(cidr):
    """Anything else fails preflight."""
    assert not valid(cidr)
