"""playbooks/provision_ec2.yml, inventories/aws_ec2.yml and playbooks/teardown_ec2.yml against moto.

The real amazon.aws modules and inventory plugin talk to moto through AWS_ENDPOINT_URL. The tests run in file order:
bad input first (on an empty account), then one provisioning that the later tests read, re-run, clash with and
tear down.
"""

import subprocess
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import boto3
import pytest

REGION = "eu-west-1"
SSH_CIDRS = ["198.51.100.0/24", "2001:db8::/32"]


@pytest.fixture(scope="module")
def ec2(moto_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ec2")
    for name in ("id_ed25519", "other_ed25519"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(tmp / name)], check=True)
    env = {"AWS_ENDPOINT_URL": moto_url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_REGION": REGION}
    client = boto3.client("ec2", endpoint_url=moto_url, region_name=REGION,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    # One of the images moto knows; a real run takes a Debian AMI ID.
    image = client.describe_images(Filters=[{"Name": "name", "Values": ["*ubuntu*"]}])["Images"][0]["ImageId"]

    ctx = SimpleNamespace(tmp=tmp, env=env, client=client, image=image)
    ctx.vars = {
        "pydeploy_ec2_project": "shop",
        "pydeploy_ec2_image": image,
        "pydeploy_ec2_public_key_file": str(tmp / "id_ed25519.pub"),
        "pydeploy_ec2_ssh_cidrs": SSH_CIDRS,
        "pydeploy_ec2_ssh_user": "ubuntu",
        # moto runs no machines, so nothing would ever answer on port 22.
        "pydeploy_ec2_wait_for_ssh": False,
    }
    return ctx


def resources(client):
    """What exists in the account, apart from the default VPC's own group."""
    groups = [g for g in client.describe_security_groups()["SecurityGroups"] if g["GroupName"] != "default"]
    instances = [i for r in client.describe_instances()["Reservations"] for i in r["Instances"]
                 if i["State"]["Name"] != "terminated"]
    return {
        "keys": sorted(k["KeyName"] for k in client.describe_key_pairs()["KeyPairs"]),
        "groups": sorted(g["GroupName"] for g in groups),
        "instances": sorted(i["InstanceId"] for i in instances),
    }


def tags(obj):
    return {t["Key"]: t["Value"] for t in obj.get("Tags", [])}


BAD_INPUT = {
    "required": ({"pydeploy_ec2_image": None, "pydeploy_ec2_ssh_cidrs": None}, (),
                 "missing required arguments: pydeploy_ec2_image, pydeploy_ec2_ssh_cidrs"),
    "credentials": ({}, ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), "No AWS credentials"),
    "region": ({"pydeploy_ec2_region": "xx-nowhere-1"}, (), 'pydeploy_ec2_region "xx-nowhere-1" is not a region'),
    "image": ({"pydeploy_ec2_image": "ami-0123456789abcdef0"}, (), 'pydeploy_ec2_image "ami-0123456789abcdef0" is no available image'),
    "cidr": ({"pydeploy_ec2_ssh_cidrs": ["anywhere"]}, (), "pydeploy_ec2_ssh_cidrs takes a non-empty list"),
}


@pytest.fixture(scope="module")
def bad_runs(run_playbook, ec2):
    """Every bad-input case on the empty account, three at a time (none may create anything, so they cannot meet)."""
    before = resources(ec2.client)

    def one(case):
        overrides, env_drop = BAD_INPUT[case][:2]
        env = {k: v for k, v in ec2.env.items() if k not in env_drop}
        return run_playbook(ec2, "provision_ec2", env=env, name=case, **overrides)

    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = dict(zip(BAD_INPUT, pool.map(one, BAD_INPUT)))
    return before, runs, resources(ec2.client)


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_fails_naming_the_variable_before_anything_is_created(bad_runs, case):
    before, runs, after = bad_runs
    run = runs[case]
    assert run.rc != 0 and run.failures == 1 and run.changed == 0, (case, run)
    assert BAD_INPUT[case][2] in run.failure_message, (case, run.failure_message)
    assert before == after == {"keys": [], "groups": [], "instances": []}


@pytest.fixture(scope="module")
def provisioned(run_playbook, ec2, bad_runs):  # pylint: disable=unused-argument  # after the bad-input cases
    run = run_playbook(ec2, "provision_ec2")
    # Another project's app host in the same account: the inventory and teardown must leave it alone.
    other = ec2.client.run_instances(
        ImageId=ec2.image, MinCount=1, MaxCount=1, InstanceType="t3.micro",
        TagSpecifications=[{"ResourceType": "instance",
                            "Tags": [{"Key": "pydeploy_project", "Value": "other"},
                                     {"Key": "pydeploy_role", "Value": "web"}]}])["Instances"][0]["InstanceId"]
    return SimpleNamespace(run=run, other=other)


def test_provision_makes_the_key_groups_and_tagged_instances(ec2, provisioned):
    run = provisioned.run
    assert run.rc == 0 and run.failures == 0, (run, run.failure_message)
    assert set(run.changed_tasks()) == {"Import the key pair", "Security group of the balancers (SSH, HTTP and HTTPS)",
                                        "Security group of the app hosts (SSH; HTTP from the balancers only)",
                                        "Instances"}, run

    (key,) = ec2.client.describe_key_pairs(KeyNames=["shop"], IncludePublicKey=True)["KeyPairs"]
    assert key["PublicKey"].split()[:2] == (ec2.tmp / "id_ed25519.pub").read_text().split()[:2]
    assert tags(key) == {"pydeploy_project": "shop"}

    groups = {g["GroupName"]: g for g in ec2.client.describe_security_groups(
        Filters=[{"Name": "tag:pydeploy_project", "Values": ["shop"]}])["SecurityGroups"]}
    assert set(groups) == {"shop-lb", "shop-web"}
    lb, web = groups["shop-lb"], groups["shop-web"]

    def rules(group):
        return {p["FromPort"]: (sorted(r["CidrIp"] for r in p["IpRanges"]) + sorted(r["CidrIpv6"] for r in p["Ipv6Ranges"]),
                                sorted(g["GroupId"] for g in p["UserIdGroupPairs"]))
                for p in group["IpPermissions"]}

    assert rules(lb) == {22: (SSH_CIDRS, []), 80: (["0.0.0.0/0", "::/0"], []), 443: (["0.0.0.0/0", "::/0"], [])}
    # The app hosts' HTTP port is open to the balancers' group and to no address.
    assert rules(web) == {22: (SSH_CIDRS, []), 80: ([], [lb["GroupId"]])}

    instances = [i for r in ec2.client.describe_instances(
        Filters=[{"Name": "tag:pydeploy_project", "Values": ["shop"]}])["Reservations"] for i in r["Instances"]]
    by_role = {}
    for i in instances:
        assert i["State"]["Name"] == "running" and i["KeyName"] == "shop" and i["ImageId"] == ec2.image
        assert tags(i)["pydeploy_ssh_user"] == "ubuntu"
        by_role.setdefault(tags(i)["pydeploy_role"], []).append(i)
    assert sorted((role, len(v)) for role, v in by_role.items()) == [("lb", 1), ("web", 2)]
    assert {i["SecurityGroups"][0]["GroupId"] for i in by_role["lb"]} == {lb["GroupId"]}
    assert {i["SecurityGroups"][0]["GroupId"] for i in by_role["web"]} == {web["GroupId"]}
    assert {i["InstanceType"] for i in by_role["web"]} == {"t3.small"}
    assert {i["InstanceType"] for i in by_role["lb"]} == {"t3.micro"}


def test_instances_require_imdsv2_and_boot_from_an_encrypted_volume(ec2, provisioned):
    assert provisioned.run.rc == 0, provisioned.run
    instances = [i for r in ec2.client.describe_instances(
        Filters=[{"Name": "tag:pydeploy_project", "Values": ["shop"]}])["Reservations"] for i in r["Instances"]]
    assert len(instances) == 3
    for i in instances:
        # A metadata request without a session token is refused, and the token does not leave the instance.
        assert i["MetadataOptions"]["HttpTokens"] == "required", i["MetadataOptions"]
        assert i["MetadataOptions"]["HttpPutResponseHopLimit"] == 1, i["MetadataOptions"]
        (root,) = [m for m in i["BlockDeviceMappings"] if m["DeviceName"] == i["RootDeviceName"]]
        (volume,) = ec2.client.describe_volumes(VolumeIds=[root["Ebs"]["VolumeId"]])["Volumes"]
        assert volume["Encrypted"] is True, volume


def test_rerun_changes_nothing(run_playbook, ec2, provisioned):
    before = resources(ec2.client)
    run = run_playbook(ec2, "provision_ec2")
    assert run.rc == 0 and run.changed == 0, (run.changed_tasks(), run)
    assert resources(ec2.client) == before


def test_inventory_groups_the_project_instances_into_web_and_lb(ansible, ec2, provisioned):
    other = provisioned.other
    run = ansible(["ansible-inventory", "-i", "inventories/aws_ec2.yml", "--list"],
                  dict(ec2.env, PYDEPLOY_EC2_PROJECT="shop"))
    assert run.rc == 0 and run.data, run
    inventory = run.data
    instances = {i["InstanceId"]: i for r in ec2.client.describe_instances(
        Filters=[{"Name": "tag:pydeploy_project", "Values": ["shop"]}])["Reservations"] for i in r["Instances"]}
    expected = {
        role: sorted("%s-%s" % (role, iid) for iid, i in instances.items() if tags(i)["pydeploy_role"] == role)
        for role in ("web", "lb")}
    assert sorted(inventory["web"]["hosts"]) == expected["web"] and len(expected["web"]) == 2
    assert sorted(inventory["lb"]["hosts"]) == expected["lb"] and len(expected["lb"]) == 1
    hostvars = inventory["_meta"]["hostvars"]
    assert not any(other in host for host in hostvars), "another project's instance is listed"
    for host, hv in hostvars.items():
        instance = instances[host.split("-", 1)[1]]
        assert hv["ansible_host"] == instance["PublicIpAddress"]
        assert hv["pydeploy_private_ip"] == instance["PrivateIpAddress"]
        assert hv["ansible_user"] == "ubuntu"


def test_name_clash_fails_before_anything_changes(run_playbook, ec2, provisioned):  # pylint: disable=unused-argument
    # A group "team-web" that someone made by hand in the VPC.
    vpc = ec2.client.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    group_id = ec2.client.create_security_group(GroupName="team-web", Description="made by hand", VpcId=vpc)["GroupId"]
    cases = {
        # The key pair "shop" holds the first key; the same name with another key must not replace it.
        "key": ({"pydeploy_ec2_public_key_file": str(ec2.tmp / "other_ed25519.pub")}, "set pydeploy_ec2_key_name to another name"),
        # The project "team" may not take over "team-web".
        "group": ({"pydeploy_ec2_project": "team"}, "Set pydeploy_ec2_project to another name"),
    }
    before = resources(ec2.client)
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = dict(zip(cases, pool.map(
            lambda c: run_playbook(ec2, "provision_ec2", name="clash-" + c, **cases[c][0]), cases)))
    for case, run in runs.items():
        assert run.rc != 0 and run.changed == 0, (case, run)
        assert cases[case][1] in run.failure_message, (case, run.failure_message)
    assert resources(ec2.client) == before
    group = ec2.client.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    assert group["IpPermissions"] == [] and tags(group) == {}, "the foreign group was changed"
    ec2.client.delete_security_group(GroupId=group_id)


def test_teardown_removes_what_provision_made_and_nothing_else(ansible, run_playbook, ec2, provisioned):
    other = provisioned.other
    run = run_playbook(ec2, "teardown_ec2")
    assert run.rc == 0 and run.failures == 0, run
    assert resources(ec2.client) == {"keys": [], "groups": [], "instances": [other]}
    again = run_playbook(ec2, "teardown_ec2")
    assert again.rc == 0 and again.changed == 0, (again.changed_tasks(), again)
    inventory = ansible(["ansible-inventory", "-i", "inventories/aws_ec2.yml", "--list"],
                        dict(ec2.env, PYDEPLOY_EC2_PROJECT="shop"))
    assert inventory.rc == 0 and "web" not in inventory.data and "lb" not in inventory.data, inventory
