#!/usr/bin/env python3
"""Refresh tests/group_seconds.json (the order in which make test queues its groups, longest first) from the
tests/output/durations.json a full `make test` wrote. Every group is kept (a group not listed queues as a minute of work)."""
from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ABOUT = ("Seconds each scheduling group took in a full make test on a two-core machine (its "
         "tests/output/durations.json); conftest.py queues the longest first. Refresh it after a full run when "
         "groups are added or change much: python scripts/group_seconds.py.")


def main() -> int:
    source = ROOT / "tests" / "output" / "durations.json"
    measured = json.loads(source.read_text())
    if measured.get("worker_seconds", 0) < 1000:
        print(f"{source} is not from a full run ({measured.get('worker_seconds')} worker seconds)", file=sys.stderr)
        return 1
    doc = {"_": ABOUT, "measured": str(datetime.date.today()),
           "groups": {g: round(s, 1) for g, s in measured["groups"].items()}}
    target = ROOT / "tests" / "group_seconds.json"
    target.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {target}: {len(doc['groups'])} groups")
    return 0


if __name__ == "__main__":
    sys.exit(main())
