"""A one-shot timer command for the flask_hello example: append the time and the release to ticks.txt.

Usage: python tick.py   (writes $WORKER_STATE_DIR/ticks.txt; default state dir: shared/state under the current
directory)
"""

import os
from datetime import datetime, timezone
from pathlib import Path

RELEASE = Path(__file__).with_name("VERSION").read_text(encoding="utf-8").strip()


def main():
    state_dir = Path(os.environ.get("WORKER_STATE_DIR", "shared/state"))
    state_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with (state_dir / "ticks.txt").open("a", encoding="utf-8") as fh:
        fh.write(f"time={now} version={RELEASE}\n")


if __name__ == "__main__":
    main()
