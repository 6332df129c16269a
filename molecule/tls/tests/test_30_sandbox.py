"""The app unit's sandbox: exposure score and the app still working inside it."""

import re
import uuid

from conftest import DOMAIN
from pydeploy_testlib import live_unit

CURL = f"curl -sk --max-time 10 --resolve {DOMAIN}:443:127.0.0.1"


def test_exposure_at_most_2(host):
    unit = live_unit(host) + ".service"
    out = host.check_output(f"systemd-analyze security --no-pager {unit}")
    match = re.search(r"Overall exposure level for " + re.escape(unit) + r": ([0-9.]+)", out)
    assert match, out[-1000:]
    assert float(match.group(1)) <= 2.0, out[-2000:]


def test_memory_deny_write_execute_on_by_default(host):
    assert host.check_output(f"systemctl show -p MemoryDenyWriteExecute --value {live_unit(host)}.service") == "yes"


def test_app_reads_env_and_writes_shared_path(host):
    assert "Hello from pydeploy.web" in host.check_output(f"{CURL} https://{DOMAIN}/")
    line = f"note-{uuid.uuid4().hex}"
    out = host.check_output(f"{CURL} -X POST --data {line} https://{DOMAIN}/notes")
    assert line in out
    notes = host.file("/srv/hello/shared/instance/notes.txt")
    assert line in notes.content_string
    assert notes.user == "hello"


def test_service_sees_read_only_system_but_writable_shared_path(host):
    """ProtectSystem=strict + ReadWritePaths: inside the service's mount namespace only the shared paths are writable."""
    pid = host.check_output(f"systemctl show -p MainPID --value {live_unit(host)}.service")
    denied = host.run(f"nsenter -t {pid} -m touch /srv/hello/current/.probe")
    assert denied.rc != 0 and "Read-only file system" in denied.stderr, denied
    allowed = host.run(f"nsenter -t {pid} -m touch /srv/hello/shared/instance/.probe")
    assert allowed.rc == 0, allowed
    host.run("rm -f /srv/hello/shared/instance/.probe")
