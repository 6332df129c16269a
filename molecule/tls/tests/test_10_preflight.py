"""Bad TLS input stops the play in the preflight play, before any host change, naming the variable."""

import pytest
from conftest import DOMAIN, cert_pem, key_pem, make_key

WATCHED = ["/etc/nginx/sites-available/hello.conf", "/etc/nginx/nginx.conf", "/etc/nginx/tls/hello.key"]


def _snapshot(host):
    files = {p: host.file(p).sha256sum for p in WATCHED}
    return files, host.file("/run/nginx.pid").content_string.strip()


KEY_A, KEY_B = make_key(), make_key()
CASES = {
    "mismatched_key": (
        {"nginx_tls_mode": "provided", "nginx_tls_certificate": cert_pem(KEY_A), "nginx_tls_private_key": key_pem(KEY_B)},
        "nginx_tls_private_key does not match nginx_tls_certificate",
    ),
    "missing_key": (
        {"nginx_tls_mode": "provided", "nginx_tls_certificate": cert_pem(KEY_A), "nginx_tls_private_key": ""},
        "Missing or not PEM: nginx_tls_private_key",
    ),
    # nginx_www_redirect is true in this scenario: the certificate must cover www.example.test too.
    "provided_without_www": (
        {"nginx_tls_mode": "provided", "nginx_tls_certificate": cert_pem(KEY_A, names=(DOMAIN,)), "nginx_tls_private_key": key_pem(KEY_A)},
        "nginx_tls_certificate, which does not cover www.example.test",
    ),
    "letsencrypt_without_email": (
        {"nginx_tls_mode": "letsencrypt", "nginx_letsencrypt_email": ""},
        "nginx_letsencrypt_email must be",
    ),
    "letsencrypt_without_domains": (
        {"nginx_tls_mode": "letsencrypt", "nginx_letsencrypt_email": "ops@" + DOMAIN, "app_domains": []},
        "app_domains must list",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_tls_input_fails_in_preflight(host, site, case):
    extra, message = CASES[case]
    before = _snapshot(host)
    result = site(extra)
    out = result.stdout + result.stderr
    assert result.returncode != 0, out[-3000:]
    assert message in out, out[-3000:]
    # It stopped in the first play: the deploy play never started and the host is as it was.
    assert "PLAY [Set up the host and deploy each app]" not in out
    assert " changed=0 " in out, out[-1000:]
    assert _snapshot(host) == before
    # The private key never shows, even in a failure message.
    secret_lines = [line for line in extra.get("nginx_tls_private_key", "").splitlines() if "-----" not in line]
    assert not any(line in out for line in secret_lines)
