"""One balancer, three app hosts: rolling deploys under mixed load through the balancer.

The steps run in file order and build on each other:
  00  after converge (site.yml rolled through web1..web3): every host serves the first release through the balancer,
      static files and the health check too, over HTTPS with HTTP redirected
  10  the app hosts' nginx answers the balancer only (nftables admits its address alone), and believes the client
      address and scheme from the balancer only
  20  a rolling deploy of a new commit (deploy.yml) under mixed load: no failed request, no request sent to a host
      while it was out, every host on the new release
  30  a rolling rollback (rollback.yml) two hosts at a time, under mixed load: the same, web1 and web2 out together,
      then web3, every host back on the first release
  40  a deploy whose release fails its gate on the second host, under mixed load: the play fails naming the host and
      the reason, web1 runs the new release, web2 is back in rotation on its old release, web3 was never touched
  50  bad input (pydeploy_serial 0, a group lb without web hosts, a web host the balancer cannot reach) fails
      before any host changes, naming the variable or the host
  60  web2 dies (its container is killed) once it is out and drained: the roll stops, the balancer keeps it out, and
      web1 and web3 answer every request
Mixed load: hey inside the balancer's container against its HTTPS port: POSTs with a 1 KiB body and GETs of a static
file on kept-alive HTTP/1.1 connections, fast GETs of the health check on kept-alive HTTP/2 connections, and requests
that take 4 s. Counts per stream are printed and
appended to .cache/scale_out/results.txt.
"""

import copy
import json
import os
import re
import subprocess
import tempfile
import time

import testinfra
import yaml
from pydeploy_testlib import DOMAIN, PROJECT, HeyLoad, http, playbook, publish_commit

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
RESULTS = os.path.join(str(PROJECT), ".cache", "scale_out", "results.txt")
BODY = "x" * 1024
SLOW_SECONDS = 4
STATE = {}


def _hosts():
    with open(INVENTORY, encoding="utf-8") as fh:
        inv = yaml.safe_load(fh)
    lb = sorted((inv.get("lb") or {}).get("hosts") or {})
    web = sorted((inv.get("web") or {}).get("hosts") or {})
    assert len(lb) == 1 and len(web) == 3, inv
    return inv, lb[0], web


INV, LB, WEB = _hosts()


def record(line):
    print(line, flush=True)
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "a", encoding="utf-8") as fh:
        fh.write(time.strftime("%Y-%m-%dT%H:%M:%S ") + line + "\n")


def sh(container, script, check=True, timeout=120):
    proc = subprocess.run(["docker", "exec", container, "sh", "-c", script], capture_output=True, text=True,
                          timeout=timeout, check=False)
    if check:
        assert proc.returncode == 0, "%s: %s\n%s\n%s" % (container, script, proc.stdout, proc.stderr)
    return proc.stdout


def lb_sh(script, check=True):
    return sh(LB, script, check)


def curl(path, *args):
    """A request through the balancer's HTTPS port; returns the body (fails on a non-2xx status)."""
    return lb_sh("curl -sSk --fail --max-time 15 --resolve %s:443:127.0.0.1 %s 'https://%s%s'"
                 % (DOMAIN, " ".join(args), DOMAIN, path))


def live_release(web):
    return sh(web, "readlink -f /srv/hello/current").strip().rsplit("/", 1)[-1]


def addresses():
    """The balancer's backends: {host name: address}."""
    conf = json.loads(lb_sh("cat /etc/nginx/pydeploy-lb/balancer.json"))
    return {b["name"]: b["address"] for b in conf["backends"]}


def play(path, extra_vars=None, inventory=None):
    t0 = time.monotonic()
    if inventory is None:
        rc, out = playbook(path, extra_vars, check=False)
    else:
        cmd = ["ansible-playbook", "-i", inventory, os.path.join(str(PROJECT), path)]
        if extra_vars:
            cmd += ["-e", json.dumps(extra_vars)]
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(str(PROJECT), ".collections"), ANSIBLE_NOCOLOR="1")
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=str(PROJECT), check=False)
        rc, out = proc.returncode, proc.stdout + proc.stderr
    return rc, out, time.monotonic() - t0


def recap(out):
    """{host: changed count} of the play recap."""
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", out, re.M)}


POOL_LOG = "/var/log/pydeploy-lb/pool-access.log"
POOL_ERRORS = "/var/log/pydeploy-lb/pool-error.log"
POOL_SOCKET = "/run/pydeploy-lb/pool.sock"
# What nginx logs when it takes a host out of an upstream, or finds none left.
MARKED_DOWN = re.compile(r"upstream server temporarily disabled|no live upstreams")
# A request the pool's old workers took in the instant of a reload may start just after one the new workers took.
RELOAD_GRACE = 1.0


class Watch:
    """The balancer pool's access log over a step: for each request, when it started at an app host, which host, and
    which hosts the configuration that passed it on had out of rotation (its out="..." field)."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        lb_sh(": > %s" % POOL_LOG)
        return self

    def __exit__(self, *exc):
        return False

    def requests(self):
        """(start, upstream address, hosts out) of each request the pool passed on, in order of start."""
        rows = []
        for line in lb_sh("cat %s" % POOL_LOG).splitlines():
            m = re.search(r'rt=([0-9.]+) upstream=(\S+(?:, \S+)*) upstream_status=\S+(?:, \S+)* msec=([0-9.]+) out="([^"]*)"',
                          line)
            if not m:
                continue
            start = float(m.group(3)) - float(m.group(1))
            for addr in m.group(2).split(", "):
                rows.append((start, addr.rsplit(":", 1)[0], frozenset(m.group(4).split())))
        return sorted(rows)

    def down_intervals(self, rows=None):
        """{host: [(first, last)]}: the starts of the first and last request passed on by a configuration that had the
        host out, for each stretch of such requests (rows: requests() already read)."""
        out, current = {}, {}
        for start, _addr, down in self.requests() if rows is None else rows:
            for host in down:
                span = current.setdefault(host, [start, start])
                span[1] = start
            for host in set(current) - down:
                out.setdefault(host, []).append(tuple(current.pop(host)))
        for host, span in current.items():
            out.setdefault(host, []).append(tuple(span))
        # At a reload the old workers may still start a request just after the new ones started theirs: stretches of
        # one host less than RELOAD_GRACE apart are one time out.
        for host, spans in out.items():
            merged = [spans[0]]
            for first, last in spans[1:]:
                if first - merged[-1][1] < RELOAD_GRACE:
                    merged[-1] = (merged[-1][0], last)
                else:
                    merged.append((first, last))
            out[host] = merged
        return out

    def sent_while_out(self):
        """Requests passed on to a host by a configuration that had it out, or that started at a host while it was out
        (later than RELOAD_GRACE after the first request passed on by a configuration that had it out, and earlier than
        RELOAD_GRACE before the last one: a reload's old and new workers overlap that long at most)."""
        addrs = addresses()
        rows = self.requests()
        bad = [("passed on while out", r) for r in rows if any(addrs[h] == r[1] for h in r[2])]
        intervals = self.down_intervals(rows)
        for host, spans in intervals.items():
            for first, last in spans:
                bad += [(host, r) for r in rows
                        if r[1] == addrs[host] and first + RELOAD_GRACE < r[0] < last - RELOAD_GRACE]
        return intervals, bad


def mixed_load(name):
    """Through the balancer's HTTPS port: POSTs with a 1 KiB body and GETs of a static file on kept-alive HTTP/1.1
    connections (a client does not resend a POST whose connection closes under it), fast GETs of the health check on
    kept-alive HTTP/2 connections, and requests that take SLOW_SECONDS."""
    url = "https://127.0.0.1"
    return HeyLoad(lb_sh, name, {
        "post": "-c 2 -q 15 -m POST -T text/plain -d %s -host %s %s/echo" % (BODY, DOMAIN, url),
        "get": "-h2 -c 2 -q 15 -host %s %s/healthz" % (DOMAIN, url),
        "static": "-c 1 -q 15 -host %s %s/static/hello.txt" % (DOMAIN, url),
        "slow": "-c 2 -host %s '%s/slow?seconds=%d'" % (DOMAIN, url, SLOW_SECONDS),
    }, tail=3.0)


def check_load(step, load, seconds, rc):
    total = load.total()
    for stream, r in sorted(load.results.items()):
        record("LOAD %-26s %-6s requests=%d failed=%d codes=%s slowest=%ss" % (
            step, stream, r["requests"], r["failed"], r["codes"], r["slowest"]))
    record("LOAD %-26s total  requests=%d failed=%d slowest=%.3fs playbook=%.1fs rc=%s" % (
        step, total["requests"], total["failed"], total["slowest"], seconds, rc))
    errors = {s: (r["codes"], r["errors"]) for s, r in load.results.items() if r["failed"]}
    assert total["failed"] == 0, "%s: %d failed requests: %s" % (step, total["failed"], errors)
    assert all(r["requests"] > 0 for r in load.results.values()), load.results
    assert load.results["slow"]["ok"] >= 2, load.results["slow"]


def servers_seen(n=24):
    """The app hosts that answered n requests through the balancer."""
    return {json.loads(curl("/whoami"))["server"] for _request in range(n)}


def test_00_served_through_the_balancer():
    assert "(flask_hello 1)" in curl("/")
    assert "Served by nginx" in curl("/static/hello.txt")
    assert json.loads(curl("/healthz"))["status"] == "ok"
    # Plain HTTP redirects to HTTPS.
    assert lb_sh("curl -s -o /dev/null -w '%%{http_code}' -H 'Host: %s' http://127.0.0.1/" % DOMAIN) == "308"
    assert servers_seen() == set(WEB)
    STATE["r1"] = {w: live_release(w) for w in WEB}
    # The public ports are the public nginx's; the check server listens on loopback only, the pool on a unix socket.
    listening = lb_sh("ss -Htlnp")
    for port in (80, 443):
        assert re.search(r"(0\.0\.0\.0|\*|\[::\]):%d\s" % port, listening), listening
    assert re.search(r"127\.0\.0\.1:8099\s", listening), listening
    assert not re.search(r"(0\.0\.0\.0|\*|\[::\]):8099\s", listening), listening
    assert POOL_SOCKET in lb_sh("ss -Hxl"), lb_sh("ss -Hxl")
    assert lb_sh("systemctl is-active pydeploy-lb-pool.service nginx.service").split() == ["active", "active"]


def public_nginx():
    """The public nginx's master and worker PIDs: they change when it reloads."""
    return lb_sh("cat /run/nginx.pid; ps --ppid $(cat /run/nginx.pid) -o pid= | sort -n").split()


def test_10_app_hosts_answer_the_balancer_only():
    addrs = addresses()
    probe = ("python3 -c \"import socket,sys; s=socket.socket(); s.settimeout(3); "
             "print(s.connect_ex(('%s', 80)))\"")
    # From the balancer: open. From another app host: dropped (connect times out, errno EAGAIN 11).
    assert lb_sh(probe % addrs[WEB[0]]).strip() == "0"
    assert sh(WEB[1], probe % addrs[WEB[0]]).strip() != "0"
    # The client's address and scheme come from the balancer, whatever the client claims.
    seen = json.loads(lb_sh("curl -sSk --fail --interface 127.0.0.2 --resolve %s:443:127.0.0.1 -H 'X-Forwarded-For: "
                            "203.0.113.9' -H 'X-Forwarded-Proto: http' https://%s/whoami" % (DOMAIN, DOMAIN)))
    assert seen["forwarded_for"] == seen["real_ip"] == "127.0.0.2" and seen["scheme"] == "https", seen
    # Claims made to an app host by anyone else (here the host itself) are not believed.
    web1 = testinfra.get_host("ansible://%s" % WEB[0], ansible_inventory=INVENTORY)
    r = http(web1, "/whoami", headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})
    assert r["status"] == 200, r
    own = json.loads(r["body"])
    assert own["forwarded_for"] == own["real_ip"] == "127.0.0.1" and own["forwarded_proto"] == "http", own


def lb_address():
    """The balancer's own address on the scenario's network (a scanner connects to it by address)."""
    return lb_sh("hostname -I").split()[0]


def curl_rc(script):
    """Run curl inside the balancer; returns (exit code, output): 52 is an empty reply (444), 35 a refused handshake."""
    proc = subprocess.run(["docker", "exec", LB, "sh", "-c", script], capture_output=True, text=True, timeout=60,
                          check=False)
    return proc.returncode, proc.stdout


def pool_logs():
    """(access log lines, lines of the error log that say a host was taken out or none was left)."""
    errors = [line for line in lb_sh("cat %s" % POOL_ERRORS).splitlines() if MARKED_DOWN.search(line)]
    return lb_sh("cat %s" % POOL_LOG).splitlines(), errors


def test_11_unknown_names_are_dropped_by_the_balancer_and_cannot_take_app_hosts_out():
    """A scanner's requests (a bogus Host over HTTP and HTTPS, the balancer's address as Host, no or an unknown SNI,
    a known SNI with a bogus Host) flood the balancer under mixed load: none gets an answer or reaches the pool, no
    real request fails, no app host is taken out."""
    ip = lb_address()
    # One at a time: 444 (no answer) on HTTP, a refused TLS handshake for an unknown name or none, 444 for a Host
    # that names no site after a handshake for a known name.
    rc, out = curl_rc("curl -s -o /dev/null -w '%{http_code}' -H 'Host: bogus.invalid' http://127.0.0.1/")
    assert rc == 52, (rc, out)
    rc, out = curl_rc("curl -s -o /dev/null -w '%%{http_code}' http://%s/" % ip)
    assert rc == 52, (rc, out)
    rc, out = curl_rc("curl -sk -o /dev/null -w '%{http_code}' --resolve bogus.invalid:443:127.0.0.1 "
                      "https://bogus.invalid/")
    assert rc == 35, (rc, out)
    rc, out = curl_rc("curl -sk -o /dev/null -w '%%{http_code}' https://%s/" % ip)
    assert rc == 35, (rc, out)
    for http_version, no_answer in (("--http1.1", 52), ("--http2", 92)):  # 92: the HTTP/2 stream was reset
        rc, out = curl_rc("curl -sk %s -o /dev/null -w '%%{http_code}' --resolve %s:443:127.0.0.1 "
                          "-H 'Host: bogus.invalid' https://%s/" % (http_version, DOMAIN, DOMAIN))
        assert rc == no_answer, (http_version, rc, out)
    # An app host answers the balancer (a trusted proxy) for a name it does not serve, never with a closed
    # connection: the pool would count that against it.
    rc, out = curl_rc("curl -s -o /dev/null -w '%%{http_code}' -H 'Host: bogus.invalid' http://%s/" % addresses()[WEB[0]])
    assert (rc, out) == (0, "421"), (rc, out)

    flood = HeyLoad(lb_sh, "flood", {
        "http-bogus": "-c 2 -q 25 -host bogus.invalid http://127.0.0.1/",
        "http-by-ip": "-c 2 -q 25 http://%s/" % ip,
        "https-bogus": "-c 2 -q 25 -host bogus.invalid https://127.0.0.1/",
        "https-by-ip": "-c 2 -q 25 https://%s/" % ip,
    }, tail=0.0)
    lb_sh(": > %s" % POOL_ERRORS)
    with Watch("flood"), mixed_load("flood") as load:
        known_sni = "for i in $(seq 150); do curl -sk -o /dev/null -w '%%{http_code}\\n' --max-time 5 " \
                    "--resolve %s:443:127.0.0.1 -H 'Host: bogus.invalid' https://%s/; done; true" % (DOMAIN, DOMAIN)
        with flood:
            known_sni_codes = lb_sh(known_sni).split()
            time.sleep(max(0.0, 14 - (time.monotonic() - flood.t0)))
        after = servers_seen(12)
    check_load("11 unknown-name flood", load, 0.0, 0)
    for stream, r in sorted(flood.results.items()):
        record("FLOOD %-12s requests=%d codes=%s errors=%d" % (stream, r["requests"], r["codes"], sum(r["errors"].values())))
        assert r["requests"] > 0 and not r["codes"], (stream, r["codes"], r["errors"])
    answered = [c for c in known_sni_codes if c != "000"]
    record("FLOOD %-12s requests=%d answered=%d" % ("known-sni", len(known_sni_codes), len(answered)))
    assert set(known_sni_codes) == {"000"}, known_sni_codes
    access, marked = pool_logs()
    foreign = [line for line in access if not line.endswith("host=%s" % DOMAIN)]
    assert not foreign, "requests for unknown names reached the pool: %s" % foreign[:3]
    assert not marked, "app hosts were taken out: %s" % marked[:3]
    assert after == set(WEB)


def test_12_slow_answers_past_the_timeout_do_not_take_app_hosts_out():
    """Requests slower than lb_proxy_read_timeout (8 s in this scenario), six at once, under mixed load: each gets 504
    from the balancer, reached one app host only (no second host charged with it), and no app host is taken out;
    no real request fails."""
    lb_sh(": > %s" % POOL_ERRORS)
    slow = "for i in 1 2 3 4 5 6; do curl -sk -o /dev/null -w '%%{http_code}\\n' --max-time 40 " \
           "--resolve %s:443:127.0.0.1 'https://%s/slow?seconds=10' & done; wait" % (DOMAIN, DOMAIN)
    with Watch("past-timeout"), mixed_load("past-timeout") as load:
        codes = lb_sh(slow).split()
        after = servers_seen(12)
    check_load("12 answers past the timeout", load, 0.0, 0)
    assert codes == ["504"] * 6, codes
    access, marked = pool_logs()
    past = [line for line in access if "/slow?seconds=10 " in line]
    assert len(past) == 6, past
    # The pool never timed out itself (a timeout counts against the host, and sends the request to a second one): the
    # public nginx gave up first and the pool saw its client leave (499).
    retried = [line for line in past if not re.search(r'" 499 .* upstream=[^,\s]+ upstream_status=\S+ ', line)]
    assert not retried, retried
    assert not marked, "app hosts were taken out: %s" % marked[:3]
    assert after == set(WEB)


def headers_of(args):
    """The response headers of one curl request inside the balancer: [(lower-case name, value)]."""
    out = lb_sh("curl -sk -o /dev/null -D - --max-time 15 %s" % args)
    return [(k.strip().lower(), v.strip()) for k, _sep, v in (line.partition(":") for line in out.splitlines()[1:])
            if _sep]


def test_13_the_balancer_sends_hsts_and_the_security_headers_once():
    expected = {"strict-transport-security": "max-age=63072000", "x-content-type-options": "nosniff",
                "x-frame-options": "SAMEORIGIN", "referrer-policy": "strict-origin-when-cross-origin"}
    # A page, a static file and an error page of the app hosts: each header once, with the balancer's value.
    for path in ("/", "/static/hello.txt", "/no-such-page"):
        got = headers_of("--resolve %s:443:127.0.0.1 https://%s%s" % (DOMAIN, DOMAIN, path))
        for name, value in expected.items():
            assert [v for k, v in got if k == name] == [value], (path, name, got)
    # Plain HTTP only redirects: no HSTS there (browsers ignore it on HTTP).
    got = headers_of("-H 'Host: %s' http://127.0.0.1/" % DOMAIN)
    assert "strict-transport-security" not in dict(got), got


def whoami_upgrade(url_args, upgrade):
    """What the app saw of a request to /whoami that asked to upgrade to `upgrade`: "websocket" when Flask answered
    400 (Werkzeug refuses a websocket handshake on a route that is not a websocket route: it saw Upgrade: websocket),
    else the Upgrade header /whoami echoes ("" when none reached it)."""
    connection = "Upgrade, HTTP2-Settings" if upgrade == "h2c" else "Upgrade"
    out = lb_sh("curl -sSk --http1.1 --max-time 15 -w '\\n%%{http_code}' -H 'Upgrade: %s' -H 'Connection: %s' "
                "-H 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA' %s" % (upgrade, connection, url_args))
    body, _sep, status = out.rpartition("\n")
    if status == "400" and "Bad Request" in body:
        return "websocket"
    assert status == "200", out
    return json.loads(body)["upgrade"]


def test_14_only_a_websocket_upgrade_reaches_the_app():
    """At each nginx layer (the balancer's public nginx and pool, an app host's nginx): Upgrade: websocket (in any
    case) is passed on, h2c and anything else is not."""
    through_balancer = "--resolve %s:443:127.0.0.1 https://%s/whoami" % (DOMAIN, DOMAIN)
    app_host = "-H 'Host: %s' http://%s/whoami" % (DOMAIN, addresses()[WEB[0]])
    for url in (through_balancer, app_host):
        assert whoami_upgrade(url, "h2c") == "", url
        assert whoami_upgrade(url, "TLS/1.2") == "", url
        assert whoami_upgrade(url, "websocket") == "websocket", url
        assert whoami_upgrade(url, "WebSocket") == "websocket", url


def test_15_local_users_cannot_claim_forwarded_headers_through_the_balancer():
    """Every socket the balancer's nginx instances listen on besides the public ports (the pool, the check server),
    asked by an unprivileged local user with X-Forwarded-For, X-Real-IP and X-Forwarded-Proto claims: the pool cannot
    be reached, and no claim reaches an app."""
    listeners = lb_sh("ss -Hlnptx | grep nginx")
    tcp = set(re.findall(r"(?:127\.0\.0\.1|\[::1\]):(\d+)\s", listeners))
    unix = set(re.findall(r"\s(/\S+)\s+\d+\s", listeners))
    assert tcp or unix, listeners
    claims = "-H 'X-Forwarded-For: 203.0.113.9' -H 'X-Real-IP: 203.0.113.9' -H 'X-Forwarded-Proto: https'"
    seen = []
    for path in ("/whoami", "/%s/whoami" % WEB[0]):
        targets = ["http://127.0.0.1:%s%s" % (port, path) for port in sorted(tcp)]
        targets += ["--unix-socket %s http://%s%s" % (sock, DOMAIN, path) for sock in sorted(unix)]
        for target in targets:
            rc, out = curl_rc("runuser -u nobody -- curl -s --max-time 10 -H 'Host: %s' %s %s" % (DOMAIN, claims, target))
            seen.append((target, rc, out[:200]))
            if rc == 0 and out.startswith("{"):
                who = json.loads(out)
                assert "203.0.113.9" not in (who["forwarded_for"], who["real_ip"]), (target, who)
                assert who["forwarded_proto"] != "https", (target, who)
    # The pool itself: only root and the public nginx's user may connect.
    rc, out = curl_rc("runuser -u nobody -- curl -s --max-time 10 --unix-socket %s http://%s/whoami" % (POOL_SOCKET, DOMAIN))
    assert rc != 0, (rc, out, seen)


def test_20_rolling_deploy_under_mixed_load():
    sha = publish_commit(version=2, publish=False)
    public = public_nginx()
    with Watch("deploy") as watch, mixed_load("deploy") as load:
        rc, out, seconds = play("playbooks/deploy.yml", {"app_version": sha})
    assert rc == 0, out[-5000:]
    check_load("20 rolling deploy", load, seconds, rc)
    # Only the pool reloaded: the clients' connections to the public nginx were never closed under them.
    assert public_nginx() == public
    record("TIME rolling deploy across 3 hosts (deploy.yml, pydeploy_serial 1): %.1f s" % seconds)
    intervals, bad = watch.sent_while_out()
    assert sorted(intervals) == WEB and all(len(v) == 1 for v in intervals.values()), intervals
    assert not bad, "requests sent to hosts out of rotation: %s" % bad[:5]
    # One host out at a time, in inventory order.
    spans = [intervals[w][0] for w in WEB]
    assert spans[0][1] <= spans[1][0] and spans[1][1] <= spans[2][0], spans
    for w in WEB:
        assert live_release(w).startswith(sha[:12]), w
    assert servers_seen() == set(WEB)
    assert "(flask_hello 2)" in curl("/")
    STATE["r2"] = {w: live_release(w) for w in WEB}


def test_30_rolling_rollback_two_at_a_time_under_mixed_load():
    with Watch("rollback") as watch, mixed_load("rollback") as load:
        rc, out, seconds = play("playbooks/rollback.yml", {"pydeploy_serial": 2})
    assert rc == 0, out[-5000:]
    check_load("30 rolling rollback", load, seconds, rc)
    record("TIME rolling rollback across 3 hosts (rollback.yml, pydeploy_serial 2): %.1f s" % seconds)
    intervals, bad = watch.sent_while_out()
    assert sorted(intervals) == WEB and all(len(v) == 1 for v in intervals.values()), intervals
    assert not bad, "requests sent to hosts out of rotation: %s" % bad[:5]
    # web1 and web2 out together, then web3 alone.
    spans = [intervals[w][0] for w in WEB]
    assert abs(spans[0][0] - spans[1][0]) < RELOAD_GRACE and spans[1][1] <= spans[2][0], spans
    assert {w: live_release(w) for w in WEB} == STATE["r1"]
    assert "(flask_hello 1)" in curl("/")


def test_40_gate_failure_on_the_second_host_stops_the_roll():
    broken = open(os.path.join(str(PROJECT), "examples/flask_hello/app.py"), encoding="utf-8").read() + (
        "\nif 'web2' in socket.gethostname():\n    raise RuntimeError('this release does not start on web2')\n")
    sha = publish_commit(version=3, edits={"app.py": broken}, publish=False)
    with Watch("gate") as watch, mixed_load("gate") as load:
        rc, out, seconds = play("playbooks/deploy.yml", {"app_version": sha})
    check_load("40 gate fails on web2", load, seconds, rc)
    assert rc != 0, out[-3000:]
    assert "The deploy failed on %s" % WEB[1] in out, out[-5000:]
    assert "this release does not start on web2" in out or "RuntimeError" in out, out[-5000:]
    assert live_release(WEB[0]).startswith(sha[:12])
    assert live_release(WEB[1]) == STATE["r1"][WEB[1]]
    assert live_release(WEB[2]) == STATE["r1"][WEB[2]]
    intervals, bad = watch.sent_while_out()
    assert sorted(intervals) == WEB[:2], "web3 was taken out: %s" % intervals
    assert not bad, "requests sent to hosts out of rotation: %s" % bad[:5]
    # web2 is back in rotation on its old release; every host answers through the balancer.
    assert " down;" not in lb_sh("cat /etc/nginx/pydeploy-lb/backends.conf")
    assert servers_seen() == set(WEB)


def _inventory(edit):
    inv = copy.deepcopy(INV)
    edit(inv)
    # The scenario's group_vars sit beside its inventory file.
    tmp = tempfile.mkdtemp(prefix="scale-out-")
    os.symlink(os.path.join(os.path.dirname(INVENTORY), "group_vars"), os.path.join(tmp, "group_vars"))
    path = os.path.join(tmp, "hosts.yml")
    with open(path, "w", encoding="utf-8") as fh:
        yaml.safe_dump(inv, fh)
    return path


def test_50_bad_input_fails_before_anything_changes():
    rc, out, _seconds = play("playbooks/deploy.yml", {"pydeploy_serial": 0})
    assert rc != 0 and "pydeploy_serial" in out, out[-3000:]
    assert set(recap(out).values()) == {0}, recap(out)

    def no_web(inv):
        inv["web"]["hosts"] = {}
    rc, out, _seconds = play("site.yml", inventory=_inventory(no_web))
    assert rc != 0 and "the group web has no host" in out, out[-3000:]
    assert set(recap(out).values()) == {0}, recap(out)

    def unreachable(inv):
        inv["web"]["hosts"][WEB[2]] = dict(inv["web"]["hosts"][WEB[2]] or {}, pydeploy_private_ip="192.0.2.10")
    rc, out, _seconds = play("site.yml", inventory=_inventory(unreachable))
    assert rc != 0 and "cannot reach the web host(s) %s" % WEB[2] in out, out[-3000:]
    assert set(recap(out).values()) == {0}, recap(out)


def test_55_a_bad_backend_address_is_refused_before_anything_changes():
    """An app host's pydeploy_private_ip that is not an address nor a host name (here one with an nginx parameter
    after it) stops site.yml in the balancer's preflight, naming the variable and the host; nothing changes."""
    before = lb_sh("sha256sum /etc/nginx/pydeploy-lb/*.conf /etc/nginx/sites-available/pydeploy-lb.conf")
    bad = "%s backup" % addresses()[WEB[2]]

    def bad_address(inv):
        inv["web"]["hosts"][WEB[2]] = dict(inv["web"]["hosts"][WEB[2]] or {}, pydeploy_private_ip=bad)
    rc, out, _seconds = play("site.yml", inventory=_inventory(bad_address))
    assert rc != 0 and "lb_backends address of %s" % WEB[2] in out and "pydeploy_private_ip" in out, out[-3000:]
    assert set(recap(out).values()) == {0}, recap(out)
    assert lb_sh("sha256sum /etc/nginx/pydeploy-lb/*.conf /etc/nginx/sites-available/pydeploy-lb.conf") == before


def test_60_an_app_host_that_dies_mid_roll_stays_out():
    """web2 dies (its container is killed) while it is out for its deploy: the roll stops, the balancer keeps it out
    and the other two hosts serve every request."""
    sha = publish_commit(version=4, publish=False)
    addr = addresses()[WEB[1]]
    cmd = ["ansible-playbook", "-i", INVENTORY, os.path.join(str(PROJECT), "playbooks/deploy.yml"),
           "-e", json.dumps({"app_version": sha})]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(str(PROJECT), ".collections"), ANSIBLE_NOCOLOR="1")
    with Watch("dies"), mixed_load("dies") as load:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, cwd=str(PROJECT), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        # Out and drained: marked down, and the balancer holds no connection to it any more.
        while not (re.search(r" down;\s+# %s$" % re.escape(WEB[1]), lb_sh("cat /etc/nginx/pydeploy-lb/backends.conf"), re.M)
                   and not lb_sh("ss -Htn state established dst %s dport = :80" % addr).strip()):
            assert proc.poll() is None and time.monotonic() - t0 < 600, "web2 was never taken out"
            time.sleep(0.3)
        subprocess.run(["docker", "kill", WEB[1]], check=True, capture_output=True)
        out = proc.communicate(timeout=600)[0]
        seconds = time.monotonic() - t0
    check_load("60 web2 dies mid-roll", load, seconds, proc.returncode)
    assert proc.returncode != 0, out[-3000:]
    assert re.search(r" down;\s+# %s$" % re.escape(WEB[1]), lb_sh("cat /etc/nginx/pydeploy-lb/backends.conf"), re.M)
    assert live_release(WEB[2]) == STATE["r1"][WEB[2]], "the roll went on to web3"
    assert servers_seen() == {WEB[0], WEB[2]}
