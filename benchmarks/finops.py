#!/usr/bin/env python3
"""FinOps benchmark (make bench-finops): the cost report of N clusters x D days of OpenCost series in real
VictoriaMetrics (kofsim/realvm), timed and measured in its own process.

    python benchmarks/finops.py [--clusters 1000] [--regions 10] [--days 30] [--group-by team]

Goals (issue 18): 1000 clusters x 30 days in under 60 s and 500 MB on 2 cores, no query above the series limit
(the fleet split by region). The report runs in a child process (its wall time and peak RSS are what is
measured; loading the data is not). Prints one JSON line and a summary."""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "kofsim", "realvm"))
sys.path.insert(0, os.path.join(ROOT, ".collections"))
import kofvm  # noqa: E402

CHILD = r"""
import json, sys, time, resource
sys.path.insert(0, sys.argv[1])
from ansible_collections.k0rdent.kof.plugins.module_utils import finops, finops_report
from ansible_collections.k0rdent.kof.plugins.module_utils.finops_source import PromSource
a = json.loads(sys.argv[2])
t = time.time()
e = finops.Engine(PromSource(a["url"], timeout=600), clusters=a["clusters"], now=a["now"], group_by=a["group_by"],
                  period={"days": a["days"]}, idle="share", max_series=a["max_series"],
                  shared={"namespaces": ["kube-system", "kof"], "method": "weighted"})
rep = e.run()
files = finops_report.write(a["out"], rep, "2026-01-01T00:00:00Z", keep=1)
print(json.dumps({"seconds": round(time.time() - t, 2), "queries": rep["meta"]["queries"],
                  "max_series_per_query": rep["meta"]["max_series_per_query"], "series_limit": a["max_series"],
                  "chunks": rep["meta"]["chunks"], "total": round(rep["totals"]["total"], 2),
                  "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--regions", type=int, default=10)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--group-by", default="team")
    ap.add_argument("--max-series", type=int, default=20000)
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "runs", "finops"))
    a = ap.parse_args()
    if not kofvm.binary("victoria-metrics"):
        print("victoria-metrics is not built: run make setup", file=sys.stderr)
        return 1
    per = a.clusters // a.regions
    cl = kofvm.fleet(a.regions, per, a.days)
    end = kofvm.day_floor(time.time())
    with kofvm.VictoriaMetrics(extra=["-memory.allowedPercent=40"]) as vm:
        t = time.time()
        n = vm.load(kofvm.series(cl, end - a.days * kofvm.DAY, "clusterName"))
        load_s = time.time() - t
        print(f"loaded {len(cl)} clusters x {a.days} days: {n} samples in {load_s:.0f} s", flush=True)
        hand = sum(kofvm.expected(c, 0, a.days * 24)["total"] for c in cl)
        args = {"url": vm.url, "clusters": {c["name"]: c["region"] for c in cl}, "now": end + 3600,
                "group_by": a.group_by, "days": a.days, "max_series": a.max_series, "out": a.out}
        r = subprocess.run([sys.executable, "-c", CHILD, os.path.join(ROOT, ".collections"), json.dumps(args)],
                           capture_output=True, text=True)
        if r.returncode:
            print(r.stderr[-3000:], file=sys.stderr)
            return 1
        res = json.loads(r.stdout.strip().splitlines()[-1])
    res.update(clusters=len(cl), regions=a.regions, days=a.days, samples=n,
               load_seconds=round(load_s, 1), hand_total=round(hand, 2), cores=os.cpu_count(),
               matches_hand=res["total"] == round(hand, 2))
    print(json.dumps(res))
    print(f"report of {len(cl)} clusters ({a.days} days; by {a.group_by}, idle "
          f"shared, shared namespaces weighted): {res['seconds']} s, peak RSS {res['rss_mb']} MB, {res['queries']} "
          f"queries, at most {res['max_series_per_query']} series per query (limit {a.max_series}); total "
          f"{res['total']} = hand {res['hand_total']}: {res['matches_hand']}")
    return 0 if res["matches_hand"] else 1


if __name__ == "__main__":
    sys.exit(main())
