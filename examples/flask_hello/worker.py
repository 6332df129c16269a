"""A background worker for the flask_hello example: a heartbeat every second until SIGTERM.

Usage: python worker.py [INSTANCE]   (or WORKER_INSTANCE=INSTANCE, else PYDEPLOY_PROCESS_INSTANCE; default 1)

Each second it replaces $WORKER_STATE_DIR/worker-INSTANCE.txt (default state dir: shared/state under the current
directory; when that cannot be written, a line a minute goes to the log instead) with one line: its pid, the
release's VERSION and the time. On SIGTERM or SIGINT it finishes the current step, prints "stopping" and exits 0.
With WORKER_FAIL_AT_START set non-empty it exits 1 at once, as a worker that crashes on start would.
"""

import os
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

RELEASE = Path(__file__).with_name("VERSION").read_text(encoding="utf-8").strip()
STOP = []


def request_stop(signum, frame):
    STOP.append(signum)


def main():
    if os.environ.get("WORKER_FAIL_AT_START"):
        print("WORKER_FAIL_AT_START is set: exiting with status 1", file=sys.stderr, flush=True)
        return 1
    # pydeploy.web's process units set PYDEPLOY_PROCESS_INSTANCE (1..N) for each instance.
    instance = sys.argv[1] if len(sys.argv) > 1 else (
        os.environ.get("WORKER_INSTANCE") or os.environ.get("PYDEPLOY_PROCESS_INSTANCE", "1"))
    state_dir = Path(os.environ.get("WORKER_STATE_DIR", "shared/state"))
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        beat, tmp = state_dir / f"worker-{instance}.txt", state_dir / f".worker-{instance}.txt.tmp"
        tmp.touch()
    except OSError as exc:
        # Deployed without a writable state directory (the release itself is read-only): beat into the log instead.
        print(f"worker {instance}: no heartbeat file ({exc}); heartbeats go to the log", flush=True)
        beat = tmp = None
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    print(f"worker {instance} started: pid {os.getpid()}, version {RELEASE}, state in {beat or 'the log'}", flush=True)
    while not STOP:
        # One step: write the heartbeat whole, then rename it over the last one, so a reader never sees half a line.
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        if beat is None:
            if int(time.time()) % 60 == 0:
                print(f"pid={os.getpid()} version={RELEASE} time={now}", flush=True)
        else:
            tmp.write_text(f"pid={os.getpid()} version={RELEASE} time={now}\n", encoding="utf-8")
            os.replace(tmp, beat)
        deadline = time.monotonic() + 1
        while not STOP and time.monotonic() < deadline:
            time.sleep(0.05)
    print("stopping", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
