"""How `make test` spreads the tests over pytest-xdist workers (`-n N --dist loadgroup`).

Most tests wait on clusters (kofsim's timers, kube-apiserver, helm, ansible-playbook in a subprocess), not on the
CPU, so a few workers finish sooner even on two cores. A module's tests stay together on one worker, in file
order: they share module-scoped fixtures (a rolled-out fleet, a real backend) and some build on each other (the
real-backend end-to-end run). Modules whose tests are independent and long (each molecule scenario, each linter)
are split test by test. The longest groups are queued first so that none of them starts last.

The groups are made by the scheduler below, not by xdist_group marks: xdist 3.8 records a mark's group by
rewriting `item._nodeid`, which pytest 9.2 no longer reads, so marks would silently spread a module's tests.
"""
from __future__ import annotations

import pytest

# every test of these modules is a unit of work of its own (no shared state between their tests)
SPLIT = ("tests/molecule/test_scenarios.py", "tests/static/test_lint.py", "tests/static/test_sanity.py")
# queued first: the groups that take minutes (measured on a two-core machine)
FIRST = ("tests/integration/e2e_real/", "tests/molecule/", "tests/integration/security/", "tests/static/test_sanity.py",
         "tests/integration/kof1x/", "tests/integration/tiers/", "tests/integration/day2/",
         "tests/integration/reliability/",
         "kofsim/tests/test_k0rdent", "tests/integration/dns/", "tests/integration/finops/",
         "tests/integration/realapi/", "kofsim/tests/test_conformance.py", "tests/integration/bench/")


def group_of(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return nodeid if path in SPLIT else path


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: runs without it too (make matrix's venvs)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByGroup(LoadScopeScheduling):
        """LoadScopeScheduling (a scope at a time, to an idle worker, in collection order) over group_of()."""

        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return ByGroup(config, log)


def pytest_collection_modifyitems(config, items):
    def rank(item):
        path = item.nodeid.split("::", 1)[0]
        return next((i for i, prefix in enumerate(FIRST) if path.startswith(prefix)), len(FIRST))
    items.sort(key=rank)  # stable: file order within a group is kept
