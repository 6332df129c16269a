"""Fixtures of the cloud tests: moto (EC2 API) and the DigitalOcean stand-in, both on 127.0.0.1 at free ports, and a
runner for ansible-playbook and ansible-inventory whose requests cannot leave this machine.

These tests take under two minutes and run from scripts/cloud-tests.sh, which sets PYDEPLOY_CLOUD_TESTS=1; a plain
`pytest tests/` does not collect them.
"""

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ENABLED = os.environ.get("PYDEPLOY_CLOUD_TESTS") == "1"
# Settings a developer's shell may hold that must not reach the tests: real credentials, endpoints, proxies.
SCRUBBED_PREFIXES = ("AWS_", "DO_", "DIGITALOCEAN_", "PYDEPLOY_EC2_", "PYDEPLOY_DO_", "ANSIBLE_", "BOTO")
SCRUBBED = {"OAUTH_TOKEN", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"}


# Not even imported without PYDEPLOY_CLOUD_TESTS=1 (they need boto3 and moto, which only the tool venv has).
collect_ignore_glob = [] if ENABLED else ["test_*.py"]


def pytest_report_header(config):  # pylint: disable=unused-argument  # pytest's hook signature
    if not ENABLED:
        return "tests/cloud: not collected; scripts/cloud-tests.sh runs them (PYDEPLOY_CLOUD_TESTS=1)"
    return None


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def die_with_parent():
    """In the child before exec: on Linux, get SIGTERM when the test process dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def http_get(url, headers=None, timeout=5):
    """GET without any proxy (the tests' own requests go straight to loopback)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=timeout) as resp:
        return resp.status, resp.read()


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory):
    """moto in server mode (its own process) on 127.0.0.1."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(  # pylint: disable=consider-using-with  # stopped below, after the tests
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    url = "http://127.0.0.1:%d" % port
    deadline = time.monotonic() + 60
    while True:
        try:
            http_get(url + "/moto-api/", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("moto did not start: %s" % log.read_text())
            time.sleep(0.2)
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def base_env(tmp_path_factory):
    """The environment of every ansible command here: no credentials or settings from the caller, the checkout's
    venv on PATH, JSON output, and every non-loopback HTTP(S) request sent to a closed local port."""
    tmp = tmp_path_factory.mktemp("ansible")
    (tmp / "ansible.cfg").write_text("[defaults]\ninterpreter_python = auto_silent\n[connection]\npipelining = true\n")
    trap = "http://127.0.0.1:%d" % free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith(SCRUBBED_PREFIXES) and k.upper() not in SCRUBBED}
    env.update({
        "PATH": os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
        "ANSIBLE_CONFIG": str(tmp / "ansible.cfg"),
        "ANSIBLE_HOME": str(tmp / "home"),
        # The checkout as the pydeploy.web collection (its filters), as the checkout's ansible.cfg or an installed
        # collection gives it; the cloud collections come from the venv's site-packages.
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_NOCOLOR": "1",
        "HTTP_PROXY": trap, "HTTPS_PROXY": trap, "http_proxy": trap, "https_proxy": trap,
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        # boto3 would otherwise ask the EC2 instance metadata service (169.254.169.254) for credentials.
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-aws-credentials"),
    })
    return env


def plain(value):
    """A value of ansible-inventory's JSON without the {"__ansible_unsafe": ...} wrappers."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


class Run:
    """One ansible-playbook run, read from the ansible.posix.json callback."""

    def __init__(self, proc):
        self.rc = proc.returncode
        self.output = proc.stdout + proc.stderr
        try:
            self.data = plain(json.loads(proc.stdout))
        except ValueError:
            self.data = None
        stats = (self.data or {}).get("stats", {}).get("localhost", {})
        self.changed = stats.get("changed")
        self.failures = stats.get("failures")
        self.results = [(task["task"]["name"], task["hosts"]["localhost"])
                        for play in (self.data or {}).get("plays", []) for task in play["tasks"]
                        if "localhost" in task["hosts"]]

    @property
    def failed_tasks(self):
        return [name for name, res in self.results if res.get("failed")
                or any(r.get("failed") for r in res.get("results", []))]

    @property
    def failure_message(self):
        msgs = []
        for entry in self.results:
            for r in [entry[1]] + entry[1].get("results", []):
                if r.get("failed"):
                    msgs.append(str(r.get("msg")) + " " + " ".join(r.get("argument_errors", [])))
        return "\n".join(msgs)

    def changed_tasks(self):
        return [name for name, res in self.results if res.get("changed")]

    def __repr__(self):
        return "<Run rc=%s changed=%s failed=%s>\n%s" % (self.rc, self.changed, self.failed_tasks, self.output[-4000:])


@pytest.fixture(scope="session")
def ansible(base_env):
    """ansible(["ansible-playbook", ...], env_overrides) -> Run, run in the checkout."""

    def run(argv, extra_env=None, timeout=300):
        env = dict(base_env, **(extra_env or {}))
        proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        return Run(proc)

    return run


@pytest.fixture(scope="session")
def run_playbook(ansible):
    """run_playbook(ctx, "provision_ec2", env=None, name="vars", **overrides) -> Run: the playbook with ctx.vars and
    the overrides as extra vars (an override of None leaves the variable out), in ctx.env unless env is given.
    name names the vars file, so that runs side by side do not share one."""

    def run(ctx, playbook, env=None, name="vars", **overrides):
        extra = {k: v for k, v in dict(ctx.vars, **overrides).items() if v is not None}
        path = ctx.tmp / ("%s.json" % name)
        path.write_text(json.dumps(extra))
        return ansible(["ansible-playbook", "playbooks/%s.yml" % playbook, "-e", "@%s" % path],
                       ctx.env if env is None else env)

    return run
