"""Behind a load balancer (nginx_trusted_proxies: [127.0.0.2/32]): its forwarded headers count, nobody else's do.

The same request, claiming HTTPS and a client address, is sent from the trusted peer and from another address.
"""

import json

import pytest
from pydeploy_testlib import http

TRUSTED, UNTRUSTED = "127.0.0.2", "127.0.0.1"
CLAIMS = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}


def whoami(host, source, headers=None):
    """GET /whoami from the source address; what the app saw of the request."""
    r = http(host, "/whoami", headers=CLAIMS if headers is None else headers, source=source)
    assert r["status"] == 200, r
    return json.loads(r["body"])


def test_trusted_balancer_passes_the_client_and_scheme(host):
    """From the balancer, the client address and HTTPS it reports reach the app."""
    seen = whoami(host, TRUSTED)
    assert seen["forwarded_proto"] == "https"
    assert seen["scheme"] == "https"  # what the app builds its URLs and HTTPS redirects from
    assert seen["forwarded_port"] == "443"  # no X-Forwarded-Port sent: the scheme's port
    assert seen["forwarded_for"] == "203.0.113.7"
    assert seen["real_ip"] == "203.0.113.7"


def test_trusted_balancer_port_is_passed_through(host):
    """From the balancer, its X-Forwarded-Port reaches the app."""
    seen = whoami(host, TRUSTED, {**CLAIMS, "X-Forwarded-Port": "8443"})
    assert seen["forwarded_port"] == "8443"


def test_client_behind_the_balancer_cannot_forge_its_address(host):
    """The client sent "X-Forwarded-For: 198.51.100.9", the balancer appended the address it saw."""
    seen = whoami(host, TRUSTED, {"X-Forwarded-For": "198.51.100.9, 203.0.113.7"})
    assert seen["forwarded_for"] == "203.0.113.7"
    assert seen["forwarded_proto"] == "http"  # the balancer said nothing about the scheme: how it reached nginx


@pytest.mark.parametrize("headers", [CLAIMS, {**CLAIMS, "X-Forwarded-Port": "8443"}])
def test_untrusted_peer_claims_are_replaced(host, headers):
    """From any other peer, the same claims are replaced by what nginx saw."""
    seen = whoami(host, UNTRUSTED, headers)
    assert seen["forwarded_proto"] == "http"
    assert seen["scheme"] == "http"
    assert seen["forwarded_port"] == "80"
    assert seen["forwarded_for"] == UNTRUSTED
    assert seen["real_ip"] == UNTRUSTED


def test_client_address_is_logged_not_the_balancer(host):
    """The access log shows the client, not the balancer."""
    whoami(host, TRUSTED, {**CLAIMS, "X-Forwarded-For": "203.0.113.77"})
    log = host.check_output("tail -n 5 /var/log/nginx/access.log")
    assert any(line.startswith("203.0.113.77 ") and "/whoami" in line for line in log.splitlines()), log
