"""Switch to a provided certificate with -v --diff: secrets never show, the new certificate is served.

Runs last: it changes the host (TLS mode, app_env, MemoryDenyWriteExecute off)."""

import base64
import hashlib
import re
import secrets

import pytest
from conftest import DOMAIN, cert_pem, key_pem, make_key
from pydeploy_testlib import live_unit

CURL = f"curl -sk --max-time 10 --resolve {DOMAIN}:443:127.0.0.1"
KEY = make_key()
CERT = cert_pem(KEY)
SECRET = f"pydeploy-secret-{secrets.token_hex(8)}"


@pytest.fixture(scope="module")
def converge(site):
    extra = {
        "nginx_tls_mode": "provided",
        "nginx_tls_certificate": CERT,
        "nginx_tls_private_key": key_pem(KEY),
        "app_env": {"GREETING": "Hello", "API_TOKEN": SECRET},
        "gunicorn_memory_deny_write_execute": False,
    }
    result = site(extra, "-v", "--diff")
    return result


def test_converge_succeeds(converge):
    assert converge.returncode == 0, (converge.stdout + converge.stderr)[-4000:]


def test_secrets_absent_from_verbose_diff_output(converge):
    out = converge.stdout + converge.stderr
    # The tasks that wrote them ran (and changed) in this very output.
    assert "Write the provided private key" in out and "Write the env file" in out
    assert SECRET not in out
    body = [line for line in key_pem(KEY).splitlines() if "-----" not in line]
    assert body and not any(line in out for line in body)


def test_provided_certificate_served(host, converge):
    served = host.check_output(
        f"openssl s_client -connect 127.0.0.1:443 -servername {DOMAIN} </dev/null 2>/dev/null | openssl x509 -outform DER | sha256sum"
    ).split()[0]
    der = re.sub(r"-----[A-Z ]+-----|\s", "", CERT)
    assert served == hashlib.sha256(base64.b64decode(der)).hexdigest()


def test_private_key_file_root_0600(host, converge):
    key = host.file("/etc/nginx/tls/hello.key")
    assert (key.user, key.group, key.mode) == ("root", "root", 0o600)


def test_env_file_holds_secret_for_the_app_only(host, converge):
    env = host.file("/etc/pydeploy/hello/env")
    assert (env.user, env.group, env.mode) == ("root", "root", 0o600)
    assert SECRET in env.content_string


def test_memory_deny_write_execute_can_be_turned_off(host, converge):
    assert host.check_output(f"systemctl show -p MemoryDenyWriteExecute --value {live_unit(host)}.service") == "no"
    assert "Hello from pydeploy.web" in host.check_output(f"{CURL} https://{DOMAIN}/")
