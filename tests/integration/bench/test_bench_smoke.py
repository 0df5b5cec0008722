"""`make bench` end to end at a tiny fleet (N=2, collection only), so the benchmark cannot silently rot: it
starts kofsim with latency, installs the management tier, runs site.yml twice, reads the request log, writes the
report and the plot, and prints the JSON line. The figures themselves are not asserted (timing is the machine's),
only that they were measured and are consistent."""
from __future__ import annotations

import importlib.util
import json

from tests.helpers import ROOT


def _bench():
    spec = importlib.util.spec_from_file_location("kof_bench_run", ROOT / "benchmarks" / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bench_runs_end_to_end_at_n2(tmp_path, capsys):
    bench = _bench()
    out = tmp_path / "results.md"
    rc = bench.main(["2", "--no-baseline", "--latency-ms", "1", "--out", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    line = json.loads(printed.strip().splitlines()[-1])
    res = line["results"]["2"]
    assert res["ok"] and res["first_s"] > 0 and res["rerun_s"] > 0
    # the no-op re-run writes nothing; each run sends at least the minimum the docs explain
    assert res["rerun_writes"] == 0
    assert res["first_requests_vs_min"] >= 1 and res["rerun_requests_vs_min"] >= 1
    assert line["met"]["first_s_1000"] is None and line["met"]["first_speedup"] is None  # not measured here
    text = out.read_text()
    assert "| 2 | 1 | collection first |" in text and "| 2 | 1 | collection rerun |" in text
    assert (tmp_path / "results.svg").read_text().startswith("<svg")


def test_minimum_counts_each_object_once():
    bench = _bench()
    hosts, regions, _ = bench.fleet(100)
    assert len(regions) == 3 and len(hosts["all"]["children"]["kof_child"]["hosts"]) == 100
    low = bench.minimum(100, 3)
    # the first rollout needs one write per object (100 + 3 ClusterDeployments, 3 PSGs, 3 GDSs) and a watch more
    assert low["first"] - low["rerun"] == 100 + 3 * 3 + 1
