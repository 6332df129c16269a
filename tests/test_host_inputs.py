"""Unit tests for the decisions on inputs that could cross a boundary of the host (plugins/filter/host_inputs.py) and
for the reading side of the pydeploy.web.host_inputs module."""

import importlib.util
import json
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


flt = load("plugins/filter/host_inputs.py", "pydeploy_host_inputs_filter")
mod = load("plugins/modules/host_inputs.py", "pydeploy_host_inputs_module")

# A Debian 12 host as the module reads it: system accounts, an EC2-style login account, the app "hello" this
# collection made (record), and "legacy" deployed before records existed.
ACCOUNTS = [
    {"name": "root", "uid": 0, "home": "/root", "shell": "/bin/bash"},
    {"name": "daemon", "uid": 1, "home": "/usr/sbin", "shell": "/usr/sbin/nologin"},
    {"name": "www-data", "uid": 33, "home": "/var/www", "shell": "/usr/sbin/nologin"},
    {"name": "systemd-network", "uid": 998, "home": "/", "shell": "/usr/sbin/nologin"},
    {"name": "postgres", "uid": 105, "home": "/var/lib/postgresql", "shell": "/bin/bash"},
    {"name": "prometheus", "uid": 106, "home": "/opt/prometheus", "shell": "/usr/sbin/nologin"},
    {"name": "admin", "uid": 1000, "home": "/home/admin", "shell": "/bin/bash"},
    {"name": "deployer", "uid": 1001, "home": "/opt/deployer", "shell": "/bin/bash"},
    {"name": "hello", "uid": 999, "home": "/srv/hello", "shell": "/usr/sbin/nologin"},
    {"name": "legacy", "uid": 997, "home": "/srv/legacy", "shell": "/usr/sbin/nologin"},
]
FACTS = {
    "accounts": ACCOUNTS,
    "groups": ["root", "daemon", "www-data", "sudo", "docker", "admin", "hello", "legacy", "postgres"],
    "uid_min": 1000,
    "apps": {"hello": {"user": "hello", "root": "/srv/hello", "record": True},
             "legacy": {"user": "legacy", "root": "/srv/legacy", "record": False}},
    "root": {"exists": False},
    "unit_files": {
        "/lib/systemd/system": ["getty@.service", "getty.target", "user-runtime-dir@.service", "apt-daily.service",
                                "apt-daily.timer", "ssh.service", "nginx.service"],
        "/etc/systemd/system": ["hello@.service", "hello@.socket", "hello-worker@.service", "multi-user.target.wants",
                                "override.service"],
    },
}


def facts(**changes):
    out = dict(FACTS)
    out.update(changes)
    return out


user_problems = flt.app_user_problems
root_problems = flt.app_root_problems


# app_user

@pytest.mark.parametrize("user", ["root", "www-data", "nginx", "nobody"])
def test_system_accounts_are_never_an_app_user(user):
    problems = user_problems(FACTS, "shop", user)
    assert len(problems) == 1 and problems[0].startswith("shop: app_user %s is a system account" % user)


@pytest.mark.parametrize("user, what", [("admin", "can log in (uid 1000"), ("deployer", "can log in (uid 1001"),
                                        ("postgres", "can log in (uid 105, shell /bin/bash)")])
def test_login_accounts_are_refused(user, what):
    (problem,) = user_problems(FACTS, "shop", user)
    assert problem.startswith("shop: app_user %s" % user) and what in problem


def test_an_existing_system_user_the_collection_did_not_make_is_refused():
    (problem,) = user_problems(FACTS, "shop", "prometheus")
    assert "shop: app_user prometheus exists on this host and was not made by pydeploy.web for shop" in problem


def test_an_existing_group_is_refused_as_a_new_user():
    (problem,) = user_problems(FACTS, "shop", "docker")
    assert problem.startswith("shop: app_user docker is not a user, but a group of that name exists")


def test_another_apps_user_is_refused():
    problems = user_problems(FACTS, "shop", "hello")
    assert any("shop: app_user hello is the user of the app hello on this host" in p for p in problems)
    assert any("was not made by pydeploy.web for shop" in p for p in problems)


def test_the_apps_own_user_and_a_new_user_are_accepted():
    assert user_problems(FACTS, "hello", "hello") == []
    assert user_problems(FACTS, "legacy", "legacy") == []  # deployed before records: its config dir's group
    assert user_problems(FACTS, "shop", "shop") == []


def test_a_record_never_makes_a_login_account_acceptable():
    tampered = facts(apps={"shop": {"user": "admin", "root": "/srv/shop", "record": True}})
    assert "can log in" in user_problems(tampered, "shop", "admin")[0]


def test_a_user_name_that_is_no_name_is_refused():
    assert "must be a user name" in user_problems(FACTS, "shop", "Bad User")[0]


# app_root

@pytest.mark.parametrize("root, word", [
    ("/srv", "shares"), ("/opt", "shares"), ("/var/www", "shares"), ("/var", "shares"),
    ("/etc", "system"), ("/etc/shop", "system"), ("/usr/local/shop", "system"), ("/home", "system"),
    ("/home/admin/shop", "system"), ("/root/shop", "system"), ("/var/lib/shop", "system"), ("/tmp/shop", "system"),
    ("/run/shop", "system"), ("/proc/shop", "system"), ("/var/log/shop", "system"), ("/boot", "system"),
    ("/var/www/html", "system"),
])
def test_system_directories_are_refused(root, word):
    (problem,) = root_problems(FACTS, "shop", root, "shop")
    assert problem.startswith("shop: app_root %s" % root) and word in problem


@pytest.mark.parametrize("root", ["srv/shop", "/srv/shop/", "/srv//shop", "/srv/./shop", "/srv/x/../shop",
                                  "/srv/sh op", "", "/"])
def test_paths_that_are_not_normalised_are_refused(root):
    (problem,) = root_problems(FACTS, "shop", root, "shop")
    assert "must be an absolute, normalised path" in problem


@pytest.mark.parametrize("root, account", [("/opt/prometheus", "prometheus"), ("/opt/deployer", "deployer"),
                                           ("/opt/deployer/shop", "deployer"), ("/opt/deployer/a/b", "deployer")])
def test_home_directories_are_refused(root, account):
    problems = root_problems(FACTS, "shop", root, "shop")
    assert any("home directory of the account %s" % account in p for p in problems), problems


def test_a_tree_holding_a_home_directory_is_refused():
    tree = facts(accounts=ACCOUNTS + [{"name": "bob", "uid": 1002, "home": "/srv/shop/bob", "shell": "/bin/sh"}])
    assert any("contains the home directory of the account bob" in p for p in root_problems(tree, "shop", "/srv/shop", "shop"))


@pytest.mark.parametrize("root, word", [("/srv/hello", "is"), ("/srv/hello/shop", "is inside"), ("/srv/legacy", "is")])
def test_another_apps_tree_on_the_host_is_refused(root, word):
    problems = root_problems(FACTS, "shop", root, "shop")
    assert any(p.startswith("shop: app_root %s %s the tree of the app" % (root, word)) for p in problems), problems


def test_another_apps_tree_in_this_run_is_refused():
    problems = root_problems(FACTS, "shop", "/opt/apps", "shop", others=[{"name": "blog", "root": "/opt/apps/blog"}])
    assert problems == ["shop: app_root /opt/apps contains the tree of the app blog (/opt/apps/blog); each app needs "
                        "a tree of its own."]


@pytest.mark.parametrize("root", ["/srv/shop", "/opt/shop", "/var/www/shop", "/mnt/data/shop", "/srv/hello-admin"])
def test_usual_places_are_accepted(root):
    assert root_problems(FACTS, "shop", root, "shop") == []


def test_the_apps_own_tree_is_accepted():
    assert root_problems(facts(root={"exists": True, "dir": True, "uid": 0, "entries": 5}), "hello", "/srv/hello", "hello") == []
    assert root_problems(facts(root={"exists": True, "dir": True, "uid": 0, "entries": 5}), "legacy", "/srv/legacy", "legacy") == []


@pytest.mark.parametrize("found, accepted", [
    ({"exists": True, "dir": True, "uid": 0, "entries": 0}, True),      # an empty mount point
    ({"exists": True, "dir": True, "uid": 0, "entries": 2}, False),     # someone's data
    ({"exists": True, "dir": True, "uid": 1000, "entries": 0}, False),  # someone's directory
    ({"exists": True, "dir": False, "uid": 0, "entries": 0}, False),    # a file
    ({"exists": True, "link": True, "dir": False, "uid": 0, "entries": 0}, False),
])
def test_an_existing_path_is_taken_only_when_it_is_an_empty_directory_of_roots(found, accepted):
    problems = root_problems(facts(root=found), "shop", "/srv/shop", "shop")
    assert (problems == []) is accepted, problems


# unit names

units = flt.unit_problems


@pytest.mark.parametrize("app, unit", [("getty", "getty@.service"), ("user-runtime-dir", "user-runtime-dir@.service"),
                                       ("apt-daily", "apt-daily.service"), ("override", "override.service")])
def test_an_app_name_of_an_existing_unit_is_refused(app, unit):
    problems = units(FACTS, app, flt.app_unit_names(app), "app_name", local_ours=app in FACTS["apps"])
    assert any(p.startswith("%s: app_name %s would take the name of" % (app, app)) and unit in p for p in problems)


def test_the_apps_own_units_are_accepted():
    assert units(FACTS, "hello", flt.app_unit_names("hello"), "app_name", local_ours=True) == []
    assert units(FACTS, "shop", flt.app_unit_names("shop"), "app_name") == []


def test_the_apps_units_on_a_host_where_the_app_is_not_the_collections_are_refused():
    problems = units(FACTS, "hello", flt.app_unit_names("hello"), "app_name", local_ours=False)
    assert any("/etc/systemd/system/hello@.service" in p for p in problems)


def test_a_process_named_like_a_system_unit_is_refused():
    names = ["user-runtime-dir@.service"]
    (problem,) = units(FACTS, "user", names, "app_processes or app_timers", local_ours=True)
    assert problem.startswith("user: app_processes or app_timers runtime-dir would take the name of "
                              "/lib/systemd/system/user-runtime-dir@.service")
    (problem,) = units(FACTS, "apt", ["apt-daily.service", "apt-daily.timer"][1:], "app_timers", local_ours=True)
    assert "app_timers daily" in problem


def test_an_instance_name_collides_with_its_template():
    assert units(FACTS, "getty", ["getty@tty9.service"], "app_processes", local_ours=True)


# several apps, firewall sources

def test_apps_of_one_run_share_neither_user_nor_tree():
    seen = [{"name": "blog", "user": "web", "root": "/srv/blog"}]
    problems = flt.apps_overlap_problems("shop", "web", "/srv/blog/shop", seen)
    assert problems[0].startswith("shop: app_user web is also the user of the app blog")
    assert problems[1].startswith("shop: app_root /srv/blog/shop overlaps the app_root of the app blog")
    assert flt.apps_overlap_problems("shop", "shop", "/srv/shop", seen) == []


@pytest.mark.parametrize("inventory, balancers, merged", [
    ([], [], []),
    (["203.0.113.0/24"], [], ["203.0.113.0/24"]),
    ([], ["10.0.0.5/32"], ["10.0.0.5/32"]),
    (["203.0.113.0/24", "10.0.0.5/32"], ["10.0.0.5/32", "10.0.0.6/32"], ["203.0.113.0/24", "10.0.0.5/32", "10.0.0.6/32"]),
])
def test_firewall_web_sources_keeps_the_inventorys_networks(inventory, balancers, merged):
    assert flt.web_sources(inventory, balancers) == merged


# the module's reading side

def test_records_and_legacy_config_dirs_name_the_apps(tmp_path):
    records, config = tmp_path / "apps", tmp_path / "etc"
    records.mkdir()
    config.mkdir()
    (records / "shop.json").write_text(json.dumps({"user": "shop", "root": "/srv/shop"}))
    (records / "notes.txt").write_text("not a record")
    apps = mod.read_apps(str(records), str(config), ACCOUNTS)
    owned_by_root = os.getuid() == 0
    assert ("shop" in apps) is owned_by_root  # a record counts only when root wrote it
    assert mod.read_apps(str(tmp_path / "missing"), str(tmp_path / "missing"), ACCOUNTS) == {}


def test_the_root_is_read_without_following_a_link(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "data").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert mod.read_root(str(tmp_path / "link"))["link"] is True
    assert mod.read_root(str(tmp_path / "real"))["entries"] == 1
    assert mod.read_root(str(tmp_path / "none")) == {"exists": False}


def test_uid_min_comes_from_login_defs(tmp_path):
    defs = tmp_path / "login.defs"
    defs.write_text("# comment\nUID_MIN\t\t\t 2000\nUID_MAX 60000\n")
    assert mod.read_uid_min(str(defs)) == 2000
    assert mod.read_uid_min(str(tmp_path / "none")) == 1000


# pydeploy_do_api_url (plugins/filter/api_url.py)

api_url_problem = load("plugins/filter/api_url.py", "pydeploy_api_url_filter").api_url_problem


@pytest.mark.parametrize("url", ["https://api.digitalocean.com/v2", "http://127.0.0.1:8080/v2", "http://127.1.2.3/v2",
                                 "http://[::1]:9000/v2", "http://localhost:5000/v2", "https://10.0.0.5/v2"])
def test_the_token_goes_over_https_or_to_loopback(url):
    assert api_url_problem(url, "pydeploy_do_api_url") == ""


@pytest.mark.parametrize("url, words", [
    ("http://api.digitalocean.com/v2", "in clear"), ("http://198.51.100.7:8080/v2", "in clear"),
    ("http://127.0.0.1.example.com/v2", "in clear"), ("ftp://127.0.0.1/v2", "in clear"),
    ("https://user:pw@api.digitalocean.com/v2", "no user or password"), ("api.digitalocean.com/v2", "with a host"),
    ("https://x:99999/v2", "not a URL"),
])
def test_the_token_never_goes_in_clear(url, words):
    problem = api_url_problem(url, "pydeploy_do_api_url")
    assert problem.startswith("pydeploy_do_api_url=%s" % url) and words in problem
