"""Unit tests for the pydeploy.web.backend_address_problem filter (the lb role's preflight refuses bad pool
addresses with it, before any nginx file is written)."""

import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("pydeploy_backend_address", ROOT / "plugins/filter/backend_address.py")
flt = importlib.util.module_from_spec(spec)
spec.loader.exec_module(flt)
problem = flt.FilterModule().filters()["backend_address_problem"]


@pytest.mark.parametrize("value", [
    "10.0.0.11", "192.0.2.1", "0.0.0.0", "255.255.255.255",
    "2001:db8::1", "fd00:1::abcd", "::1", "2001:0db8:0000:0000:0000:0000:0000:0001", "::ffff:192.0.2.1",
    "web1", "web-1.internal", "ip-10-0-0-11.eu-west-1.compute.internal", "a.b.c.", "x" * 63 + ".example",
    "1password.example", "0x1.example",
])
def test_addresses_nginx_may_use_pass(value):
    assert problem(value) == ""


@pytest.mark.parametrize("value", [
    "", " ", "10.0.0.11;", "10.0.0.11 backup", "10.0.0.11:80", "10.0.0.011", "10.0.0", "10.0.0.256", "1.2.3.4.5",
    "[2001:db8::1]", "2001:db8::1%eth0", "2001:db8::/64", "2001:db8:::1", "fe80::1 down",
    "unix:/run/evil.sock", "http://web1", "web1/", "web_1", "-web1", "web1-", "web1..internal", ".web1",
    "web1;\n}\nserver { listen 8080", "web1 max_fails=0", "x" * 64 + ".example", ("a" * 60 + ".") * 5,
    "web1\n", "web\u00e9", "$host", "127.1",
    None, 10, True, ["10.0.0.1"],
])
def test_anything_else_is_refused_with_a_reason(value):
    assert problem(value), value
