"""Unit tests for bench/parse.py: the wrk and ansible-playbook output parsers and the target ratios."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from parse import format_table, parse_hey, parse_recap, parse_wrk, ratios  # noqa: E402

WRK = """Running 10s test @ http://127.0.0.1/
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.41ms    3.20ms  48.11ms   81.20%
    Req/Sec     1.29k    95.13     1.51k    72.00%
  Latency Distribution
     50%   11.90ms
     75%   13.02ms
     90%   15.77ms
     99%    1.02s
  25712 requests in 10.01s, 4.53MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec:   2568.60
Transfer/sec:    463.21KB
"""

WRK_STATIC = """Running 10s test @ http://127.0.0.1/static/hello.txt
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   850.12us  400.00us  12.00ms   90.00%
    Req/Sec    19.10k     1.20k   22.00k    70.00%
  Latency Distribution
     50%  780.00us
     75%    0.95ms
     90%    1.20ms
     99%    2.50ms
  380000 requests in 10.00s, 120.00MB read
Requests/sec:  37990.12
Transfer/sec:     12.00MB
"""


def test_parse_wrk_reads_rate_latency_and_errors():
    r = parse_wrk(WRK)
    assert r["rps"] == pytest.approx(2568.60)
    assert r["p50_ms"] == pytest.approx(11.90)
    assert r["p99_ms"] == pytest.approx(1020.0)  # seconds are converted to ms
    assert r["requests"] == 25712
    assert r["duration_s"] == pytest.approx(10.01)
    assert r["socket_errors"] == 5
    assert r["non_2xx"] == 7


def test_parse_wrk_converts_microseconds_and_defaults_errors_to_zero():
    r = parse_wrk(WRK_STATIC)
    assert r["rps"] == pytest.approx(37990.12)
    assert r["p50_ms"] == pytest.approx(0.78)
    assert r["p99_ms"] == pytest.approx(2.5)
    assert r["socket_errors"] == 0 and r["non_2xx"] == 0


def test_parse_wrk_rejects_failed_run():
    with pytest.raises(ValueError):
        parse_wrk("unable to connect to 127.0.0.1:8001 Connection refused\n")


RECAP = """PLAY [x] ***
TASK [y] ***
ok: [pydeploy-bench]

PLAY RECAP *********************************************************************
pydeploy-bench             : ok=71   changed=2    unreachable=0    failed=0    skipped=19   rescued=0    ignored=0
other                      : ok=3    changed=1    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0

TASKS RECAP ********************************************************************
Sunday 22 November 2026  02:56:10 +0000 (0:00:00.034)       0:00:21.271 *******
"""


def test_parse_recap_sums_hosts():
    r = parse_recap(RECAP)
    assert r["ok"] == 74 and r["changed"] == 3 and r["skipped"] == 19 and r["failed"] == 0


def test_parse_recap_requires_a_recap():
    with pytest.raises(ValueError):
        parse_recap("ERROR! the playbook could not be found")


def _load(direct, proxied, static, seed):
    return {k: {"rps": v, "p50_ms": 1.0, "p99_ms": 2.0, "socket_errors": 0, "non_2xx": 0}
            for k, v in dict(direct=direct, proxied=proxied, static=static, seed=seed).items()}


def test_ratios_pass_and_fail_against_targets():
    runs = {"floor": {"seconds": 50.0}, "converge": {"seconds": 80.0},
            "noop": {"seconds": 16.0, "ok": 75, "changed": 5},
            "redeploy_floor": {"seconds": 2.0}, "redeploy": {"seconds": 8.0}}
    checks = {c["name"]: c for c in ratios(_load(2000, 1900, 30000, 800), runs)}
    assert checks["proxied / direct gunicorn"]["value"] == pytest.approx(0.95)
    assert checks["proxied / direct gunicorn"]["pass"]
    assert checks["static / proxied Flask"]["pass"]  # 15.8x
    assert checks["default stack / seed baseline"]["pass"]  # 2.375x
    assert checks["fresh converge / bare installs"]["value"] == pytest.approx(1.6)
    assert not checks["fresh converge / bare installs"]["pass"]
    assert checks["no-change re-run, s per task"]["value"] == pytest.approx(0.20)
    assert checks["no-change re-run, s per task"]["pass"]
    assert checks["code-only redeploy, s"]["pass"]  # 8 s
    assert checks["code-only redeploy / its floor"]["value"] == pytest.approx(4.0)
    assert not checks["code-only redeploy / its floor"]["pass"]

    checks = {c["name"]: c for c in ratios(_load(2000, 1700, 15000, 1000), {})}
    assert not checks["proxied / direct gunicorn"]["pass"]  # 0.85
    assert not checks["static / proxied Flask"]["pass"]  # 8.8x
    assert not checks["default stack / seed baseline"]["pass"]  # 1.7x
    # Missing measurements never count as met.
    assert checks["fresh converge / bare installs"]["value"] is None
    assert not checks["fresh converge / bare installs"]["pass"]


def test_format_table_lists_every_case_and_target():
    runs = {"converge": {"seconds": 70.0, "ok": 80, "changed": 40}}
    load = _load(2000, 1900, 30000, 800)
    table = format_table(load, runs, ratios(load, runs))
    assert "(c) static file via nginx | 30000" in table
    assert "fresh converge (site.yml) | 70.0 | 80 | 40" in table
    assert table.count("MISSED") == 4  # the floor, no-change and redeploy runs are missing
    assert "| Server |" not in table  # no uvicorn or Procfile rows measured: no server table


def test_format_table_compares_each_server_with_itself_without_nginx():
    load = _load(2000, 1900, 30000, 800)
    for key, rps in {"uvicorn_direct": 3000, "uvicorn": 2700, "procfile_direct": 1000, "procfile": 500}.items():
        load[key] = dict(load["direct"], rps=rps)
    table = format_table(load, {}, [])
    assert "(f) nginx -> uvicorn (collection) | 2700" in table
    assert "| gunicorn (a, b) | 2000 | 1900 | 0.95 |" in table
    assert "| uvicorn (e, f) | 3000 | 2700 | 0.90 |" in table
    assert "| Procfile path (g, h) | 1000 | 500 | 0.50 |" in table


HEY = """
Summary:
  Total:\t10.0112 secs
  Slowest:\t2.0061 secs
  Fastest:\t0.0009 secs
  Average:\t0.0121 secs
  Requests/sec:\t199.5766

  Total data:\t99760 bytes
  Size/request:\t49 bytes

Latency distribution:
  10% in 0.0012 secs
  50% in 0.0018 secs
  90% in 0.0031 secs
  99% in 0.0452 secs

Status code distribution:
  [200]\t1996 responses
  [502]\t1 responses

Error distribution:
  [2]\tGet "http://127.0.0.1:8082/": context deadline exceeded
"""


def test_parse_hey_reads_rate_latency_codes_and_errors():
    got = parse_hey(HEY)
    assert got["rps"] == pytest.approx(199.5766)
    assert got["p50_ms"] == pytest.approx(1.8)
    assert got["p99_ms"] == pytest.approx(45.2)
    assert got["slowest_ms"] == pytest.approx(2006.1)
    assert (got["ok"], got["non_2xx"], got["errors"]) == (1996, 1, 2)


def test_parse_hey_takes_the_slowest_as_p99_when_hey_prints_none():
    few = HEY.replace("  99% in 0.0452 secs\n", "  0% in 0.0000 secs\n")
    assert parse_hey(few)["p99_ms"] == pytest.approx(2006.1)


def test_parse_hey_rejects_failed_run():
    with pytest.raises(ValueError):
        parse_hey("Error: connection refused")
