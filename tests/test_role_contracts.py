"""Static contracts of the roles that Molecule does not see: specs match defaults, templates are marked."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir())


def load(path):
    return yaml.safe_load(path.read_text()) or {}


@pytest.mark.parametrize("role", ROLES)
def test_role_layout(role):
    base = ROOT / "roles" / role
    # templates/ only where the role has templates: git keeps no empty directory, and the tarball no placeholder.
    for part in ("defaults/main.yml", "meta/argument_specs.yml", "meta/main.yml", "tasks/main.yml",
                 "handlers/main.yml", "README.md"):
        assert (base / part).exists(), f"roles/{role}/{part} is missing"


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_in_the_spec_with_the_same_value(role):
    base = ROOT / "roles" / role
    defaults = load(base / "defaults/main.yml")
    spec = load(base / "meta/argument_specs.yml")["argument_specs"]
    options = spec["main"]["options"]
    for name, value in defaults.items():
        assert name in options, f"{role}: default {name} has no argument spec"
        assert options[name].get("default") == value, f"{role}: {name} default differs between defaults and spec"
    for name, opt in options.items():
        if name.startswith(role + "_"):
            assert name in defaults or opt.get("required"), f"{role}: {name} is in the spec but has no default"
        assert opt.get("description"), f"{role}: {name} has no description"
        assert opt.get("type"), f"{role}: {name} has no type"
        if opt.get("type") == "list":
            assert opt.get("elements"), f"{role}: list {name} has no elements type"


@pytest.mark.parametrize("role", ROLES)
def test_preflight_entry_point_checks_the_same_options(role):
    spec = load(ROOT / "roles" / role / "meta/argument_specs.yml")["argument_specs"]
    assert spec["preflight"]["options"] == spec["main"]["options"]


@pytest.mark.parametrize("role", ROLES)
def test_role_variables_carry_the_role_prefix(role):
    base = ROOT / "roles" / role
    for name in load(base / "defaults/main.yml"):
        assert name.startswith(role + "_"), f"{role}: default {name} lacks the prefix"
    for name in load(base / "vars/main.yml") if (base / "vars/main.yml").exists() else {}:
        assert name.startswith(f"__{role}_"), f"{role}: var {name} lacks the internal prefix"


# The lifecycle's adapters: the only files where the app role writes another role's inputs and reads its outputs.
ADAPTERS = {"app": {"tasks/server.yml", "tasks/processes.yml"}}
# Outputs a role publishes for the lifecycle (documented in its argument_specs description).
OUTPUTS = {"gunicorn_requirements", "gunicorn_changed", "appserver_requirements", "appserver_changed",
           "processes_restart_needed"}


@pytest.mark.parametrize("role", ROLES)
def test_no_role_reads_another_roles_variables(role):
    """Roles take explicit inputs: outside the app role's adapters, no role names another role's variables."""
    base = ROOT / "roles" / role
    others = [r for r in ROLES if r != role]
    pattern = re.compile(r"(?<![\w.'\[])(?:%s)_[a-z0-9_]+" % "|".join(others))
    found = []
    for path in sorted(base.rglob("*")):
        rel = str(path.relative_to(base))
        # Documentation may name other roles' variables; the argument specs are documentation.
        if not path.is_file() or rel.endswith(".md") or rel == "meta/argument_specs.yml" or rel in ADAPTERS.get(role, set()):
            continue
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            # Expressions only: Jinja in templates and values, and conditions. Messages may name other roles' variables.
            code = " ".join(re.findall(r"\{\{.*?\}\}|\{%.*?%\}", line))
            if re.match(r"\s*(- )?(when|that|until|failed_when|changed_when):", line):
                code += " " + line
            for name in pattern.findall(code):
                found.append(f"roles/{role}/{rel}:{lineno}: {name}")
    assert not found, "\n".join(found)


def test_adapters_read_only_published_outputs():
    for role, files in ADAPTERS.items():
        for rel in files:
            text = (ROOT / "roles" / role / rel).read_text()
            for other in ROLES:
                if other == role:
                    continue
                read = set(re.findall(r"\{\{[^}]*?\b(%s_[a-z0-9_]+)" % other, text))
                assert read <= OUTPUTS, f"roles/{role}/{rel} reads {sorted(read - OUTPUTS)}"


def test_templates_start_with_ansible_managed():
    templates = list((ROOT / "roles").glob("*/templates/**/*.j2"))
    assert templates
    for t in templates:
        text = t.read_text()
        if text.startswith("#!"):  # a script's shebang must stay first
            text = text.split("\n", 1)[1]
        assert text.startswith("{{ ansible_managed | comment }}"), t


def test_every_command_task_declares_changes():
    """ansible-lint checks this too; keep the rule even if its profile changes."""
    for tasks in (ROOT / "roles").glob("*/tasks/*.yml"):
        for task in load_tasks(tasks):
            for key in ("ansible.builtin.command", "ansible.builtin.shell"):
                if key in task:
                    assert "changed_when" in task or "creates" in str(task[key]), f"{tasks}: {task.get('name')}"


def load_tasks(path):
    out = []

    def walk(items):
        for t in items or []:
            out.append(t)
            for k in ("block", "rescue", "always"):
                walk(t.get(k))

    walk(yaml.safe_load(path.read_text()))
    return out


def _role_default(role, name):
    value = load(ROOT / "roles" / role / "defaults/main.yml")[name]
    # A default computed per app entry, such as app_health_path, falls back to a literal itself.
    inner = re.search(r"default\(([^)]*)\)", value) if isinstance(value, str) and "{{" in value else None
    return yaml.safe_load(inner.group(1)) if inner else value


def test_playbooks_fall_back_to_the_roles_defaults():
    """Where a playbook wires a role's input it may fall back to that role's default only, never to another value."""
    found = {}
    for path in sorted((ROOT / "playbooks").rglob("*.yml")):
        for name, fallback in re.findall(r"(?<!\w)(?<!pydeploy_app\.)((?:nginx|app|lb|firewall|gunicorn|python)_\w+) \| default\(([^()]*)\)",
                                         path.read_text()):
            found.setdefault(name, set()).add(fallback)
    assert {"nginx_http_port", "nginx_https_port", "nginx_tls_mode", "app_health_path"} <= set(found), found
    for name, fallbacks in found.items():
        role = name.split("_", 1)[0]
        if not (ROOT / "roles" / role / "defaults/main.yml").exists() or name not in load(ROOT / "roles" / role / "defaults/main.yml"):
            continue
        for fallback in fallbacks:
            assert yaml.safe_load(fallback) == _role_default(role, name), f"playbooks fall back to {fallback} for {name}"


def test_firewall_is_wired_once_with_nginx_ports_and_balancer_sources():
    """site.yml checks and sets up the firewall through one task file, which hands it nginx's ports."""
    tasks = load(ROOT / "playbooks/tasks/firewall.yml")
    wired = [t for t in tasks if t.get("ansible.builtin.include_role", {}).get("name") == "pydeploy.web.firewall"]
    assert len(wired) == 1 and {"firewall_web_ports", "firewall_web_sources"} <= set(wired[0]["vars"]), wired
    site = (ROOT / "playbooks/site.yml").read_text() + (ROOT / "playbooks/tasks/roll.yml").read_text()
    assert site.count("firewall.yml") == 2, "site.yml checks the firewall and roll.yml sets it up, both through tasks/firewall.yml"


def test_playbooks_pass_the_python_roles_uv_to_the_app_role():
    """app_uv_path comes from python_uv_path; where the python role does not run, from the path it installs uv at."""
    uv = load(ROOT / "roles/python/vars/main.yml")["__python_uv_venv"] + "/bin/uv"
    text = (ROOT / "playbooks/tasks/app.yml").read_text()
    found = [line.strip() for line in text.splitlines() if line.strip().startswith("app_uv_path:")]
    assert len(found) == 1, found
    assert "python_uv_path" in found[0], found[0]
    fallback = re.search(r"default\('([^']*)'\)", found[0])
    assert fallback is not None and fallback.group(1) == uv, f"playbooks/tasks/app.yml falls back to another path than {uv}"
    # Every playbook deploys through that one task file, by way of the loop over the apps.
    assert "include_tasks: app.yml" in (ROOT / "playbooks/tasks/apps.yml").read_text()
    for name in ("site.yml", "deploy.yml", "rollback.yml"):
        assert "tasks/apps.yml" in (ROOT / "playbooks" / name).read_text(), name
