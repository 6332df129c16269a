"""Let's Encrypt mode against Pebble: issued on the first run, renewed by certbot and served after a reload."""

import os
import subprocess
import time
from pathlib import Path

DOMAIN = "example.test"
CURL = f"curl -sk --max-time 10 --resolve {DOMAIN}:443:127.0.0.1"
SERVED = (
    "openssl s_client -connect 127.0.0.1:443 -servername {name} </dev/null 2>/dev/null"
    " | openssl x509 -noout -fingerprint -sha256 -serial -issuer -ext subjectAltName"
)
LIVE = "openssl x509 -noout -fingerprint -sha256 -serial -issuer -ext subjectAltName -in /etc/letsencrypt/live/hello/cert.pem"


def served(host, name=DOMAIN):
    return host.check_output(SERVED.format(name=name))


def nginx_master(host):
    return host.file("/run/nginx.pid").content_string.strip()


def test_certificate_issued_by_the_acme_server(host):
    out = served(host)
    assert "Pebble" in out, out  # Pebble's intermediate, not a self-signed or snake-oil certificate
    assert f"DNS:{DOMAIN}" in out
    assert out == host.check_output(LIVE)


def test_certificate_covers_the_www_name_which_redirects_to_the_bare_name(host):
    out = served(host, f"www.{DOMAIN}")
    assert "Pebble" in out, out
    assert f"DNS:www.{DOMAIN}" in out
    head = host.check_output(f"curl -sk --max-time 10 --resolve www.{DOMAIN}:443:127.0.0.1 -D - -o /dev/null https://www.{DOMAIN}/x?y=1")
    assert head.split()[1] == "301", head
    assert f"location: https://{DOMAIN}/x?y=1" in head.lower()


def test_https_serves_the_app(host):
    out = host.check_output(f"{CURL} -D - https://{DOMAIN}/")
    assert out.startswith("HTTP/2 200") and "Hello from pydeploy.web" in out
    assert "strict-transport-security: max-age=63072000" in out.lower()


def test_acme_path_stays_on_http_everything_else_redirects(host):
    probe = "/var/www/pydeploy-acme/.well-known/acme-challenge/pydeploy-probe"
    host.run_test(f"mkdir -p {os.path.dirname(probe)} && echo probe-token > {probe}")
    out = host.check_output(f"curl -s -H 'Host: {DOMAIN}' http://127.0.0.1/.well-known/acme-challenge/pydeploy-probe")
    assert out == "probe-token"
    code = host.check_output(f"curl -s -o /dev/null -w '%{{http_code}}' -H 'Host: {DOMAIN}' http://127.0.0.1/")
    assert code == "308"


def test_renewal_timer_active(host):
    timer = host.service("certbot.timer")
    assert timer.is_enabled and timer.is_running


def test_forced_renewal_served_after_reload_without_restart(host):
    before, pid = served(host), nginx_master(host)
    # What certbot.timer runs (certbot -q renew), forced: the deploy hook tests and reloads nginx.
    host.run_test("certbot -q renew --force-renewal --no-random-sleep-on-renew")
    after = before
    for _attempt in range(50):
        after = served(host)
        if after != before:
            break
        time.sleep(0.2)
    assert after != before, "nginx still serves the old certificate"
    assert after == host.check_output(LIVE)
    assert nginx_master(host) == pid, "nginx was restarted, not reloaded"


def test_failed_order_keeps_the_http_site_and_names_the_reason(host):
    # Pebble's DNS now fails for fail.test, so the HTTP-01 validation of that name fails.
    host.run_test("curl -s -X POST -d '{\"host\": \"fail.test.\"}' http://127.0.0.1:8055/set-servfail")
    playbook = Path(__file__).resolve().parents[1] / "failing-order.yml"
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    result = subprocess.run(
        ["ansible-playbook", "-i", inventory, str(playbook)], capture_output=True, text=True, timeout=600, check=False
    )
    out = result.stdout + result.stderr
    assert result.returncode != 0, out[-3000:]
    assert "Let's Encrypt did not issue a certificate for fail.test" in out, out[-3000:]
    # certbot's reason, from the CA: the name could not be resolved (Pebble's DNS answered SERVFAIL).
    assert "Domain: fail.test" in out and "could not resolve" in out, out[-3000:]
    # The new site serves plain HTTP (its ACME path works, no redirect to an HTTPS that does not exist) ...
    acme = host.check_output("curl -s -H 'Host: fail.test' http://127.0.0.1/.well-known/acme-challenge/pydeploy-probe")
    assert acme == "probe-token"
    # ... and the existing HTTPS site is untouched.
    assert "Hello from pydeploy.web" in host.check_output(f"{CURL} https://{DOMAIN}/")
    assert host.run("openssl s_client -connect 127.0.0.1:443 -servername fail.test </dev/null").rc != 0
