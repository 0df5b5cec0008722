"""How `make test` spreads the tests over pytest-xdist workers (`-n N --dist loadgroup`).

Most tests wait on clusters (kofsim's timers, kube-apiserver, helm, ansible-playbook in a subprocess), not on the
CPU, so a few workers finish much sooner even on two cores. A module's tests stay together on one worker, in file
order: they share module-scoped fixtures (a rolled-out fleet, a real backend) and some build on each other (the
real-backend end-to-end run). Modules whose tests are independent and long (each molecule scenario, each linter)
are split test by test. The longest groups are queued first so that none of them starts last.
"""
from __future__ import annotations

import pytest

# every test of these modules is a unit of work of its own (no shared state between their tests)
SPLIT = ("tests/molecule/test_scenarios.py", "tests/static/test_lint.py", "tests/static/test_sanity.py")
# queued first: the groups that take minutes (measured on a two-core machine)
FIRST = ("tests/molecule/", "tests/integration/e2e_real/", "tests/static/test_sanity.py", "kofsim/tests/test_k0rdent",
         "tests/integration/finops/", "tests/integration/reliability/", "tests/integration/tiers/",
         "tests/integration/day2/", "tests/integration/realapi/", "kofsim/tests/test_conformance.py")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        path = item.nodeid.split("::", 1)[0]
        group = item.nodeid if path in SPLIT else path
        item.add_marker(pytest.mark.xdist_group(group))

    def rank(item):
        path = item.nodeid.split("::", 1)[0]
        return next((i for i, prefix in enumerate(FIRST) if path.startswith(prefix)), len(FIRST))
    items.sort(key=rank)  # stable: file order within a group is kept
