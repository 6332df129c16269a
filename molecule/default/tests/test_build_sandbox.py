"""A committer to the app's repository attacks the host through the build, and gets nothing.

The build runs the repository's code (a setup.py run by the installer, release commands) as the app user in a
transient unit with the app's sandbox, which ends with every process it started; root seals the release only then,
and decides nothing from what the build could have written (docs/security.md: The build's sandbox and sealing).

Each test publishes its own commits and ends by deploying a harmless commit with the inventory's settings, so it runs
on its own against the converged scenario and leaves the app serving. Debian 12 only (about 4 minutes).
"""

import os
import textwrap
import uuid

import pytest
from pydeploy_testlib import APP, http, live_release, playbook, publish_commit

pytestmark = pytest.mark.skipif(os.environ.get("MOLECULE_DISTRO", "bookworm") != "bookworm", reason="Debian 12 only")

ROOT = f"/srv/{APP}"
LEFTOVER = "pydeploy-leftover-build-process"
# For pgrep and pkill: matches the process, not the shell that runs pgrep with this pattern on its command line.
LEFTOVER_PATTERN = "pydeploy-leftover-build-proces[s]"

# Installed as the project itself (app_lockfile none), so the installer runs it as the app user during the build.
SETUP_PY = textwrap.dedent(f'''
    import os, subprocess, sys
    from setuptools import setup

    ROOT = "{ROOT}"
    here = [d for d in (os.path.dirname(os.path.abspath(__file__)), os.getcwd()) if d.startswith(ROOT + "/releases/")]
    release = here[0] if here else ""
    venvs = [os.path.join(ROOT, "venvs", n) for n in os.listdir(ROOT + "/venvs")]
    # A setuid/setgid copy of a shell script wherever the app user can write.
    for directory in [release, ROOT + "/.cache", ROOT + "/shared/instance"] + venvs:
        try:
            path = os.path.join(directory, "pydeploy-suid")
            with open(path, "w") as fh:
                fh.write("#!/bin/sh\\nid\\n")
            os.chmod(path, 0o6777)
        except OSError:
            pass
    # A process that outlives the build, in a session of its own.
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)", "{LEFTOVER}"], start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # A second name for a file of the release: from the app's shared data, else from inside the release.
    if release:
        link = os.path.join(release, "static", "pydeploy-hardlink.txt")
        for source in (ROOT + "/shared/instance/pydeploy-hardlink-source", os.path.join(release, "app.py")):
            try:
                if source.startswith(ROOT + "/shared/"):
                    with open(source, "w") as fh:
                        fh.write("planted\\n")
                os.link(source, link)
                break
            except OSError:
                pass

    setup(name="hello", version="1.0", py_modules=[], install_requires=["flask>=2.2"])
''')


def setuid_files(host):
    return host.run(f"find {ROOT} -xdev -perm /6000 -print").stdout.split()


def leftovers(host):
    return host.run(f"pgrep -f '{LEFTOVER_PATTERN}'").stdout.split()


def restore(host):
    """A harmless commit with the inventory's settings is live and serving, and nothing the attack left remains."""
    host.run(f"pkill -f '{LEFTOVER_PATTERN}'")
    host.run(f"rm -f {ROOT}/shared/instance/pydeploy-* {ROOT}/.cache/pydeploy-*")
    publish_commit(message="build sandbox: the example as it was")  # the example's own VERSION, as later tests expect
    playbook("playbooks/deploy.yml")
    assert http(host, "/")["status"] == 200


def stat(host, path):
    f = host.file(path)
    return (f.user, f.group, f.mode)


def test_a_setup_py_that_attacks_the_host_fails_the_deploy_and_leaves_nothing_behind(host):
    live, page = live_release(host), http(host, "/")
    assert page["status"] == 200
    try:
        publish_commit(version="setup-py-attack", edits={"setup.py": SETUP_PY})
        rc, out = playbook("playbooks/deploy.yml", {"app_lockfile": "none"}, check=False)
        seen = {
            # No setuid or setgid file anywhere under the app root (the sandbox refuses the bits; the seal clears them).
            "setuid/setgid files": setuid_files(host),
            # Whatever the build started ended with its unit.
            "processes left by the build": leftovers(host),
            # The hard link fails the deploy, naming the file, before the release can go live.
            "deploy succeeded": rc == 0,
            "failure names the hard-linked file": ("hard-linked files in the build" in out
                                                   and "static/pydeploy-hardlink.txt" in out),
            "live release kept": live_release(host) == live,
            "same page served": http(host, "/")["body"] == page["body"],
        }
        assert seen == {"setuid/setgid files": [], "processes left by the build": [], "deploy succeeded": False,
                        "failure names the hard-linked file": True, "live release kept": True,
                        "same page served": True}, out[-3000:]
    finally:
        restore(host)


@pytest.mark.parametrize("outcome", ["fails", "succeeds"])
def test_a_release_command_cannot_make_root_trust_a_planted_venv_link_or_marker(host, outcome):
    victim = f"/etc/pydeploy-victim-{outcome}"
    host.run_test(f"rm -rf {victim} && mkdir -m 0755 {victim} && install -m 0600 /dev/null {victim}/secret")
    live, page = live_release(host), http(host, "/")
    command = "ln -sfn %s .venv && mkdir -p .pydeploy && echo planted > .pydeploy/complete" % victim
    if outcome == "fails":
        command += " && exit 1"
    settings = {"app_release_commands": [command]}
    try:
        publish_commit(version=f"planted-{outcome}-{uuid.uuid4().hex[:8]}")
        # The same commit twice: the second run must not trust what the first one's release command left.
        for attempt in (1, 2):
            rc, out = playbook("playbooks/deploy.yml", settings, check=False)
            assert stat(host, victim) == ("root", "root", 0o755), f"attempt {attempt}"
            assert stat(host, f"{victim}/secret") == ("root", "root", 0o600), f"attempt {attempt}"
            if outcome == "fails":
                assert rc != 0
                assert "failed to build in task 'build | Run the release commands" in out, out[-3000:]
                assert live_release(host) == live
                assert http(host, "/")["body"] == page["body"]
            else:
                assert rc == 0, out[-3000:]
                release = live_release(host)
                assert release != live
                venv = host.file(f"{release}/.venv")
                assert venv.is_symlink and venv.user == "root"
                assert venv.linked_to.startswith(f"{ROOT}/venvs/")
                assert http(host, "/")["status"] == 200
    finally:
        restore(host)
        host.run(f"rm -rf {victim}")


def test_other_users_cannot_read_the_app_but_nginx_serves_its_static_files(host):
    release = live_release(host)
    venv = host.file(f"{release}/.venv").linked_to
    for path in (f"{release}/app.py", f"{release}/REVISION", f"{venv}/pyvenv.cfg", f"{ROOT}/deploys.log"):
        assert host.file(path).exists, path
        assert host.run("runuser -u nobody -- cat %s", path).rc != 0, path
        assert host.run("runuser -u %s -- cat %s", APP, path).rc == 0, path
    for directory in (release, f"{venv}/lib", f"{ROOT}/venvs", f"{ROOT}/releases"):
        assert host.run("runuser -u nobody -- ls %s", directory).rc != 0, directory
    assert host.run("runuser -u %s -- %s/.venv/bin/python -c 'import flask'", APP, release).rc == 0
    # nginx (www-data) reads the static paths through directories it may only traverse.
    assert host.run("runuser -u www-data -- cat %s/static/hello.txt", release).rc == 0
    assert host.run("runuser -u www-data -- cat %s/app.py", release).rc != 0
    assert http(host, "/static/hello.txt")["status"] == 200
    assert http(host, "/static/style.css")["status"] == 200
