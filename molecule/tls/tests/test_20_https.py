"""HTTPS as a client sees it: testssl.sh findings, redirects, security headers, unknown names refused."""

import json

import pytest
from conftest import DOMAIN

CURL = f"curl -sk --max-time 10 --resolve {DOMAIN}:443:127.0.0.1"


@pytest.fixture(scope="module")
def testssl(host):
    """Run testssl.sh once against 127.0.0.1:443 with SNI example.test; return its JSON findings by id."""
    host.run("rm -f /tmp/testssl.json")
    cmd = host.run(
        "testssl --quiet --color 0 --warnings off --ip 127.0.0.1 --jsonfile /tmp/testssl.json "
        f"--protocols --each-cipher --headers https://{DOMAIN}/"
    )
    assert host.file("/tmp/testssl.json").exists, cmd.stdout[-2000:] + cmd.stderr[-2000:]
    findings = json.loads(host.file("/tmp/testssl.json").content_string)
    by_id = {}
    for f in findings:
        by_id.setdefault(f["id"], []).append(f["finding"])
    return by_id


def test_only_tls12_and_tls13_offered(testssl):
    # testssl 3.0.8 says "not offered", 3.0.4 (Debian 11) "is not offered".
    for proto in ["SSLv2", "SSLv3", "TLS1", "TLS1_1"]:
        assert "not offered" in testssl[proto][0], (proto, testssl[proto])
    for proto in ["TLS1_2", "TLS1_3"]:
        assert "not offered" not in testssl[proto][0] and "offered" in testssl[proto][0], (proto, testssl[proto])


def test_only_ecdhe_aead_ciphers(testssl):
    offered = [f for key, values in testssl.items() if key.startswith("cipher_x") for f in values]
    assert offered, sorted(testssl)
    for finding in offered:
        iana = finding.split()[-1]
        assert "CBC" not in iana and "_DHE_" not in iana and "RSA_WITH" not in iana, finding
        assert iana.startswith("TLS_ECDHE_") or iana in {
            "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"
        }, finding
        assert "GCM" in iana or "CHACHA20_POLY1305" in iana, finding


def test_hsts_two_years(testssl):
    assert "63072000 seconds" in testssl["HSTS_time"][0], testssl["HSTS_time"]


@pytest.mark.parametrize("path", ["/", "/static/hello.txt", "/no-such-page"])
def test_security_headers_everywhere(host, path):
    out = host.check_output(f"{CURL} -D - -o /dev/null https://{DOMAIN}{path}").lower()
    assert "strict-transport-security: max-age=63072000" in out
    assert "x-content-type-options: nosniff" in out
    assert "x-frame-options: sameorigin" in out
    assert "referrer-policy: strict-origin-when-cross-origin" in out
    assert "server: nginx\r\n" in out  # no version


def test_http_redirects_with_308(host):
    out = host.check_output(f"curl -s -D - -o /dev/null -H 'Host: {DOMAIN}' 'http://127.0.0.1/a/b?c=1'")
    assert out.startswith("HTTP/1.1 308"), out
    assert f"Location: https://{DOMAIN}/a/b?c=1" in out


def test_http2_and_app_over_https(host):
    out = host.check_output(f"{CURL} --http2 -D - https://{DOMAIN}/")
    assert out.startswith("HTTP/2 200"), out
    assert "Hello from pydeploy.web" in out


def test_unknown_host_dropped_on_http(host):
    cmd = host.run("curl -s -o /dev/null -H 'Host: unknown.test' http://127.0.0.1/")
    assert cmd.rc == 52, cmd  # empty reply: nginx closed the connection (444)


def _nginx_version(host):
    return tuple(int(p) for p in host.run("nginx -v").stderr.split("/")[1].split()[0].split("."))


@pytest.mark.parametrize("sni", ["-servername unknown.test", "-noservername"])
def test_unknown_name_tls_handshake_rejected(host, sni):
    cmd = host.run(f"openssl s_client -connect 127.0.0.1:443 {sni} </dev/null")
    if _nginx_version(host) >= (1, 19, 4):
        assert cmd.rc != 0
        assert "unrecognized name" in cmd.stdout + cmd.stderr
        assert "BEGIN CERTIFICATE" not in cmd.stdout
    else:  # no ssl_reject_handshake: a certificate that names nothing, then no HTTP answer
        assert "CN = invalid" in cmd.stdout and DOMAIN not in cmd.stdout
        answer = host.run("curl -sk --http1.1 -o /dev/null --resolve unknown.test:443:127.0.0.1 https://unknown.test/")
        assert answer.rc == 52, answer


def test_known_name_handshake_with_an_unknown_host_gets_no_answer(host):
    """A handshake for a served name, then a Host header of another name: the default server drops it (444)."""
    answer = host.run(f"curl -sk --http1.1 -o /dev/null -H 'Host: unknown.test' "
                      f"--resolve {DOMAIN}:443:127.0.0.1 https://{DOMAIN}/")
    assert answer.rc == 52, answer  # empty reply: closed without an answer


def test_known_name_tls_handshake(host):
    cmd = host.run(f"openssl s_client -connect 127.0.0.1:443 -servername {DOMAIN} </dev/null")
    assert "BEGIN CERTIFICATE" in cmd.stdout, cmd.stderr


WWW = "www." + DOMAIN


def test_www_name_tls_handshake_and_certificate(host):
    """nginx_www_redirect: https://www.example.test completes the handshake with a certificate naming it."""
    cmd = host.run(f"openssl s_client -connect 127.0.0.1:443 -servername {WWW} </dev/null 2>/dev/null | openssl x509 -noout -text")
    assert cmd.rc == 0, cmd.stdout + cmd.stderr
    assert f"DNS:{WWW}" in cmd.stdout and f"DNS:{DOMAIN}" in cmd.stdout, cmd.stdout


def test_www_over_https_redirects_to_the_bare_name(host):
    out = host.check_output(f"curl -sk --max-time 10 --resolve {WWW}:443:127.0.0.1 -D - -o /dev/null 'https://{WWW}/a/b?c=1'")
    assert out.split()[1] == "301", out
    assert f"location: https://{DOMAIN}/a/b?c=1" in out.lower()
    assert "strict-transport-security: max-age=63072000" in out.lower()
    assert "x-content-type-options: nosniff" in out.lower()


def test_www_over_http_redirects_to_https_bare_name(host):
    out = host.check_output(f"curl -s -D - -o /dev/null -H 'Host: {WWW}' 'http://127.0.0.1/a/b?c=1'")
    assert out.split()[1] == "301", out
    assert f"Location: https://{DOMAIN}/a/b?c=1" in out
