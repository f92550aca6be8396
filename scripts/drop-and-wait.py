#!/usr/bin/python3
"""Moves every file of STAGE into SPOOL/inbox/ by rename (IN_MOVED_TO), masks
(`*.mask.png`) first, then polls SPOOL/state/status.json until N jobs are done or failed.
Prints the wall-clock seconds of the first rename and of the end.

    scripts/drop-and-wait.py STAGE SPOOL N [POLL_SECONDS]

One process does it all, so that a benchmark harness does not spend the cores it
measures (a process per file or per poll did).
"""
import json
import os
import sys
import time


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    stage, spool, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    poll = float(sys.argv[4]) if len(sys.argv) == 5 else 0.05
    names = sorted(os.listdir(stage), key=lambda name: (not name.endswith(".mask.png"), name))
    start = time.time()
    for name in names:
        os.rename(os.path.join(stage, name), os.path.join(spool, "inbox", name))
    while True:
        try:
            with open(os.path.join(spool, "state", "status.json")) as f:
                jobs = json.load(f)["jobs"]
            if jobs["done"] + jobs["failed"] >= n:
                break
        except (OSError, ValueError):
            pass
        time.sleep(poll)
    print(start, time.time())


if __name__ == "__main__":
    main()
