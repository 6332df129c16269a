"""Pure helpers for the benchmark: parse wrk and ansible-playbook output, compute the target ratios.

Kept free of I/O so tests/test_bench_parse.py can check them without a container.
"""

from __future__ import annotations

import re

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_SIZE = {"": 1, "k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6, "g": 1e9, "G": 1e9}


def _latency_ms(text: str) -> float:
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text.strip())
    if not m:
        raise ValueError(f"not a wrk latency: {text!r}")
    return float(m.group(1)) * _UNITS_MS[m.group(2)]


def parse_wrk(text: str) -> dict:
    """Parse the output of `wrk --latency`. Returns requests/s, p50/p99 in ms, counts and errors.

    Raises ValueError when the output has no Requests/sec line (wrk failed).
    """
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.M)
    if not rps:
        raise ValueError("no 'Requests/sec' line in wrk output:\n" + text[-500:])
    dist = {}
    block = re.search(r"Latency Distribution\n((?:\s+[0-9.]+%\s+\S+\n?)+)", text)
    if block:
        for pct, val in re.findall(r"([0-9.]+)%\s+(\S+)", block.group(1)):
            dist[float(pct)] = _latency_ms(val)
    total = re.search(r"^\s*([0-9]+) requests in ([0-9.]+)(us|ms|s|m|h)", text, re.M)
    errors = 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if sock:
        errors = sum(int(x) for x in sock.groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {
        "rps": float(rps.group(1)),
        "p50_ms": dist.get(50.0),
        "p99_ms": dist.get(99.0),
        "requests": int(total.group(1)) if total else None,
        "duration_s": _latency_ms(total.group(2) + total.group(3)) / 1000.0 if total else None,
        "socket_errors": errors,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def parse_hey(text: str) -> dict:
    """Parse the summary of `hey`. Returns requests/s, p50/p99/slowest in ms, 2xx responses and errors.

    Raises ValueError when the output has no Requests/sec line (hey failed).
    """
    rps = re.search(r"^\s*Requests/sec:\s+([0-9.]+)", text, re.M)
    if not rps:
        raise ValueError("no 'Requests/sec' line in hey output:\n" + text[-500:])
    dist = {float(p): float(v) * 1000.0 for p, v in re.findall(r"^\s*([0-9.]+)% in ([0-9.]+) secs", text, re.M)}
    slowest = re.search(r"^\s*Slowest:\s+([0-9.]+) secs", text, re.M)
    codes = {int(c): int(n) for c, n in re.findall(r"^\s*\[(\d{3})\]\s+(\d+) responses", text, re.M)}
    errors_block = text.split("Error distribution:", 1)
    errors = sum(int(n) for n in re.findall(r"^\s*\[(\d+)\]\s", errors_block[1], re.M)) if len(errors_block) > 1 else 0
    slowest_ms = float(slowest.group(1)) * 1000.0 if slowest else None
    # With fewer than 100 responses hey prints no 99% line (a "0% in 0.0000 secs" instead): the p99 is the slowest.
    p99 = dist.get(99.0) or slowest_ms
    return {
        "rps": float(rps.group(1)),
        "p50_ms": dist.get(50.0),
        "p99_ms": p99,
        "slowest_ms": slowest_ms,
        "ok": sum(n for c, n in codes.items() if 200 <= c < 300),
        "non_2xx": sum(n for c, n in codes.items() if not 200 <= c < 300),
        "errors": errors,
    }


def parse_recap(text: str) -> dict:
    """Sum the PLAY RECAP counters of an ansible-playbook run over all hosts."""
    keys = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")
    sums = dict.fromkeys(keys, 0)
    recap = text.rfind("PLAY RECAP")
    if recap < 0:
        raise ValueError("no PLAY RECAP in ansible-playbook output")
    for line in text[recap:].splitlines()[1:]:
        found = dict(re.findall(r"(\w+)=(\d+)", line))
        if not found:
            continue
        for k in keys:
            sums[k] += int(found.get(k, 0))
    return sums


def check(name: str, value: float | None, op: str, target: float, detail: str) -> dict:
    """One target: value op target, e.g. check('proxied/direct', 0.93, '>=', 0.9, '...')."""
    if value is None:
        ok = False
    elif op == ">=":
        ok = value >= target
    elif op == "<=":
        ok = value <= target
    else:
        raise ValueError(f"unknown operator {op!r}")
    return {"name": name, "value": value, "op": op, "target": target, "pass": ok, "detail": detail}


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def ratios(load: dict, runs: dict) -> list[dict]:
    """The targets of the benchmark, from the load cases and the timed Ansible runs of one run."""
    rps = {k: v.get("rps") for k, v in load.items()}
    noop = runs.get("noop", {})
    executed = (noop.get("ok") or 0) + (noop.get("changed") or 0)
    per_task = noop["seconds"] / executed if executed and "seconds" in noop else None
    return [
        check("proxied / direct gunicorn", _ratio(rps.get("proxied"), rps.get("direct")), ">=", 0.90,
              "requests/s through nginx over requests/s of gunicorn on TCP"),
        check("static / proxied Flask", _ratio(rps.get("static"), rps.get("proxied")), ">=", 10.0,
              "requests/s of a static file over the proxied Flask page"),
        check("default stack / seed baseline", _ratio(rps.get("proxied"), rps.get("seed")), ">=", 2.0,
              "proxied Flask with the collection's defaults over `gunicorn app:app` behind a plain proxy_pass"),
        check("fresh converge / bare installs", _ratio(runs.get("converge", {}).get("seconds"),
                                                       runs.get("floor", {}).get("seconds")), "<=", 1.5,
              "site.yml on a new host over the same apt and pip installs by hand"),
        check("no-change re-run, s per task", per_task, "<=", 0.20,
              "wall time of the second site.yml run over the tasks it ran (ok + changed)"),
        check("code-only redeploy, s", runs.get("redeploy", {}).get("seconds"), "<=", 10.0,
              "playbooks/deploy.yml of a new commit, wall time"),
        check("code-only redeploy / its floor", _ratio(runs.get("redeploy", {}).get("seconds"),
                                                       runs.get("redeploy_floor", {}).get("seconds")), "<=", 3.0,
              "deploy.yml over git fetch + checkout + gunicorn start + health probe by hand on the host"),
    ]


def mixed_check(mixed: dict, default: str) -> dict:
    """The mixed-load target: fast requests' p99 with slow ones in flight over their p99 without, for the defaults."""
    case = mixed.get(default, {})
    return check(f"mixed load: fast p99 with / without slow requests ({default})",
                 _ratio(case.get("mixed", {}).get("p99_ms"), case.get("base", {}).get("p99_ms")), "<=", 3.0,
                 "the same rate of fast requests while fewer slow requests than workers are in flight")


def format_mixed(mixed: dict) -> str:
    """A Markdown table of the mixed-load cases."""
    out = ["| Server config | uniform r/s | fast p50 ms | fast p99 ms | slowest ms | p99 with slow | slowest with slow "
           "| ratio p99 | fast done alone / with slow | errors |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, case in mixed.items():
        base, mix = case["base"], case["mixed"]
        rps = case.get("uniform", {}).get("rps")
        out.append(f"| {name} | {_fmt(rps, 0)} | {_fmt(base['p50_ms'])} | {_fmt(base['p99_ms'])} | {_fmt(base['slowest_ms'], 0)} | "
                   f"{_fmt(mix['p99_ms'])} | {_fmt(mix['slowest_ms'], 0)} | {_fmt(_ratio(mix['p99_ms'], base['p99_ms']))} | "
                   f"{base['ok']} / {mix['ok']} | "
                   f"{base['errors'] + base['non_2xx'] + mix['errors'] + mix['non_2xx']} |")
    return "\n".join(out)


def format_table(load: dict, runs: dict, checks: list[dict]) -> str:
    """A plain-text (Markdown) table of one run."""
    labels = {
        "direct": "(a) gunicorn direct, TCP",
        "proxied": "(b) nginx -> gunicorn (collection)",
        "static": "(c) static file via nginx",
        "seed": "(d) seed: gunicorn app:app + proxy_pass",
        "uvicorn_direct": "(e) uvicorn direct, TCP (app_server uvicorn, FastAPI example)",
        "uvicorn": "(f) nginx -> uvicorn (collection)",
        "procfile_direct": "(g) Procfile web: command direct, its port (gunicorn, 1 sync worker)",
        "procfile": "(h) nginx -> socket proxy -> Procfile web: command (collection)",
    }
    out = ["| Load case | requests/s | p50 ms | p99 ms | errors |", "|---|---:|---:|---:|---:|"]
    for key, label in labels.items():
        r = load.get(key)
        if not r:
            continue
        out.append(f"| {label} | {r['rps']:.0f} | {_fmt(r['p50_ms'])} | {_fmt(r['p99_ms'])} | "
                   f"{r['socket_errors'] + r['non_2xx']} |")
    servers = [(name, load[d], load[p]) for name, d, p in
               (("gunicorn (a, b)", "direct", "proxied"), ("uvicorn (e, f)", "uvicorn_direct", "uvicorn"),
                ("Procfile path (g, h)", "procfile_direct", "procfile")) if load.get(d) and load.get(p)]
    if len(servers) > 1:
        out += ["", "| Server | direct r/s | through nginx r/s | through nginx / direct |", "|---|---:|---:|---:|"]
        out += [f"| {name} | {d['rps']:.0f} | {p['rps']:.0f} | {_fmt(_ratio(p['rps'], d['rps']))} |"
                for name, d, p in servers]
    out += ["", "| Ansible run | seconds | tasks ok | changed |", "|---|---:|---:|---:|"]
    names = {
        "floor": "bare apt + pip installs (floor)",
        "converge": "fresh converge (site.yml)",
        "noop": "no-change re-run (site.yml)",
        "redeploy_floor": "git fetch + checkout + start + probe (redeploy floor)",
        "redeploy": "code-only redeploy (deploy.yml)",
    }
    for key, label in names.items():
        r = runs.get(key)
        if not r:
            continue
        out.append(f"| {label} | {r['seconds']:.1f} | {r.get('ok', '-')} | {r.get('changed', '-')} |")
    out += ["", "| Target | measured | goal | result |", "|---|---:|---:|---|"]
    for c in checks:
        out.append(f"| {c['name']} | {_fmt(c['value'], 2)} | {c['op']} {c['target']:g} | "
                   f"{'met' if c['pass'] else 'MISSED'} |")
    return "\n".join(out)


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
