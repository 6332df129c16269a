"""Host safety: secrets off command lines, root never acting through the app user's paths, private repositories.

Runs on Debian 12 after test_default.py. The git server is sshd plus a git user on the test host (prepare.yml).
"""

import hashlib
import json
import os
import subprocess
import tempfile
import time
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from pydeploy_testlib import APP, http, live_release, playbook, publish_commit

pytestmark = pytest.mark.skipif(os.environ.get("MOLECULE_DISTRO", "bookworm") != "bookworm", reason="Debian 12 only")

BASE = {"app_env": {"GREETING": "Bonjour"}}
SSH_REPO = "git@localhost:flask_hello.git"
DUMB_HTTP = r"""
import base64, functools, http.server, sys
token = open(sys.argv[1]).read().strip()
class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.headers.get("Authorization") != "Basic " + base64.b64encode(("deploy:" + token).encode()).decode():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.end_headers()
            return
        super().do_GET()
http.server.ThreadingHTTPServer(("127.0.0.1", 8008), functools.partial(Handler, directory="/home/git")).serve_forever()
"""


def deploy(extra=None, args=(), check=True, book="playbooks/deploy.yml"):
    """Run a playbook with extra vars from a file, so no test secret is on the controller's command line either."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump({**BASE, **(extra or {})}, fh)
    try:
        return playbook(book, None, check=check, args=("-e", "@" + fh.name, *args))
    finally:
        os.unlink(fh.name)


def as_app(host, script):
    return host.run("runuser -u %s -- sh -c %s", APP, script)


def ssh_key():
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private.decode(), public.decode()


def host_key_line(host):
    return "localhost " + " ".join(host.file("/etc/ssh/ssh_host_ed25519_key.pub").content_string.split()[:2])


def git_main(host, repo):
    return host.check_output("git --git-dir %s rev-parse main", repo).strip()


@pytest.fixture(scope="module", autouse=True)
def good_commit():
    """Whatever ran before (test_default.py ends on broken commits), these tests start from a commit that serves."""
    return publish_commit(version="host-safety")


def test_secrets_never_reach_a_command_line_the_journal_or_verbose_output(host):
    secret = "pydeploy-secret-" + uuid.uuid4().hex
    host.run_test("systemd-run --unit=pydeploy-ps-sampler sh -c 'for i in $(seq 1200); do ps -eww -o user=,args=; sleep 0.05; done"
                  " > /root/ps-samples.txt 2>&1'")
    try:
        out = deploy({
            "app_env": {"GREETING": "Bonjour", "API_TOKEN": secret},
            # The command sees the secret (it fails otherwise) and runs long enough for ps to sample it. It compares a
            # digest, so the secret itself is in no argument the test passes either.
            "app_release_commands": ['test "$(printf %%s "$API_TOKEN" | sha256sum | cut -d" " -f1)" = %s && sleep 2'
                                     ' && touch instance/release-command-ran' % hashlib.sha256(secret.encode()).hexdigest()],
        }, args=("-vvv",))[1]
    finally:
        host.run("systemctl stop pydeploy-ps-sampler")
    assert host.file(f"/srv/{APP}/shared/instance/release-command-ran").exists
    assert secret not in out
    samples = host.file("/root/ps-samples.txt").content_string
    assert "systemd-run" in samples or "sleep 2" in samples, "the sampler saw nothing of the deploy"
    assert secret not in samples
    assert secret not in host.check_output("journalctl --no-pager -o cat")
    env = host.file(f"/etc/pydeploy/{APP}/env")
    assert (env.user, env.group, env.mode) == ("root", "root", 0o600)
    assert http(host, "/")["body"].startswith("Bonjour")


def test_the_app_user_can_change_nothing_root_acts_on(host):
    for path in ("", "/releases", "/venvs", "/current", "/deploys.log", "/repo.git", "/current/app.py", "/current/.venv/bin/python",
                 "/current/.pydeploy/complete"):
        f = host.file(f"/srv/{APP}{path}")
        assert f.exists, path
        assert f.user == "root", path
    for attempt in (f"touch /srv/{APP}/x", f"ln -sfn / /srv/{APP}/current", f"echo x >> /srv/{APP}/deploys.log",
                    f"touch /srv/{APP}/current/app.py", f"touch /srv/{APP}/current/.venv/bin/x", f"ls /srv/{APP}/repo.git"):
        assert as_app(host, attempt).rc != 0, attempt
    assert as_app(host, f"touch /srv/{APP}/shared/instance/x && rm /srv/{APP}/shared/instance/x").rc == 0


def test_a_link_planted_in_shared_data_does_not_redirect_root(host):
    host.run_test("mkdir -p /etc/pydeploy-victim && chown root:root /etc/pydeploy-victim && chmod 0755 /etc/pydeploy-victim")
    shared = f"/srv/{APP}/shared/instance"
    host.run_test(f"cp -a {shared} /root/instance-backup")
    assert as_app(host, f"rm -rf {shared} && ln -s /etc/pydeploy-victim {shared}").rc == 0
    try:
        deploy(check=False, book="site.yml")
        victim = host.file("/etc/pydeploy-victim")
        assert (victim.user, victim.group, victim.mode) == ("root", "root", 0o755)
    finally:
        host.run_test(f"rm -f {shared} && cp -a /root/instance-backup {shared}")
    deploy(book="site.yml")


def test_a_link_in_place_of_an_app_directory_is_refused(host):
    # As on a host upgraded from 0.1, where the app user owned app_root and could have replaced .cache by a link.
    cache = f"/srv/{APP}/.cache"
    host.run_test(f"mv {cache} /root/cache-kept && ln -s /etc {cache}")
    try:
        rc, out = deploy(check=False, book="site.yml")
        assert rc != 0
        assert f"{cache} is a symbolic link" in out
        etc = host.file("/etc")
        assert (etc.user, etc.group, etc.mode) == ("root", "root", 0o755)
    finally:
        host.run_test(f"rm {cache} && mv /root/cache-kept {cache}")
    assert http(host, "/")["status"] == 200


def test_links_committed_in_the_repo_are_neutralised(host):
    host.run_test("mkdir -p /etc/pydeploy-victim2 && chmod 0755 /etc/pydeploy-victim2")
    links = {"static/leak": "/etc", ".pydeploy": "/etc/pydeploy-victim2", "static/inside": "hello.txt"}
    commit = publish_commit(version="links", links=links)
    out = deploy()[1]
    release = live_release(host)
    assert commit[:12] in release
    assert not host.file(f"{release}/static/leak").exists
    assert http(host, "/static/leak/hostname")["status"] == 404
    assert http(host, "/static/inside")["status"] == 200  # a link inside the release stays
    assert host.file(f"{release}/.pydeploy").is_directory
    assert not host.file(f"{release}/.pydeploy").is_symlink
    victim = host.file("/etc/pydeploy-victim2")
    assert victim.user == "root" and host.check_output("ls -A /etc/pydeploy-victim2") == ""
    assert "static/leak" in out


def test_changed_build_inputs_build_a_new_release_and_leave_the_live_venv_alone(host):
    before = live_release(host)
    old_venv = host.file(f"{before}/.venv").linked_to
    old_listing = host.check_output(f"ls -R {old_venv}/lib")
    deploy({"app_shared_paths": ["instance", "uploads"], "app_python_packages": ["six"]})
    after = live_release(host)
    assert after != before
    assert after.split("-")[0] == before.split("-")[0]  # same commit, new build inputs
    assert host.file(f"{after}/uploads").linked_to == f"/srv/{APP}/shared/uploads"
    assert as_app(host, f"touch {after}/uploads/x").rc == 0
    assert host.run(f"runuser -u {APP} -- {after}/.venv/bin/python -c 'import six'").rc == 0
    assert host.check_output(f"ls -R {old_venv}/lib") == old_listing
    deploy()  # back to the inventory's inputs


def test_check_mode_reports_a_pending_change_and_changes_nothing(host):
    live = live_release(host)
    publish_commit(version="pending")
    host.run_test("touch -d '1 second ago' /root/before-check")
    rc, out = deploy(args=("--check", "--diff"), book="site.yml", check=False)
    assert rc == 0, out[-3000:]
    assert "Would build release" in out
    assert "Would gate release" in out
    assert live_release(host) == live
    # Everything the roles own (the app's shared data is the app's own to write).
    touched = host.run("find /srv /etc/pydeploy /etc/nginx /etc/systemd/system /etc/nftables.conf -path '/srv/*/shared' -prune"
                       " -o -newer /root/before-check -print 2>/dev/null").stdout.split()
    assert touched == []


@pytest.fixture(scope="module")
def deploy_key(host):
    private, public = ssh_key()
    host.run_test("install -o git -g git -m 0600 /dev/null /home/git/.ssh/authorized_keys")
    host.run_test("printf '%%s\\n' %s > /home/git/.ssh/authorized_keys", public)
    return private


def test_private_repo_over_ssh_with_a_deploy_key_and_a_pinned_host_key(host, deploy_key):
    deploy({"app_repo": SSH_REPO, "app_repo_deploy_key": deploy_key, "app_repo_known_hosts": [host_key_line(host)]})
    commit = git_main(host, "/home/git/flask_hello.git")
    assert host.file(f"{live_release(host)}/REVISION").content_string.strip() == commit
    key = host.file(f"/etc/pydeploy/{APP}/deploy_key")
    assert (key.user, key.mode) == ("root", 0o600)
    assert as_app(host, f"cat /etc/pydeploy/{APP}/deploy_key").rc != 0
    assert http(host, "/")["status"] == 200


@pytest.mark.parametrize("case", ["unknown host key", "key the server does not know"])
def test_a_private_repo_that_cannot_be_trusted_or_read_fails_and_the_live_release_serves(host, deploy_key, case):
    live, page = live_release(host), http(host, "/")["body"]
    extra = {"app_repo": SSH_REPO, "app_repo_deploy_key": deploy_key, "app_repo_known_hosts": [host_key_line(host)]}
    if case == "unknown host key":
        extra["app_repo_known_hosts"] = []
        expect = "Host key verification failed"
    else:
        extra["app_repo_deploy_key"] = ssh_key()[0]
        expect = "Permission denied"
    rc, out = deploy(extra, check=False)
    assert rc != 0
    assert expect in out
    assert live_release(host) == live
    assert http(host, "/")["body"] == page


def test_push_to_deploy_repository_owned_by_another_user(host):
    deploy({"app_repo": "/home/git/flask_hello.git"})
    assert host.file(f"{live_release(host)}/REVISION").content_string.strip() == git_main(host, "/home/git/flask_hello.git")
    trusted = host.run("git config --system --get-all safe.directory").stdout + host.run("git config --global --get-all safe.directory").stdout
    assert "/home/git" not in trusted  # git's ownership check stays on for every other use


def test_https_token_is_never_shown_nor_readable_by_other_users(host):
    token = "tok" + uuid.uuid4().hex
    host.run_test("printf '%%s' %s > /root/git-token && chmod 600 /root/git-token", token)
    host.run_test("printf '%%s' %s > /root/dumb-http.py", DUMB_HTTP)
    host.run_test("runuser -u git -- git --git-dir /home/git/flask_hello.git update-server-info")
    host.run_test("chmod o+rx /home/git")
    host.run_test("systemd-run --unit=pydeploy-dumb-http python3 /root/dumb-http.py /root/git-token")
    try:
        time.sleep(1)
        repo = f"http://deploy:{token}@127.0.0.1:8008/flask_hello.git"
        out = deploy({"app_repo": repo}, args=("-vvv",))[1]
        assert token not in out
        readable = host.run(f"grep -rl {token} /srv /etc /tmp /var/log /home --exclude-dir=proc 2>/dev/null").stdout.split()
        assert readable == [f"/etc/pydeploy/{APP}/git-credentials"]
        cred = host.file(readable[0])
        assert (cred.user, cred.mode) == ("root", 0o600)
        rc, out = deploy({"app_repo": f"http://deploy:wrong{token}@127.0.0.1:8008/flask_hello.git"}, args=("-vvv",), check=False)
        assert rc != 0
        assert token not in out
    finally:
        host.run("systemctl stop pydeploy-dumb-http")


def test_release_from_a_repository_on_the_controller(host):
    repo = os.path.join(os.environ["PYDEPLOY_EXAMPLES_DIR"], "flask_hello.git")
    deploy({"app_source": "controller", "app_repo": repo})
    commit = subprocess.run(["git", "--git-dir", repo, "rev-parse", "main"], capture_output=True, text=True, check=True).stdout.strip()
    assert host.file(f"{live_release(host)}/REVISION").content_string.strip() == commit
    live = live_release(host)
    rc, out = deploy({"app_source": "controller", "app_repo": "/nonexistent/pydeploy-repo"}, check=False)
    assert rc != 0
    assert "/nonexistent/pydeploy-repo" in out
    assert live_release(host) == live


def test_back_to_the_inventory_source(host):
    assert playbook("playbooks/deploy.yml", None)[0] == 0  # the inventory's settings, as the next tests expect
    assert http(host, "/")["status"] == 200
