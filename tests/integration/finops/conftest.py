"""Real VictoriaMetrics (kofsim/realvm, built by make setup) loaded with OpenCost-shaped series for
3 regions x 20 clusters x 30 days (KOF 0.1.1 label clusterName), started once per session on a free loopback
port. Skips only when the binary is not built (no Go at setup)."""
import os
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "kofsim", "realvm"))
import kofvm  # noqa: E402

DAYS = 30


def need_vm():
    if not kofvm.binary("victoria-metrics"):
        pytest.skip(f"victoria-metrics not built in {kofvm.BIN_DIR}: run make setup (needs go)")


class Loaded:
    def __init__(self, vm, clusters, start, end, label):
        self.vm, self.clusters, self.start, self.end, self.label = vm, clusters, start, end, label
        self.inventory = {c["name"]: c["region"] for c in clusters}
        self.now = end + 3600  # an hour after the last point: the report's "now"


@pytest.fixture(scope="session")
def fleet_vm():
    need_vm()
    clusters = kofvm.fleet(3, 20, DAYS)
    end = kofvm.day_floor(time.time())
    start = end - DAYS * kofvm.DAY
    vm = kofvm.VictoriaMetrics().start()
    t = time.time()
    n = vm.load(kofvm.series(clusters, start, "clusterName"))
    print(f"\nVictoriaMetrics {vm.url}: {len(clusters)} clusters, {n} samples loaded in {time.time() - t:.1f} s")
    yield Loaded(vm, clusters, start, end, "clusterName")
    vm.stop()
