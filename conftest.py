"""How `make test` spreads the tests over pytest-xdist workers (`-n N --dist loadgroup`).

Most tests wait on clusters (kofsim's timers, kube-apiserver, helm, ansible-playbook in a subprocess), not on the
CPU, so a few workers finish sooner even on two cores. A module's tests stay together on one worker, in file
order: they share module-scoped fixtures (a rolled-out fleet, a real backend) and some build on each other (the
real-backend end-to-end run). Modules whose tests are independent and long (each molecule scenario, each linter)
are split test by test. The longest groups are queued first (longest-processing-time order, from the seconds
each group took in a full run: tests/group_seconds.json) so that none of them starts last. xdist's own reorder
(scopes by number of tests, on by default) is turned off: it queued every one-test group - a molecule scenario,
a linter - after all the others.

The groups are made by the scheduler below, not by xdist_group marks: xdist 3.8 records a mark's group by
rewriting `item._nodeid`, which pytest 9.2 no longer reads, so marks would silently spread a module's tests.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

# every test of these modules is a unit of work of its own (no shared state between their tests)
SPLIT = ("tests/molecule/test_scenarios.py", "tests/static/test_lint.py", "tests/static/test_sanity.py")
# seconds per group in a full run (scripts/group_seconds.py); a group not measured yet queues as a minute's work
GROUP_SECONDS = json.loads((Path(__file__).parent / "tests" / "group_seconds.json").read_text())["groups"]
UNMEASURED_SECONDS = 60


def group_of(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return nodeid if path in SPLIT else path


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: runs without it too (make matrix's venvs)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    config.option.loadscopereorder = False  # keep the order pytest_collection_modifyitems made

    class ByGroup(LoadScopeScheduling):
        """LoadScopeScheduling (a scope at a time, to an idle worker, in collection order) over group_of()."""

        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return ByGroup(config, log)


def pytest_collection_modifyitems(config, items):
    def rank(item):
        return -GROUP_SECONDS.get(group_of(item.nodeid), UNMEASURED_SECONDS)
    items.sort(key=rank)  # stable: file order within a group is kept


# Where make test's time goes, per scheduling group (setup + call + teardown of its tests, summed on the workers):
# tests/output/durations.json after every run, longest first, to keep the 45-minute budget (SPLIT, and
# tests/group_seconds.json: scripts/group_seconds.py)
_GROUP_SECONDS: dict = {}
_STARTED = time.monotonic()


def pytest_runtest_logreport(report):
    group = group_of(report.nodeid)
    _GROUP_SECONDS[group] = _GROUP_SECONDS.get(group, 0.0) + float(getattr(report, "duration", 0.0) or 0.0)


def pytest_sessionfinish(session):
    if hasattr(session.config, "workerinput") or not _GROUP_SECONDS:
        return  # an xdist worker: the controller receives every report and writes the file
    out = Path(session.config.rootpath) / "tests" / "output" / "durations.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    groups = sorted(_GROUP_SECONDS.items(), key=lambda kv: -kv[1])
    out.write_text(json.dumps({"wall_seconds": round(time.monotonic() - _STARTED, 1),
                               "worker_seconds": round(sum(_GROUP_SECONDS.values()), 1),
                               "groups": {g: round(s, 1) for g, s in groups}}, indent=1) + "\n")
