"""Helpers for the tls scenario: run the site playbook from the controller and make test certificates."""

import datetime
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "molecule" / "resources" / "tests"))
DOMAIN = "example.test"


def make_key():
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def cert_pem(key, names: tuple = (DOMAIN, "www." + DOMAIN), cn: str = "pydeploy provided test") -> str:
    """A self-signed certificate for names (the scenario redirects www.example.test, so it covers that by default)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def run_site(extra_vars: dict, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run pydeploy.web.site against the Molecule instance with extra vars from a file (not the command line)."""
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(extra_vars, fh)
    try:
        cmd = ["ansible-playbook", "-i", inventory, str(ROOT / "playbooks" / "site.yml"), "-e", f"@{fh.name}", *args]
        env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    finally:
        os.unlink(fh.name)


@pytest.fixture(scope="session")
def site():
    return run_site
