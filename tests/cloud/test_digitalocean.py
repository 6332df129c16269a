"""playbooks/provision_digitalocean.yml, inventories/digitalocean.yml and playbooks/teardown_digitalocean.yml against
the in-memory DigitalOcean stand-in (tests/cloud/do_standin.py), through the real community.digitalocean modules and
inventory plugin.

The tests run in file order: bad input first (on an empty account), then one provisioning that the later tests read,
re-run, clash with and tear down. Every test also checks that the playbooks made no request the stand-in does not
cover.
"""

import json
import socket
import subprocess
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from do_standin import ROUTES, fingerprint, serve

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "standin-token"
SSH_CIDRS = ["198.51.100.0/24", "2001:db8::/32"]


@pytest.fixture(scope="module")
def do(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("do")
    for name in ("id_ed25519", "other_ed25519", "laptop_ed25519"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(tmp / name)], check=True)
    server, state = serve(TOKEN)
    url = "http://127.0.0.1:%d/v2" % server.server_address[1]
    # The inventory plugin takes its API address from the inventory file only: the same file with baseurl added.
    inventory = yaml.safe_load((ROOT / "inventories/digitalocean.yml").read_text())
    inventory["baseurl"] = url
    (tmp / "digitalocean.yml").write_text(yaml.safe_dump(inventory))

    ctx = SimpleNamespace(tmp=tmp, state=state, url=url, env={"DIGITALOCEAN_TOKEN": TOKEN},
                          inventory=str(tmp / "digitalocean.yml"))
    ctx.vars = {
        "pydeploy_do_project": "shop",
        "pydeploy_do_api_url": url,
        "pydeploy_do_region": "fra1",
        "pydeploy_do_public_key_file": str(tmp / "id_ed25519.pub"),
        "pydeploy_do_ssh_cidrs": SSH_CIDRS,
        # The stand-in runs no machines, so nothing would ever answer on port 22.
        "pydeploy_do_wait_for_ssh": False,
    }
    yield ctx
    server.shutdown()


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def api(ctx, method, path, body=None):
    """A request of the test's own to the stand-in (never through a proxy; not counted as a route the playbooks use)."""
    req = urllib.request.Request(ctx.url + "/" + path, method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json",
                                          "X-Standin-Setup": "1"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=10) as resp:
        data = resp.read()
    return json.loads(data) if data else None


def resources(state):
    with state.lock:
        return {
            "keys": sorted(k["name"] for k in state.ssh_keys),
            "droplets": sorted(d["name"] for d in state.droplets.values()),
            "firewalls": sorted(f["name"] for f in state.firewalls.values()),
            "tags": sorted(state.tags),
        }


BAD_INPUT = {
    "required": ({"pydeploy_do_region": None, "pydeploy_do_ssh_cidrs": None}, {},
                 "missing required arguments: pydeploy_do_region, pydeploy_do_ssh_cidrs"),
    "no token": ({}, {"DIGITALOCEAN_TOKEN": None}, "No DigitalOcean API token"),
    "bad token": ({}, {"DIGITALOCEAN_TOKEN": "wrong"}, "DigitalOcean refused the API token"),
    "api url": ({"pydeploy_do_api_url": "http://127.0.0.1:%d/v2" % closed_port()}, {}, "No DigitalOcean API at pydeploy_do_api_url"),
    # The token would cross the network in clear: refused before the first API call.
    "api url in clear": ({"pydeploy_do_api_url": "http://198.51.100.7:%d/v2" % closed_port()}, {},
                         "would send the API token in clear"),
    # sfo1 exists but takes no new Droplets.
    "region": ({"pydeploy_do_region": "sfo1"}, {}, 'pydeploy_do_region "sfo1" is no region that takes new Droplets'),
    "size": ({"pydeploy_do_web_size": "s-64vcpu-256gb"}, {}, 'pydeploy_do_web_size "s-64vcpu-256gb" is not offered'),
    "image": ({"pydeploy_do_image": "centos-6-x64"}, {}, 'pydeploy_do_image "centos-6-x64" is no distribution image'),
    "cidr": ({"pydeploy_do_ssh_cidrs": ["anywhere"]}, {}, "pydeploy_do_ssh_cidrs takes a non-empty list"),
}


@pytest.fixture(scope="module")
def bad_runs(run_playbook, do):
    """Every bad-input case on the empty account, three at a time (none may create anything, so they cannot meet)."""
    before = resources(do.state)

    def one(case):
        overrides, env_changes = BAD_INPUT[case][:2]
        env = {k: v for k, v in dict(do.env, **env_changes).items() if v is not None}
        return run_playbook(do, "provision_digitalocean", env=env, name=case.replace(" ", "-"), **overrides)

    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = dict(zip(BAD_INPUT, pool.map(one, BAD_INPUT)))
    return before, runs, resources(do.state)


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_fails_naming_the_variable_before_anything_is_created(do, bad_runs, case):
    before, runs, after = bad_runs
    run = runs[case]
    assert run.rc != 0 and run.failures == 1 and run.changed == 0, (case, run)
    assert BAD_INPUT[case][2] in run.failure_message, (case, run.failure_message)
    assert before == after == {"keys": [], "droplets": [], "firewalls": [], "tags": []}
    assert TOKEN not in run.output, "the API token was printed"


@pytest.fixture(scope="module")
def provisioned(run_playbook, do, bad_runs):  # pylint: disable=unused-argument  # after the bad-input cases
    run = run_playbook(do, "provision_digitalocean")
    # Another project's app host in the same account: the inventory and teardown must leave it alone.
    other = api(do, "POST", "droplets", {"name": "other-web-1", "region": "fra1", "size": "s-1vcpu-1gb", "image": "debian-12-x64",
                                         "tags": ["pydeploy_project:other", "pydeploy_role:web"]})
    return SimpleNamespace(run=run, other=other["droplet"]["id"])


def test_provision_makes_the_key_firewalls_and_tagged_droplets(do, provisioned):
    run = provisioned.run
    assert run.rc == 0 and run.failures == 0, run
    state = do.state
    public_key = (do.tmp / "id_ed25519.pub").read_text().strip()
    (key,) = [k for k in state.ssh_keys if k["name"] == "shop"]
    assert key["public_key"] == public_key and key["fingerprint"] == fingerprint(public_key)
    assert {"pydeploy-shop-lb", "pydeploy-shop-web"} <= state.tags

    firewalls = {f["name"]: f for f in state.firewalls.values()}
    assert set(firewalls) == {"shop-lb", "shop-web"}
    lb, web = firewalls["shop-lb"], firewalls["shop-web"]
    assert lb["tags"] == ["pydeploy-shop-lb"] and web["tags"] == ["pydeploy-shop-web"]
    assert lb["droplet_ids"] == [] and web["droplet_ids"] == []

    def inbound(fw):
        return {r["ports"]: (r["protocol"], sorted(r["sources"].get("addresses") or []), r["sources"].get("tags") or [])
                for r in fw["inbound_rules"]}

    assert inbound(lb) == {"22": ("tcp", sorted(SSH_CIDRS), []), "80": ("tcp", ["0.0.0.0/0", "::/0"], []),
                           "443": ("tcp", ["0.0.0.0/0", "::/0"], [])}
    # The app hosts' HTTP port is open to the balancers' tag and to no address.
    assert inbound(web) == {"22": ("tcp", sorted(SSH_CIDRS), []), "80": ("tcp", [], ["pydeploy-shop-lb"])}
    for fw in (lb, web):
        assert sorted((r["protocol"], r["ports"], sorted(r["destinations"]["addresses"])) for r in fw["outbound_rules"]) == [
            ("tcp", "1-65535", ["0.0.0.0/0", "::/0"]), ("udp", "1-65535", ["0.0.0.0/0", "::/0"])]

    droplets = {d["name"]: d for d in state.droplets.values() if "pydeploy_project:shop" in d["tags"]}
    assert sorted(droplets) == ["shop-lb-1", "shop-web-1", "shop-web-2"]
    for name, d in droplets.items():
        role = name.split("-")[1]
        assert d["tags"] == ["pydeploy_project:shop", "pydeploy_role:" + role, "pydeploy-shop-" + role]
        assert d["region"]["slug"] == "fra1" and d["image"]["slug"] == "debian-12-x64"
        assert d["size_slug"] == {"lb": "s-1vcpu-1gb", "web": "s-1vcpu-2gb"}[role]
        assert d["ssh_key_fingerprints"] == [key["fingerprint"]]


def test_rerun_changes_nothing(run_playbook, do, provisioned):
    before = resources(do.state)
    run = run_playbook(do, "provision_digitalocean")
    assert run.rc == 0 and run.changed == 0, (run.changed_tasks(), run)
    assert resources(do.state) == before


def test_inventory_groups_the_project_droplets_into_web_and_lb(ansible, do, provisioned):
    other = provisioned.other
    run = ansible(["ansible-inventory", "-i", do.inventory, "--list"], dict(do.env, PYDEPLOY_DO_PROJECT="shop"))
    assert run.rc == 0 and run.data, run
    inventory = run.data
    assert sorted(inventory["web"]["hosts"]) == ["shop-web-1", "shop-web-2"]
    assert inventory["lb"]["hosts"] == ["shop-lb-1"]
    hostvars = inventory["_meta"]["hostvars"]
    assert sorted(hostvars) == ["shop-lb-1", "shop-web-1", "shop-web-2"], "only this project's Droplets"
    assert other not in [hv["do_id"] for hv in hostvars.values()]
    for name, hv in hostvars.items():
        (droplet,) = [d for d in do.state.droplets.values() if d["name"] == name]
        nets = {n["type"]: n["ip_address"] for n in droplet["networks"]["v4"]}
        assert hv["ansible_host"] == nets["public"] and hv["pydeploy_private_ip"] == nets["private"]
        assert hv["ansible_user"] == "root"


def test_the_inventory_copy_differs_only_in_baseurl(do):
    copy = yaml.safe_load(open(do.inventory, encoding="utf-8").read())
    assert copy.pop("baseurl") == do.url
    assert copy == yaml.safe_load((ROOT / "inventories/digitalocean.yml").read_text())


def test_name_clash_fails_before_anything_changes(run_playbook, do, provisioned):
    # A firewall "team-web" for someone else's tag, and a Droplet "crew-web-1" that is no project's.
    api(do, "POST", "firewalls", {"name": "team-web", "tags": ["production"],
                                  "inbound_rules": [{"protocol": "tcp", "ports": "22", "sources": {"addresses": ["0.0.0.0/0"]}}]})
    api(do, "POST", "droplets", {"name": "crew-web-1", "region": "fra1", "size": "s-1vcpu-1gb", "image": "debian-12-x64"})
    cases = {
        # The key "shop" is in the account with the first key; the same name with another key must not replace it.
        "key": ({"pydeploy_do_public_key_file": str(do.tmp / "other_ed25519.pub")}, "set pydeploy_do_key_name to another name"),
        "firewall": ({"pydeploy_do_project": "team"}, "set pydeploy_do_project to another name"),
        "droplet": ({"pydeploy_do_project": "crew"}, "Set pydeploy_do_project to another name"),
    }
    before = resources(do.state)
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = dict(zip(cases, pool.map(
            lambda c: run_playbook(do, "provision_digitalocean", name="clash-" + c, **cases[c][0]), cases)))
    for case, run in runs.items():
        assert run.rc != 0 and run.changed == 0, (case, run)
        assert cases[case][1] in run.failure_message, (case, run.failure_message)
    assert resources(do.state) == before
    for fw in list(do.state.firewalls.values()):
        if fw["name"] == "team-web":
            assert fw["tags"] == ["production"], "the foreign firewall was changed"
            api(do, "DELETE", "firewalls/" + fw["id"])
    for d in list(do.state.droplets.values()):
        if d["name"] == "crew-web-1":
            api(do, "DELETE", "droplets/%d" % d["id"])


def test_lower_count_and_other_ssh_networks_change_only_those(run_playbook, do, provisioned):
    run = run_playbook(do, "provision_digitalocean", name="scale", pydeploy_do_web_count=1,
                       pydeploy_do_ssh_cidrs=["192.0.2.0/24"])
    assert run.rc == 0, run
    assert run.changed_tasks() == ["Firewall of the balancers (SSH, HTTP and HTTPS)",
                                   "Firewall of the app hosts (SSH; HTTP from the balancers only)",
                                   "Delete the Droplets beyond the counts"], run
    names = sorted(d["name"] for d in do.state.droplets.values() if "pydeploy_project:shop" in d["tags"])
    assert names == ["shop-lb-1", "shop-web-1"], "the highest-numbered app host goes"
    for fw in do.state.firewalls.values():
        (ssh,) = [r for r in fw["inbound_rules"] if r["ports"] == "22"]
        assert ssh["sources"]["addresses"] == ["192.0.2.0/24"]


def test_a_key_already_in_the_account_is_used_as_it_is(run_playbook, do, provisioned):  # pylint: disable=unused-argument
    # Someone's key "laptop" (with a comment of its own); the project "solo" is given the same key.
    key_file = do.tmp / "laptop_ed25519.pub"
    key_type, blob = key_file.read_text().split()[:2]
    laptop = api(do, "POST", "account/keys", {"name": "laptop", "public_key": "%s %s me@laptop" % (key_type, blob)})["ssh_key"]
    run = run_playbook(do, "provision_digitalocean", name="solo", pydeploy_do_project="solo",
                       pydeploy_do_public_key_file=str(key_file), pydeploy_do_lb_count=0, pydeploy_do_web_count=1)
    assert run.rc == 0 and "Add the SSH key to the account" not in run.changed_tasks(), run
    assert sorted(k["name"] for k in do.state.ssh_keys) == ["laptop", "shop"], "no key added, none renamed"
    (droplet,) = [d for d in do.state.droplets.values() if "pydeploy_project:solo" in d["tags"]]
    assert droplet["name"] == "solo-web-1" and droplet["ssh_key_fingerprints"] == [laptop["fingerprint"]]


def test_teardown_removes_what_provision_made_and_nothing_else(run_playbook, do, provisioned):
    other = provisioned.other
    run = run_playbook(do, "teardown_digitalocean")
    assert run.rc == 0 and run.failures == 0, run
    left = resources(do.state)
    # Other projects' Droplets stay, and so does the key "laptop" that the project "solo" used.
    assert left["droplets"] == ["other-web-1", "solo-web-1"] and other in do.state.droplets
    assert left["firewalls"] == ["solo-lb", "solo-web"] and left["keys"] == ["laptop"]
    assert not {"pydeploy-shop-lb", "pydeploy-shop-web"} & set(left["tags"])
    # Again, with the token in DO_API_TOKEN this time: nothing left to do.
    again = run_playbook(do, "teardown_digitalocean", env={"DO_API_TOKEN": TOKEN})
    assert again.rc == 0 and again.changed == 0, (again.changed_tasks(), again)


def test_every_request_is_covered_and_every_route_used(do):
    """Last in the file: the playbooks and the inventory made no request the stand-in does not cover, and the stand-in
    covers nothing they do not use."""
    assert do.state.uncovered == []
    assert {route[:2] for route in ROUTES} - do.state.used == set()
