"""The cloud playbooks' inputs: the argument spec each validates, the defaults it applies, teardown's share of them
and the tables of docs/cloud.md say the same. (tests/cloud/ runs the playbooks against test doubles.)"""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CLOUDS = {"ec2": "pydeploy_ec2_", "digitalocean": "pydeploy_do_"}
FALLBACK = re.compile(r"\{\{ (\w+) \| default\((.*)\) \}\}$")


def play(name):
    (only,) = yaml.safe_load((ROOT / "playbooks" / (name + ".yml")).read_text())
    return only


def spec_and_fallbacks(name):
    """The validated spec, and the input -> default that the play's __<input> variable falls back to."""
    variables = play(name)["vars"]
    (spec_name,) = [k for k in variables if k.endswith("_argument_spec")]
    fallbacks = {}
    for key, value in variables.items():
        match = FALLBACK.match(str(value).strip()) if key.startswith("__") else None
        if match and "__" + match.group(1) == key:
            fallbacks[match.group(1)] = match.group(2)
    return variables[spec_name], fallbacks


@pytest.mark.parametrize("name", ["provision_%s" % c for c in CLOUDS] + ["teardown_%s" % c for c in CLOUDS])
def test_every_input_is_validated_and_falls_back_to_its_spec_default(name):
    spec, fallbacks = spec_and_fallbacks(name)
    prefix = CLOUDS[name.split("_", 1)[1]]
    assert spec and all(opt.startswith(prefix) for opt in spec), name
    for opt, entry in spec.items():
        assert entry.get("type") and entry.get("description"), (name, opt)
        if entry.get("type") == "list":
            assert entry.get("elements"), (name, opt)
        if "default" in entry:
            assert opt in fallbacks, "%s: %s has a default but no __%s fallback" % (name, opt, opt)
            assert yaml.safe_load(fallbacks[opt]) == entry["default"], (name, opt, fallbacks[opt])
        elif not entry.get("required"):
            # Derived defaults (from the environment or another input) are named in the description.
            assert "Default" in entry["description"], (name, opt)
    # Every input the tasks read is in the spec: the bare name outside the spec and the fallbacks is a required one.
    text = (ROOT / "playbooks" / (name + ".yml")).read_text()
    used = set(re.findall(r"(?<![\w_])(%s\w+)" % prefix, text))
    assert used <= set(spec), (name, used - set(spec))


@pytest.mark.parametrize("cloud", list(CLOUDS))
def test_teardown_reads_the_inputs_as_provision_does(cloud):
    provision = spec_and_fallbacks("provision_" + cloud)[0]
    teardown = spec_and_fallbacks("teardown_" + cloud)[0]
    for opt, entry in teardown.items():
        assert opt in provision, opt
        for key in ("type", "default", "required", "no_log"):
            assert entry.get(key) == provision[opt].get(key), (opt, key)


@pytest.mark.parametrize("cloud", list(CLOUDS))
def test_docs_table_lists_every_input_with_its_default(cloud):
    spec = spec_and_fallbacks("provision_" + cloud)[0]
    prefix = CLOUDS[cloud]
    rows = {}
    for line in (ROOT / "docs/cloud.md").read_text().splitlines():
        match = re.match(r"\| `(%s\w+)` \| (.+?) \| (.+) \|$" % prefix, line)
        if match:
            rows[match.group(1)] = match.group(2)
    assert set(rows) == set(spec)
    for opt, entry in spec.items():
        documented = rows[opt]
        if entry.get("required"):
            assert documented == "required", opt
        elif "default" in entry:
            assert documented.startswith("`") and yaml.safe_load(documented.strip("`")) == entry["default"], (opt, documented)
        else:
            assert documented != "required", opt


def test_inventory_files_use_the_plugins_and_the_provisioning_tags():
    ec2 = yaml.safe_load((ROOT / "inventories/aws_ec2.yml").read_text())
    assert ec2["plugin"] == "amazon.aws.aws_ec2"
    assert "tag:pydeploy_project" in ec2["filters"] and set(ec2["groups"]) == {"web", "lb"}
    do = yaml.safe_load((ROOT / "inventories/digitalocean.yml").read_text())
    assert do["plugin"] == "community.digitalocean.digitalocean"
    assert "baseurl" not in do, "the file users copy must talk to DigitalOcean"
    assert set(do["groups"]) == {"web", "lb"} and "tags" in do["attributes"]
