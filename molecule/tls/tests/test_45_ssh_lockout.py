"""site.yml over a real SSH connection as a non-root sudo user, and the firewall's live-connection lockout check.

prepare.yml gives the container sshd on port 2222 only and a user `deployer` with passwordless sudo; this file
makes a key on the controller and authorises it. The inventory names no ansible_port: the connection's port comes
from `-p 2222` in ansible_ssh_common_args, as it would from a Port line in ~/.ssh/config. So only the live connection
(SSH_CONNECTION on the host) knows the real port and the address the host sees the controller at.
"""

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

SSH_PORT = 2222
DEPLOY_PAGE = "curl -sk --max-time 5 --resolve example.test:443:127.0.0.1 https://example.test/"


def _container():
    inv = yaml.safe_load(Path(os.environ["MOLECULE_INVENTORY_FILE"]).read_text(encoding="utf-8"))
    return next(iter(inv["all"]["hosts"]))


@pytest.fixture(scope="module")
def ssh(host):
    """A key made on the controller, authorised for deployer, and an inventory that reaches the container over SSH."""
    work = Path(tempfile.mkdtemp(prefix="pydeploy-ssh-"))
    key = work / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pydeploy-test", "-f", str(key)], check=True)
    pub = key.with_suffix(".pub").read_text(encoding="utf-8").strip()
    host.run_test("install -d -m 0700 -o deployer -g deployer /home/deployer/.ssh")
    host.run_test(f"echo '{pub}' > /home/deployer/.ssh/authorized_keys")
    host.run_test("chown deployer:deployer /home/deployer/.ssh/authorized_keys && chmod 0600 /home/deployer/.ssh/authorized_keys")
    address = subprocess.run(
        ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", _container()],
        capture_output=True, text=True, check=True).stdout.split()[0]
    ssh_args = f"-p {SSH_PORT} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes"
    # The address the container sees this controller at: what the firewall would filter.
    seen = subprocess.run(["ssh", *ssh_args.split(), "-i", str(key), f"deployer@{address}", "printenv SSH_CONNECTION"],
                          capture_output=True, text=True, timeout=60, check=True).stdout.split()
    assert len(seen) == 4 and int(seen[3]) == SSH_PORT, seen
    inventory = work / "inventory"
    shutil.copytree(Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent / "group_vars", inventory / "group_vars")
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"web": {"hosts": {"sshweb": {
        "ansible_host": address,
        "ansible_user": "deployer",
        "ansible_ssh_private_key_file": str(key),
        # No ansible_port: the port comes from the ssh arguments only.
        "ansible_ssh_common_args": ssh_args,
        "ansible_python_interpreter": "/usr/bin/python3",
    }}}}), encoding="utf-8")
    yield {"inventory": str(inventory / "hosts.yml"), "client": seen[0], "address": address, "key": str(key)}
    shutil.rmtree(work)


def run_over_ssh(ssh, extra_vars):
    cmd = ["ansible-playbook", "-i", ssh["inventory"], str(ROOT / "playbooks" / "site.yml")]
    for name, value in extra_vars.items():
        cmd += ["-e", yaml.safe_dump({name: value}, default_flow_style=True).strip()]
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, check=False)
    out = proc.stdout + proc.stderr
    recap = re.search(r"^sshweb\s*:.*$", proc.stdout, re.M)
    return proc.returncode, out, recap.group(0) if recap else ""


def nft(host):
    return host.check_output("nft list table inet pydeploy_firewall")


CASES = {
    # The connection uses 2222 (from -p), ansible_port is unset: the firewall would keep only 22 open.
    "port": ({"firewall_ssh_port": 22}, "set firewall_ssh_port to %d" % SSH_PORT),
    # The right port, but the controller's address is in none of the allowed networks.
    "sources": ({"firewall_ssh_port": SSH_PORT, "firewall_ssh_sources": ["198.51.100.0/24", "2001:db8::/32"]},
                "which is in none of firewall_ssh_sources"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_lockout_over_ssh_is_stopped_in_preflight(host, ssh, case):
    extra, message = CASES[case]
    before = nft(host)
    rc, out, recap = run_over_ssh(ssh, extra)
    assert rc != 0, out[-3000:]
    assert message in out, out[-3000:]
    assert "changed=0" in recap and "failed=1" in recap, recap
    assert "PLAY [Set up the host and deploy each app]" not in out
    assert nft(host) == before


def test_site_over_ssh_as_non_root_sudo_user(host, ssh):
    """The whole stack converges over SSH as a non-root sudo user, with SSH limited to the controller's address."""
    sources = [ssh["client"] + ("/128" if ":" in ssh["client"] else "/32"), "2001:db8::/32"]
    rc, out, recap = run_over_ssh(ssh, {"firewall_ssh_port": SSH_PORT, "firewall_ssh_sources": sources})
    assert rc == 0, out[-4000:]
    assert "failed=0" in recap and "unreachable=0" in recap, recap
    ruleset = nft(host)
    assert f"tcp dport {SSH_PORT} accept" in ruleset and ssh["client"] in ruleset, ruleset
    assert "Hello" in host.check_output(DEPLOY_PAGE)
    # A fresh connection (not the multiplexed master) still gets through the new ruleset, and sudo works.
    again = subprocess.run(["ssh", "-p", str(SSH_PORT), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                            "-o", "ControlPath=none", "-o", "ConnectTimeout=10", "-i", ssh["key"], f"deployer@{ssh['address']}",
                            "sudo -n true && echo ok"], capture_output=True, text=True, timeout=60, check=False)
    assert again.stdout.strip() == "ok", again
