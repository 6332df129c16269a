"""Benchmark the deployed stack and the Ansible runs in one go (`make bench`).

Steps, each on this machine only (load runs on the container's loopback):
  1. floor:    a fresh container gets the same apt packages and pip installs as the converge, by hand (timed)
  2. converge: a fresh container gets site.yml (timed), then a no-change re-run (timed)
  3. redeploy: a new commit of the example app goes out with playbooks/deploy.yml (timed)
  4. load:     wrk inside the container against (a) gunicorn on TCP with the deployed settings, (b) nginx in front
               of the deployed service, (c) a static file, (d) the seed baseline `gunicorn app:app` behind a plain
               `proxy_pass`; the same threads, connections and duration for every case, rounds interleaved.
  5. mixed:    fast requests at a fixed rate (hey -q) through nginx, first alone, then while slow requests (2 s and
               8 s) occupy all workers but one, for sync, gthread (the deployed settings), gthread without nginx
               upstream keep-alive, gthread accepting only while a thread is free, and an ASGI app on uvicorn's
               worker; the same worker count for each.
Writes bench/results/latest.json, bench/results/chart.png and prints a table. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parse import format_mixed, format_table, mixed_check, parse_hey, parse_recap, parse_wrk, ratios  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
INVENTORY = ROOT / "bench" / "inventory" / "hosts.yml"
NAME = "pydeploy-bench"
FLOOR = "pydeploy-bench-floor"
REPO = "bench_hello"
APP = "hello"
HOST = "bench.test"
CACHE = os.environ.get("PYDEPLOY_CACHE", "/var/cache/pydeploy-test")
SSH_PORT = int(os.environ.get("PYDEPLOY_BENCH_SSH_PORT") or 2230)
SSH_DIR = ROOT / ".cache" / "bench"
DEPLOY_USER = "deployer"
IMAGE = os.environ.get("PYDEPLOY_IMAGE_PREFIX", "pydeploy/debian")
SEED_CONF = "/etc/nginx/conf.d/pydeploy-bench-seed.conf"
SEED_NGINX = """# Added by bench/run.py for the seed baseline only; removed after the run.
server {
    listen 127.0.0.1:8081;
    location / {
        proxy_pass http://127.0.0.1:8000;
    }
}
"""
MIXED_CONF = "/etc/nginx/conf.d/pydeploy-bench-mixed.conf"
MIXED_UNIT = "pydeploy-bench-mixed"
ASGI_VENV = "/opt/pydeploy-bench-asgi"
# Two more apps beside hello for the server rows: the FastAPI example on app_server uvicorn, and the Flask example on
# app_server procfile (its Procfile's web: line, gunicorn on $PORT, behind the instance's socket proxy).
SERVER_REPO = "bench_fastapi"
SERVER_APPS = [
    {"app_name": "b-uvicorn", "app_repo": f"/opt/pydeploy-examples/{SERVER_REPO}.git", "app_version": "main",
     "app_wsgi": "main:app", "app_interface": "asgi", "app_server": "uvicorn", "app_domains": ["uvicorn.bench.test"],
     "app_health_path": "/healthz"},
    {"app_name": "b-procfile", "app_repo": f"/opt/pydeploy-examples/{REPO}.git", "app_version": "main",
     "app_server": "procfile", "app_server_packages": ["gunicorn>=23.0.0"], "app_domains": ["procfile.bench.test"],
     "app_health_path": "/healthz", "app_processes": {}},
]
SERVERS_INVENTORY = ROOT / ".cache" / "bench-servers"
# A plain ASGI app with the example app's fast page and slow endpoint (no framework), for the ASGI worker case.
ASGI_APP = """
import asyncio
from urllib.parse import parse_qs


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    body = b"Hello from pydeploy.web (asgi)\\n"
    if scope["path"] == "/slow":
        seconds = min(float(parse_qs(scope["query_string"].decode()).get("seconds", ["1"])[0]), 30.0)
        await asyncio.sleep(seconds)
        body = b"slept\\n"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})
"""


def mixed_nginx(keepalive: int) -> str:
    """nginx in front of the mixed-load server, with the collection's upstream settings (keep-alive pool, HTTP/1.1)."""
    pool = f"    keepalive {keepalive};\n" if keepalive else ""
    return ("# Added by bench/run.py for the mixed-load case only; removed after the run.\n"
            f"upstream pydeploy_bench_mixed {{\n    server 127.0.0.1:8002;\n{pool}}}\n"
            "server {\n    listen 127.0.0.1:8082;\n    location / {\n        proxy_pass http://pydeploy_bench_mixed;\n"
            "        proxy_http_version 1.1;\n        proxy_set_header Connection \"\";\n"
            "        proxy_read_timeout 60s;\n    }\n}\n")


def log(msg: str) -> None:
    print(f"\033[1m==> {msg}\033[0m", file=sys.stderr, flush=True)


def run(argv: list[str], check: bool = True, capture: bool = True, **kw) -> subprocess.CompletedProcess:
    res = subprocess.run(argv, text=True, capture_output=capture, check=False, **kw)
    if check and res.returncode != 0:
        out = (res.stdout or "")[-3000:] + (res.stderr or "")[-3000:]
        raise SystemExit(f"command failed ({res.returncode}): {shlex.join(argv)}\n{out}")
    return res


def dexec(container: str, script: str, check: bool = True) -> str:
    return run(["docker", "exec", container, "bash", "-ec", script], check=check).stdout


def start_container(name: str, suite: str, ssh: bool = False) -> None:
    run(["docker", "rm", "-f", name], check=False)
    Path(CACHE, "bench-apt").mkdir(parents=True, exist_ok=True)
    run([
        "docker", "run", "-d", "--name", name, "--hostname", name,
        "--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
        "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
        "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
        *(["-p", f"127.0.0.1:{SSH_PORT}:22"] if ssh else []),
        # An apt cache of its own: the Molecule scenarios' shared apt cache is locked while one of them installs.
        # No shared pip cache: the app role keeps pip's cache per app, so the floor downloads as the converge does.
        "-v", f"{CACHE}/bench-apt:/var/cache/apt/archives:rw",
        f"{IMAGE}:{suite}", "/lib/systemd/systemd",
    ])
    dexec(name, "systemctl is-system-running --wait >/dev/null 2>&1 || true")
    if ssh:
        setup_ssh(name)


def setup_ssh(name: str) -> None:
    """What a VPS has before the first deploy (untimed): sshd, and a non-root user with sudo and our key."""
    SSH_DIR.mkdir(parents=True, exist_ok=True)
    key = SSH_DIR / "id_ed25519"
    if not key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pydeploy-bench", "-f", str(key)])
    public = key.with_suffix(".pub").read_text().strip()
    dexec(name, f"""
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq --no-install-recommends openssh-server sudo >/dev/null
        useradd -m -s /bin/bash {DEPLOY_USER}
        echo '{DEPLOY_USER} ALL=(ALL) NOPASSWD: ALL' >/etc/sudoers.d/{DEPLOY_USER} && chmod 0440 /etc/sudoers.d/{DEPLOY_USER}
        install -d -o {DEPLOY_USER} -g {DEPLOY_USER} -m 0700 /home/{DEPLOY_USER}/.ssh
        echo {shlex.quote(public)} >/home/{DEPLOY_USER}/.ssh/authorized_keys
        chown {DEPLOY_USER}: /home/{DEPLOY_USER}/.ssh/authorized_keys && chmod 0600 /home/{DEPLOY_USER}/.ssh/authorized_keys
        systemctl enable --now ssh >/dev/null 2>&1
    """)
    host_key = " ".join(dexec(name, "cat /etc/ssh/ssh_host_ed25519_key.pub").split()[:2])
    (SSH_DIR / "known_hosts").write_text(f"[127.0.0.1]:{SSH_PORT} {host_key}\n")
    # A control master left by an earlier run would point at the container this one replaced.
    run(["ssh", "-O", "exit", "-o", f"ControlPath={Path.home()}/.ansible/cp/%C", "-p", str(SSH_PORT),
         f"{DEPLOY_USER}@127.0.0.1"], check=False)
    for _attempt in range(40):
        if run(["ansible", "-i", str(INVENTORY), "web", "-m", "ansible.builtin.ping"], check=False, cwd=ROOT).returncode == 0:
            return
        time.sleep(0.5)
    raise SystemExit(f"no SSH to {DEPLOY_USER}@127.0.0.1:{SSH_PORT} in the bench container")


# Set by --mitogen: the timed runs use Mitogen's strategy (an opt-in; the collection does not need it).
PLAYBOOK_ENV: dict[str, str] = {}


def use_mitogen() -> str:
    """Install Mitogen into the tool venv (from PyPI) and point the timed runs at its strategy; return its version."""
    run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "mitogen"])
    import ansible_mitogen  # pylint: disable=import-error,import-outside-toplevel

    PLAYBOOK_ENV.update({
        "ANSIBLE_STRATEGY_PLUGINS": str(Path(ansible_mitogen.__file__).parent / "plugins" / "strategy"),
        "ANSIBLE_STRATEGY": "mitogen_linear",
    })
    return run([sys.executable, "-m", "pip", "show", "mitogen"]).stdout.split("Version:")[1].split()[0]


def playbook(log_name: str, *args: str) -> dict:
    """Run ansible-playbook with the shipped ansible.cfg; return wall seconds and the recap counters."""
    argv = ["ansible-playbook", "-i", str(INVENTORY), *args]
    t0 = time.monotonic()
    res = run(argv, check=False, cwd=ROOT, env={**os.environ, **PLAYBOOK_ENV})
    seconds = time.monotonic() - t0
    (RESULTS / f"{log_name}.log").write_text(res.stdout + res.stderr)
    if res.returncode != 0:
        raise SystemExit(f"{shlex.join(argv)} failed; log: bench/results/{log_name}.log\n{res.stdout[-4000:]}")
    return {"seconds": round(seconds, 2), **parse_recap(res.stdout)}


def commit_example(message: str, version: str) -> str:
    """Commit examples/flask_hello (VERSION replaced) into .cache/examples/bench_hello.git; return the commit."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "app"
        shutil.copytree(ROOT / "examples" / "flask_hello", src, ignore=shutil.ignore_patterns("__pycache__"))
        (src / "VERSION").write_text(version + "\n")
        out = run(["bash", str(ROOT / "scripts" / "example-repo.sh"), REPO, str(src), message]).stdout
    return out.strip().splitlines()[-1]


def publish(host: str, repo: str = REPO) -> None:
    run(["ansible-playbook", "-i", str(INVENTORY), str(ROOT / "examples" / "publish.yml"),
         "-e", f"example_name={repo}", "-e", f"pydeploy_hosts={host}"], cwd=ROOT)


def deploy_servers() -> dict:
    """Deploy the SERVER_APPS beside hello with pydeploy_apps (untimed); hello's release and site are left alone.

    The inventory is the bench's without its app_* group variables, which would apply to every app; hello's become
    the first entry. It sits two levels below the checkout, like bench/inventory, for the paths in hosts.yml.
    """
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "app"
        shutil.copytree(ROOT / "examples" / "fastapi_ws", src, ignore=shutil.ignore_patterns("__pycache__"))
        run(["bash", str(ROOT / "scripts" / "example-repo.sh"), SERVER_REPO, str(src), "bench: the FastAPI example"])
    publish(NAME, SERVER_REPO)
    (SERVERS_INVENTORY / "group_vars").mkdir(parents=True, exist_ok=True)
    shutil.copy(INVENTORY, SERVERS_INVENTORY / "hosts.yml")
    (SERVERS_INVENTORY / "group_vars" / "web.yml").write_text("---\n{}\n")
    hello = yaml.safe_load((INVENTORY.parent / "group_vars" / "web.yml").read_text())
    apps = [hello, *SERVER_APPS]
    argv = ["ansible-playbook", "-i", str(SERVERS_INVENTORY / "hosts.yml"), str(ROOT / "site.yml"),
            "-e", json.dumps({"pydeploy_apps": apps, "pydeploy_only": [a["app_name"] for a in SERVER_APPS]})]
    log("servers: site.yml with pydeploy_apps, deploying " + ", ".join(a["app_name"] for a in SERVER_APPS) + " (untimed)")
    t0 = time.monotonic()
    res = run(argv, check=False, cwd=ROOT, env={**os.environ, **PLAYBOOK_ENV})
    (RESULTS / "servers.log").write_text(res.stdout + res.stderr)
    if res.returncode != 0:
        raise SystemExit(f"{shlex.join(argv[:4])} failed; log: bench/results/servers.log\n{res.stdout[-4000:]}")
    return {"seconds": round(time.monotonic() - t0, 2), **parse_recap(res.stdout)}


def server_direct_commands() -> dict:
    """The deployed servers, reached without nginx: uvicorn's own command line on a TCP port (a second server, as
    case (a) is for gunicorn), and the Procfile web: command on the port the live instance listens on."""
    app = SERVER_APPS[0]["app_name"]
    live = dexec(NAME, f"readlink /run/pydeploy/{app}.sock").strip().rsplit("-", 1)[1].removesuffix(".sock")
    execstart = dexec(NAME, f"sed -n 's/^ExecStart=//p' /etc/systemd/system/{app}@.service").strip()
    argv = [a.replace("%i", live) for a in shlex.split(execstart)]
    fd = argv.index("--fd")
    argv[fd:fd + 2] = ["--host", "127.0.0.1", "--port", "8004"]
    ports = dexec(NAME, "ss -Hltn 'sport >= :18000 and sport <= :18001' | awk '{print $4}'").split()
    return {"uvicorn": shlex.join(argv), "procfile_port": ports[0].rsplit(":", 1)[1] if ports else ""}


def converge_packages() -> list[str]:
    pyvars = yaml.safe_load((ROOT / "roles" / "python" / "vars" / "main.yml").read_text())
    ngvars = yaml.safe_load((ROOT / "roles" / "nginx" / "vars" / "main.yml").read_text())
    return pyvars["__python_base_packages"] + pyvars["__python_build_packages"] + ngvars["__nginx_packages"]


def measure_floor(suite: str) -> dict:
    """The physical floor of a converge: the same apt packages and pip installs, nothing else."""
    log(f"floor: fresh container {FLOOR}")
    start_container(FLOOR, suite)
    pkgs = " ".join(converge_packages())
    requirements = (ROOT / "examples" / "flask_hello" / "requirements.txt").read_text()
    gunicorn_pkg = yaml.safe_load((ROOT / "roles" / "gunicorn" / "defaults" / "main.yml").read_text())["gunicorn_package"]
    # Untimed, as in the converge container: package lists (publish.yml refreshes them there), git, the app
    # user, and the debs downloaded (the apt cache is shared). pip downloads on both sides.
    dexec(FLOOR, f"""
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq git >/dev/null
        apt-get install -y -qq --no-install-recommends --download-only {pkgs} >/dev/null
        groupadd --system {APP} && useradd --system -g {APP} -d /srv/{APP} -M -s /usr/sbin/nologin {APP}
        install -d -o {APP} -g {APP} /srv/{APP}
        printf '%s' {shlex.quote(requirements)} >/srv/{APP}/requirements.txt
    """)
    script = f"""
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq --no-install-recommends {pkgs} >/dev/null
        runuser -u {APP} -- python3 -m venv /srv/{APP}/venv
        runuser -u {APP} -- /srv/{APP}/venv/bin/pip install -q --disable-pip-version-check --no-input -r /srv/{APP}/requirements.txt
        runuser -u {APP} -- /srv/{APP}/venv/bin/pip install -q --disable-pip-version-check --no-input {shlex.quote(gunicorn_pkg)}
    """
    log("floor: apt-get install + venv + pip install (timed)")
    t0 = time.monotonic()
    dexec(FLOOR, script)
    seconds = time.monotonic() - t0
    run(["docker", "rm", "-f", FLOOR], check=False)
    return {"seconds": round(seconds, 2), "packages": pkgs.split(), "pip": ["-r requirements.txt", gunicorn_pkg]}


def prepare_redeploy_floor() -> None:
    """Before the new commit is published: a clone of the example repo, as the deploy's cache is (untimed)."""
    dexec(NAME, "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl >/dev/null; "
                f"rm -rf /root/floor.git /root/floor-release; git clone -q --bare /opt/pydeploy-examples/{REPO}.git /root/floor.git")


def measure_redeploy_floor(commit: str) -> dict:
    """The physical floor of a code-only redeploy, on the deployed host by hand: git fetch of the new commit into a
    clone made beforehand, a checkout of it into a new directory, a gunicorn started on it from the live venv, and
    health probes until it answers."""
    script = f"""
        git -C /root/floor.git fetch -q origin main:main
        mkdir /root/floor-release
        git -C /root/floor.git archive {commit} | tar -x -C /root/floor-release
        systemd-run --unit=pydeploy-bench-floor-web --collect --working-directory=/root/floor-release \\
            /srv/{APP}/current/.venv/bin/gunicorn app:app --bind 127.0.0.1:8003 >/dev/null 2>&1
        until curl -fsS -o /dev/null http://127.0.0.1:8003/healthz 2>/dev/null; do sleep 0.05; done
    """
    log("redeploy floor: git fetch + checkout + gunicorn start + health probe, by hand (timed)")
    t0 = time.monotonic()
    dexec(NAME, script)
    seconds = time.monotonic() - t0
    dexec(NAME, "systemctl stop pydeploy-bench-floor-web; rm -rf /root/floor.git /root/floor-release", check=False)
    return {"seconds": round(seconds, 2), "commit": commit}


def wrk(args: argparse.Namespace, url: str, host: str | None) -> dict:
    header = f"-H 'Host: {host}'" if host else ""
    base = f"wrk -t{args.threads} -c{args.connections} {header}"
    dexec(NAME, f"{base} -d{args.warmup}s {url} >/dev/null")
    out = dexec(NAME, f"{base} -d{args.duration}s --latency {url}")
    return {**parse_wrk(out), "raw": out}


def expect(url: str, host: str | None, needle: str) -> None:
    header = f"-H 'Host: {host}'" if host else ""
    for _attempt in range(60):
        res = run(["docker", "exec", NAME, "bash", "-c", f"curl -fsS {header} {url}"], check=False)
        if res.returncode == 0 and needle in res.stdout:
            return
        time.sleep(0.5)
    raise SystemExit(f"{url} (Host {host}) did not answer with {needle!r}: {res.stdout}{res.stderr}")


def measure_load(args: argparse.Namespace, servers: bool) -> tuple[dict, dict]:
    root = f"/srv/{APP}"
    conf = f"/etc/pydeploy/{APP}/gunicorn.conf.py"
    log("load: installing wrk and curl in the container (untimed)")
    dexec(NAME, "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk curl >/dev/null")
    settings = dexec(NAME, f"grep -E '^(workers|worker_class|threads|keepalive|backlog) ' {conf}; "
                           f"grep -E 'keepalive|access_log' /etc/nginx/nginx.conf /etc/nginx/sites-enabled/{APP}.conf || true")
    common = (f"--uid={APP} --gid={APP} --working-directory={root}/current "
              f"-p EnvironmentFile=/etc/pydeploy/{APP}/env --collect")
    dexec(NAME, "systemctl stop pydeploy-bench-direct pydeploy-bench-seed 2>/dev/null || true; "
                f"systemd-run --unit=pydeploy-bench-direct {common} "
                f"{root}/current/.venv/bin/gunicorn --config {conf} --bind 127.0.0.1:8001 >/dev/null 2>&1; "
                f"systemd-run --unit=pydeploy-bench-seed {common} "
                f"{root}/current/.venv/bin/gunicorn app:app --bind 127.0.0.1:8000 >/dev/null 2>&1")
    dexec(NAME, f"cat >{SEED_CONF} <<'EOF'\n{SEED_NGINX}EOF\nnginx -t -q && systemctl reload nginx")
    cases = {
        "direct": ("http://127.0.0.1:8001/", HOST, "from pydeploy.web"),
        "proxied": ("http://127.0.0.1/", HOST, "from pydeploy.web"),
        "static": ("http://127.0.0.1/static/hello.txt", HOST, ""),
        "seed": ("http://127.0.0.1:8081/", HOST, "from pydeploy.web"),
    }
    if servers:
        direct = server_direct_commands()
        uvicorn = SERVER_APPS[0]["app_name"]
        dexec(NAME, "systemctl stop pydeploy-bench-uvicorn 2>/dev/null || true; "
                    f"systemd-run --unit=pydeploy-bench-uvicorn --uid={uvicorn} --gid={uvicorn} "
                    f"--working-directory=/srv/{uvicorn}/current -p EnvironmentFile=/etc/pydeploy/{uvicorn}/env "
                    f"--collect {direct['uvicorn']} >/dev/null 2>&1")
        cases.update({
            "uvicorn_direct": ("http://127.0.0.1:8004/", None, "fastapi_ws"),
            "uvicorn": ("http://127.0.0.1/", SERVER_APPS[0]["app_domains"][0], "fastapi_ws"),
            "procfile_direct": (f"http://127.0.0.1:{direct['procfile_port']}/", None, "from pydeploy.web"),
            "procfile": ("http://127.0.0.1/", SERVER_APPS[1]["app_domains"][0], "from pydeploy.web"),
        })
    static_body = (ROOT / "examples" / "flask_hello" / "static" / "hello.txt").read_text().strip()
    try:
        for key, (url, host, needle) in cases.items():
            expect(url, host, needle or static_body)
        samples: dict[str, list[dict]] = {k: [] for k in cases}
        order = list(cases)
        for rnd in range(args.rounds):
            for key in order if rnd % 2 == 0 else reversed(order):
                url, host, _label = cases[key]
                log(f"load: round {rnd + 1}/{args.rounds} {key} {url}")
                samples[key].append(wrk(args, url, host))
    finally:
        dexec(NAME, f"rm -f {SEED_CONF}; nginx -t -q && systemctl reload nginx; systemctl stop pydeploy-bench-direct "
                    "pydeploy-bench-seed pydeploy-bench-uvicorn 2>/dev/null || true", check=False)
    load = {}
    for key, runs in samples.items():
        agg = {}
        for field in ("rps", "p50_ms", "p99_ms"):
            vals = [r[field] for r in runs if r[field] is not None]
            agg[field] = round(sum(vals) / len(vals), 3) if vals else None
        agg["socket_errors"] = sum(r["socket_errors"] for r in runs)
        agg["non_2xx"] = sum(r["non_2xx"] for r in runs)
        agg["rounds"] = [{k: v for k, v in r.items() if k != "raw"} for r in runs]
        agg["url"] = cases[key][0]
        load[key] = agg
    return load, {"deployed": settings.strip().splitlines()}


def hey(args: argparse.Namespace, url: str) -> dict:
    """Fast GETs at a fixed rate (keep-alive), so the latency shows waiting, not the server's capacity."""
    per_client = max(1, args.mixed_rate // args.mixed_clients)
    out = dexec(NAME, f"hey -z {args.mixed_duration}s -c {args.mixed_clients} -q {per_client} -t 30 {url}")
    return {**parse_hey(out), "raw": out}


def measure_mixed(args: argparse.Namespace) -> dict:
    """Fast requests alone, then beside slow ones in all workers but one, for each server configuration."""
    root = f"/srv/{APP}"
    conf = f"/etc/pydeploy/{APP}/gunicorn.conf.py"
    log("mixed: installing hey, and an ASGI venv (gunicorn, uvicorn-worker) beside the app (untimed)")
    dexec(NAME, "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends hey curl >/dev/null")
    gunicorn_pkg = yaml.safe_load((ROOT / "roles" / "gunicorn" / "defaults" / "main.yml").read_text())["gunicorn_package"]
    dexec(NAME, f"test -x {ASGI_VENV}/bin/gunicorn || {{ python3 -m venv {ASGI_VENV} && "
                f"{ASGI_VENV}/bin/pip install -q --disable-pip-version-check {shlex.quote(gunicorn_pkg)} uvicorn-worker; }}\n"
                f"cat >{ASGI_VENV}/asgi_app.py <<'EOF'\n{ASGI_APP}EOF")
    deployed = dict(ln.split(" = ", 1) for ln in dexec(NAME, f"grep -E '^(workers|threads|worker_class) ' {conf}").splitlines())
    workers, threads = int(deployed["workers"]), max(2, int(deployed.get("threads", "1")))
    worker_class = deployed.get("worker_class", '"sync"').strip('"')
    keepalive_line = dexec(NAME, f"grep -hoE '^\\s*keepalive [0-9]+' /etc/nginx/sites-enabled/{APP}.conf || true").split()
    keepalive = int(keepalive_line[-1]) if keepalive_line else 0
    app_server = f"{root}/current/.venv/bin/gunicorn --config {conf} --bind 127.0.0.1:8002"
    gthread = f"{app_server} -k gthread --threads {threads}"
    configs = {
        f"sync, {workers} workers": (f"{app_server} -k sync --threads 1", 0),
        f"gthread, {workers} x {threads} threads, upstream keep-alive {keepalive or 16}": (gthread, keepalive or 16),
        f"gthread, {workers} x {threads}, no upstream keep-alive": (gthread, 0),
        # A gthread worker accepts while it has fewer than worker_connections connections, busy threads or not.
        f"gthread, {workers} x {threads}, worker_connections {threads}, no upstream keep-alive": (
            f"{gthread} --worker-connections {threads}", 0),
        f"ASGI (uvicorn_worker), {workers} workers": (
            f"{ASGI_VENV}/bin/gunicorn --chdir {ASGI_VENV} asgi_app:app -k uvicorn_worker.UvicornWorker "
            f"--workers {workers} --bind 127.0.0.1:8002", keepalive or 16),
    }
    # The one this collection deploys by default.
    default = next((name for name in configs if name.startswith(worker_class + ",")
                    and (worker_class != "gthread" or "upstream keep-alive" in name and "no upstream" not in name)), "")
    configs = {(name + " (deployed)" if name == default else name): value for name, value in configs.items()}
    slow = max(1, workers - 1)
    common = f"--uid={APP} --gid={APP} --working-directory={root}/current -p EnvironmentFile=/etc/pydeploy/{APP}/env --collect"
    results: dict = {}
    try:
        for name, (server, pool) in configs.items():
            log(f"mixed: {name}, nginx upstream keepalive {pool}")
            dexec(NAME, f"systemctl stop {MIXED_UNIT} 2>/dev/null || true; "
                        f"systemd-run --unit={MIXED_UNIT} {common} {server} >/dev/null 2>&1\n"
                        f"cat >{MIXED_CONF} <<'EOF'\n{mixed_nginx(pool)}EOF\nnginx -t -q && systemctl reload nginx")
            expect("http://127.0.0.1:8082/", None, "Hello")
            hey(argparse.Namespace(**{**vars(args), "mixed_duration": 2}), "http://127.0.0.1:8082/")  # warm-up
            # Uniform load first, as the load cases above: closed-loop wrk, what the server does flat out.
            uniform = wrk(args, "http://127.0.0.1:8082/", None)
            base = hey(args, "http://127.0.0.1:8082/")
            # All workers but one get a slow request at all times: curl loops of 8 s and 2 s requests.
            loops = "; ".join(
                f"systemd-run --unit=pydeploy-bench-slow{i} --collect bash -c 'while :; do curl -s -o /dev/null "
                f"\"http://127.0.0.1:8082/slow?seconds={8 if i % 2 == 0 else 2}\"; done' >/dev/null 2>&1"
                for i in range(slow))
            dexec(NAME, loops + "; sleep 1")
            try:
                mixed = hey(args, "http://127.0.0.1:8082/")
            finally:
                dexec(NAME, "systemctl stop " + " ".join(f"pydeploy-bench-slow{i}" for i in range(slow)), check=False)
            results[name] = {"server": server, "upstream_keepalive": pool, "slow_in_flight": slow,
                             "uniform": {k: v for k, v in uniform.items() if k != "raw"},
                             "base": {k: v for k, v in base.items() if k != "raw"},
                             "mixed": {k: v for k, v in mixed.items() if k != "raw"},
                             "hey_output": {"base": base["raw"], "mixed": mixed["raw"]}}
    finally:
        dexec(NAME, f"systemctl stop {MIXED_UNIT} 2>/dev/null || true; rm -f {MIXED_CONF}; "
                    "nginx -t -q && systemctl reload nginx", check=False)
    return results


def machine(suite: str) -> dict:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "unknown")
    mem_kb = int(next(ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")))
    os_release = dexec(NAME, ". /etc/os-release; echo \"$PRETTY_NAME\"; cat /etc/debian_version").split("\n")
    versions = dexec(NAME, "nginx -v 2>&1; /srv/hello/current/.venv/bin/gunicorn --version; "
                           "/srv/hello/current/.venv/bin/python --version; wrk -v 2>&1 | head -1 || true")
    return {
        "nproc": os.cpu_count(),
        "container_nproc": int(dexec(NAME, "nproc").strip()),
        "mem_total_mib": mem_kb // 1024,
        "cpu_model": cpu,
        "kernel": platform.release(),
        "container_suite": f"{suite} ({os_release[0]}, {os_release[1]})",
        "versions": [v for v in versions.splitlines() if v.strip()],
        "ansible": run(["ansible", "--version"]).stdout.splitlines()[0],
        "connection": f"ssh {DEPLOY_USER}@127.0.0.1:{SSH_PORT} (published container port), sudo, the checkout's ansible.cfg",
    }


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def others() -> list[str]:
    names = run(["docker", "ps", "--format", "{{.Names}}"]).stdout.split()
    return [n for n in names if n not in (NAME, FLOOR)]


def chart(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    load, runs = data["load"], data["ansible"]
    keys = [k for k in ("direct", "proxied", "static", "seed") if k in load]
    labels = {"direct": "(a) gunicorn\ndirect", "proxied": "(b) nginx ->\ngunicorn", "static": "(c) static\nvia nginx",
              "seed": "(d) seed\nbaseline"}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    ax = axes[0]
    bars = ax.bar([labels[k] for k in keys], [load[k]["rps"] for k in keys], color=["#888", "#2a7", "#27a", "#c66"])
    ax.set_yscale("log")
    ax.set_title("requests/s (log scale, higher is better)")
    ax.bar_label(bars, fmt="%.0f")
    ax = axes[1]
    x = range(len(keys))
    ax.bar([i - 0.2 for i in x], [load[k]["p50_ms"] or 0 for k in keys], 0.4, label="p50")
    ax.bar([i + 0.2 for i in x], [load[k]["p99_ms"] or 0 for k in keys], 0.4, label="p99")
    ax.set_xticks(list(x), [labels[k] for k in keys])
    ax.set_title("latency ms (lower is better)")
    ax.legend()
    ax = axes[2]
    rkeys = [k for k in ("floor", "converge", "noop", "redeploy_floor", "redeploy") if k in runs]
    rlabels = {"floor": "bare apt+pip\n(floor)", "converge": "fresh\nconverge", "noop": "no-change\nre-run",
               "redeploy_floor": "fetch+start\n(floor)", "redeploy": "code-only\nredeploy"}
    bars = ax.bar([rlabels[k] for k in rkeys], [runs[k]["seconds"] for k in rkeys], color="#57a")
    ax.bar_label(bars, fmt="%.1f s")
    ax.set_title("Ansible over SSH, wall time s (lower is better)")
    summary = "   ".join(f"{c['name']}: {c['value']:.2f} ({c['op']} {c['target']:g} {'met' if c['pass'] else 'MISSED'})"
                         for c in data["checks"] if c["value"] is not None)
    fig.suptitle(f"pydeploy.web make bench, {data['date']} - {data['machine']['nproc']} CPUs, "
                 f"wrk -t{data['wrk']['threads']} -c{data['wrk']['connections']} -d{data['wrk']['duration']}s",
                 fontsize=11)
    fig.text(0.5, 0.01, summary, ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 0.95))
    fig.savefig(path, dpi=90)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", default=os.environ.get("PYDEPLOY_BENCH_SUITE", "bookworm"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--duration", type=int, default=10, help="seconds per load case and round")
    p.add_argument("--warmup", type=int, default=2, help="seconds of warm-up before each load case")
    p.add_argument("--rounds", type=int, default=2, help="rounds of the four load cases, interleaved")
    p.add_argument("--mixed-duration", type=int, default=10, help="seconds of fast requests per mixed-load run")
    p.add_argument("--mixed-rate", type=int, default=200, help="fast requests per second in the mixed-load case")
    p.add_argument("--mixed-clients", type=int, default=8, help="concurrent fast clients (keep-alive) in the mixed case")
    p.add_argument("--no-mixed", action="store_true", help="skip the mixed-load case")
    p.add_argument("--no-servers", action="store_true", help="skip the uvicorn and Procfile rows (two more apps)")
    p.add_argument("--mitogen", action="store_true", help="time the Ansible runs with Mitogen's strategy (opt-in)")
    p.add_argument("--load-only", action="store_true", help="reuse the running container, skip the Ansible timings")
    p.add_argument("--keep", action="store_true", help="leave the container running afterwards")
    p.add_argument("-e", "--extra-vars", action="append", default=[], help="passed to the site.yml runs (experiments)")
    p.add_argument("--out", default=str(RESULTS / "latest.json"))
    args = p.parse_args()

    RESULTS.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    extra = [a for e in args.extra_vars for a in ("-e", e)]
    site = str(ROOT / "site.yml")
    runs: dict = {}
    load_before = loadavg()
    concurrent = others()

    strategy = f"mitogen_linear (mitogen {use_mitogen()})" if args.mitogen else "linear"
    if not args.load_only:
        commit_example("bench: release 1", "1")
        runs["floor"] = measure_floor(args.suite)
        log(f"converge: fresh container {NAME}")
        start_container(NAME, args.suite, ssh=True)
        publish(NAME)
        log("converge: ansible-playbook site.yml on a fresh container (timed)")
        runs["converge"] = playbook("converge", site, *extra)
        log("no-change: ansible-playbook site.yml again (timed)")
        runs["noop"] = playbook("noop", site, *extra)
        if runs["noop"]["changed"]:
            log(f"warning: the no-change run changed {runs['noop']['changed']} task(s)")
        prepare_redeploy_floor()
        commit = commit_example("bench: release 2", f"2 ({int(time.time())})")
        publish(NAME)
        runs["redeploy_floor"] = measure_redeploy_floor(commit)
        log(f"redeploy: ansible-playbook playbooks/deploy.yml with commit {commit[:12]} (timed)")
        runs["redeploy"] = playbook("redeploy", str(ROOT / "playbooks" / "deploy.yml"), *extra)
        runs["redeploy"]["commit"] = commit
    elif Path(args.out).exists():
        runs = json.loads(Path(args.out).read_text()).get("ansible", {})

    if not args.no_servers:
        runs["servers"] = deploy_servers()
    load, deployed = measure_load(args, servers=not args.no_servers)
    mixed = {} if args.no_mixed else measure_mixed(args)
    checks = ratios(load, runs)
    deployed_case = next((k for k in mixed if k.endswith("(deployed)")), "")
    if mixed:
        checks.append(mixed_check(mixed, deployed_case))
    data = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(args.suite),
        "concurrent_containers": concurrent,
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
        "wrk": {"threads": args.threads, "connections": args.connections, "duration": args.duration,
                "warmup": args.warmup, "rounds": args.rounds},
        "extra_vars": args.extra_vars,
        "strategy": strategy,
        "settings": deployed,
        "load": load,
        "mixed": mixed,
        "mixed_load": {"rate": args.mixed_rate, "clients": args.mixed_clients, "duration": args.mixed_duration},
        "ansible": runs,
        "checks": checks,
        "wall_seconds": round(time.monotonic() - t_start, 1),
    }
    out = Path(args.out)
    out.write_text(json.dumps(data, indent=2) + "\n")
    chart(data, out.with_name(out.stem.replace("latest", "chart") + ".png") if out.stem == "latest"
          else out.with_suffix(".png"))
    print(format_table(load, runs, checks))
    if mixed:
        print(f"\nMixed load: {args.mixed_rate} fast GETs/s from {args.mixed_clients} keep-alive clients for "
              f"{args.mixed_duration} s, alone and beside slow requests (8 s and 2 s) in all workers but one\n")
        print(format_mixed(mixed))
    print(f"\nAnsible: {data['machine']['connection']}, strategy {strategy}")
    print(f"Deployed settings: {'; '.join(deployed['deployed'])}")
    print(f"Other containers running meanwhile: {', '.join(concurrent) or 'none'}; "
          f"load average before {load_before}, after {data['loadavg_after']}")
    print(f"Results: {out} (wall {data['wall_seconds']} s)")
    if not args.keep:
        run(["docker", "rm", "-f", NAME], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
