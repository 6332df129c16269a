"""Inputs that could cross a boundary of the host (docs/security.md): app_user, app names, process names and app_root
that name what the collection did not make are refused in the preflight play, naming the variable and the app, and
nothing on the host changes; app_purge never deletes a login account; nginx follows no link planted in a static
directory."""

import json

import pytest
from conftest import DOMAIN
from pydeploy_testlib import APP, apps_playbook

# What a refused run must leave exactly as it was: the accounts, the units, the apps' trees and records, nginx.
STATE = ("sha256sum /etc/passwd /etc/group /etc/nginx/sites-available/* /etc/nginx/nginx.conf;"
         " ls -la /etc/systemd/system /srv /opt /etc/pydeploy /etc/tmpfiles.d; ls -la /var/lib/pydeploy/apps || true;"
         " cat /run/nginx.pid")
OTHER = {"app_repo": "/opt/pydeploy-examples/flask_hello.git", "app_version": "main", "app_wsgi": "app:app",
         "app_health_path": "/healthz"}


def http(host, path="/"):
    """GET over HTTPS with the site's name (this scenario's port 80 redirects, and nginx wants the name in SNI)."""
    out = host.run(f"curl -sk --max-time 10 -w '\\n%{{http_code}}' --resolve {DOMAIN}:443:127.0.0.1 https://{DOMAIN}{path}")
    body, status = ("\n" + out.stdout).rsplit("\n", 1)
    return {"status": int(status or 0), "body": body.lstrip("\n")}


def snapshot(host):
    return host.check_output(STATE)


@pytest.fixture(scope="module")
def accounts(host):
    """A login account (as admin on EC2) and a system account with its home outside /home, made for these tests."""
    host.run_test("id tester || useradd --create-home --shell /bin/bash tester")
    host.run_test("id svc || useradd --system --home-dir /opt/svc --create-home --shell /usr/sbin/nologin svc")
    yield
    host.run("userdel --remove tester; userdel --remove svc")


SINGLE = {
    "app_user_root": ({"app_user": "root"}, "hello: app_user root is a system account"),
    "app_user_www_data": ({"app_user": "www-data"}, "hello: app_user www-data is a system account"),
    "app_user_login_account": ({"app_user": "tester"}, "hello: app_user tester is an account of this host that can log in"),
    "app_user_other_system_account": ({"app_user": "svc"}, "hello: app_user svc exists on this host and was not made by pydeploy.web for hello"),
    "app_user_existing_group": ({"app_user": "sudo"}, "hello: app_user sudo is not a user, but a group of that name exists"),
    "app_name_of_a_distribution_unit": ({"app_name": "getty"}, "getty: app_name getty would take the name of /lib/systemd/system/getty"),
    "app_name_of_a_distribution_timer": ({"app_name": "apt-daily"}, "apt-daily: app_name apt-daily would take the name of /lib/systemd/system/apt-daily."),
    "process_name_of_a_distribution_unit": (
        {"app_name": "serial", "app_processes": {"getty": "sleep infinity"}},
        "serial: app_processes or app_timers getty would take the name of /lib/systemd/system/serial-getty@.service"),
    "app_root_home_directory": ({"app_root": "/opt/svc"}, "hello: app_root /opt/svc is the home directory of the account svc"),
    "app_root_in_a_home_directory": ({"app_root": "/home/tester/hello"}, "hello: app_root /home/tester/hello is inside /home"),
    "app_root_system_directory": ({"app_root": "/usr/local/hello"}, "hello: app_root /usr/local/hello is inside /usr"),
    "app_root_shared_directory": ({"app_root": "/opt"}, "hello: app_root /opt is a directory the system or other software shares"),
    "app_root_not_normalised": ({"app_root": "/srv/x/../hello"}, "hello: app_root /srv/x/../hello must be an absolute, normalised path"),
    "app_root_existing_directory": (
        {"app_root": "/opt/pydeploy-examples"},
        "hello: app_root /opt/pydeploy-examples already exists and was not made by pydeploy.web for hello"),
}
# With pydeploy_apps: the scenario's app (first entry) and another.
SEVERAL = {
    "app_user_of_the_app_on_the_host": (
        [dict(OTHER, app_name="other", app_domains=["other.test"], app_user=APP)],
        "other: app_user hello is the user of the app hello on this host"),
    "app_user_shared_by_two_new_apps": (
        [dict(OTHER, app_name="one", app_domains=["one.test"], app_user="web"),
         dict(OTHER, app_name="two", app_domains=["two.test"], app_user="web")],
        "two: app_user web is also the user of the app one in pydeploy_apps"),
    "app_root_inside_the_app_on_the_host": (
        [dict(OTHER, app_name="other", app_domains=["other.test"], app_root="/srv/hello/other")],
        "other: app_root /srv/hello/other is inside the tree of the app hello (/srv/hello)"),
    "app_root_holding_another_new_app": (
        [dict(OTHER, app_name="one", app_domains=["one.test"], app_root="/srv/apps"),
         dict(OTHER, app_name="two", app_domains=["two.test"], app_root="/srv/apps/two")],
        "two: app_root /srv/apps/two overlaps the app_root of the app one in pydeploy_apps"),
}


def assert_refused(host, before, rc, out, message):
    assert rc != 0, out[-3000:]
    assert message in out, out[-3000:]
    # It stopped in the preflight play: the deploy play never started and the host is as it was.
    assert "PLAY [Set up the host and deploy each app]" not in out
    assert " changed=0 " in out, out[-1000:]
    assert snapshot(host) == before
    assert http(host, "/")["status"] == 200


@pytest.mark.parametrize("case", list(SINGLE))
def test_a_bad_input_is_refused_in_the_preflight(host, site, accounts, case):
    extra, message = SINGLE[case]
    before = snapshot(host)
    result = site(extra)
    assert_refused(host, before, result.returncode, result.stdout + result.stderr, message)


@pytest.mark.parametrize("case", list(SEVERAL))
def test_apps_that_would_share_a_user_or_a_tree_are_refused(host, accounts, case):
    apps, message = SEVERAL[case]
    before = snapshot(host)
    rc, out = apps_playbook("playbooks/site.yml", apps)[:2]
    assert_refused(host, before, rc, out, message)


def test_app_purge_never_deletes_a_login_account(host, accounts):
    before = host.check_output("getent passwd tester; ls -la /home/tester")
    rc, out = apps_playbook(
        "playbooks/site.yml",
        [dict(OTHER, app_name="gone", app_domains=["gone.test"], app_user="tester", app_state="absent", app_purge=True)],
        group_app=False)[:2]
    assert rc != 0 and "gone: app_user tester is an account of this host that can log in" in out, out[-3000:]
    assert host.check_output("getent passwd tester; ls -la /home/tester") == before
    assert host.user("tester").shell == "/bin/bash"


def test_the_collection_records_the_user_and_tree_it_made(host):
    record = json.loads(host.file(f"/var/lib/pydeploy/apps/{APP}.json").content_string)
    assert record == {"user": APP, "root": f"/srv/{APP}"}
    listing = host.file("/var/lib/pydeploy/apps")
    assert listing.user == "root" and listing.mode == 0o755


@pytest.fixture()
def static_dir(host):
    path = f"/srv/{APP}/current/static"
    yield path
    host.run(f"rm -f {path}/planted {path}/same-owner")


def test_nginx_follows_no_link_the_app_could_plant_in_a_static_directory(host, static_dir):
    # A link owned by the app user (as one in a shared path would be) to a file of root's that www-data can read.
    host.run_test(f"ln -sfn /etc/passwd {static_dir}/planted && chown -h {APP}:{APP} {static_dir}/planted")
    # A link whose owner owns its target too (root, as in a sealed release) is still followed.
    host.run_test(f"ln -sfn style.css {static_dir}/same-owner")
    planted = http(host, "/static/planted")
    # try_files sees no file where the link is refused: 404 (403 without try_files).
    assert planted["status"] in (403, 404) and "root:x:0:0" not in planted["body"], planted
    assert http(host, "/static/same-owner")["status"] == 200
    # The static files are still served through the current link.
    assert http(host, "/static/style.css")["status"] == 200
