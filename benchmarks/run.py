#!/usr/bin/env python3
"""make bench: the collection's site.yml against a plain kubernetes.core baseline, at fleet sizes N.

For each N (children) with R = N // 50 + 1 regions: start kofsim with realistic API latency, install the
management tier once (not measured), then measure side by side on fresh ClusterDeployments:
  1. the collection's site.yml, first rollout and no-op re-run;
  2. benchmarks/baseline/site.yml: the same objects with one kubernetes.core.k8s call per object per host;
  3. API requests of each run (kofsim's request log) against the minimum needed.
Writes benchmarks/results.md (table + plot) and prints one JSON line with the ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from kofsim.testing import Kofsim  # noqa: E402

BIN = Path(sys.executable).parent
MUTATING = ("POST", "PUT", "PATCH", "DELETE")
TARGETS = {"first_s_1000": 120, "rerun_s_1000": 30, "first_ratio": 5, "rerun_ratio": 10, "requests_ratio": 1.5}


def fleet(n: int) -> tuple[dict, list, dict]:
    r = n // 50 + 1
    regions = [f"region{i + 1:02d}" for i in range(r)]
    children: dict[str, dict] = {}
    for i in range(n):
        reg = regions[i % r]
        children[f"{reg}-child{i // r + 1:04d}"] = {"kof_regional": reg}
    hosts = {"all": {"children": {
        "kof_management": {"hosts": {"mothership": None}},
        "kof_regional": {"hosts": {reg: {"kof_regional_region": "us-east-2"} for reg in regions}},
        "kof_child": {"hosts": children}}}}
    bench_vars = {"kof_base_domain": "kof.example.com", "kof_admin_email": "bench@example.com",
                  "kof_dns_mode": "manual", "kof_chart_repository": str(ROOT / "kofsim" / "kofsim" / "charts"),
                  "kof_cluster_template": "aws-standalone-cp-0-1-0", "kof_verify_timeout": 120}
    return hosts, regions, bench_vars


def write_inventory(d: Path, hosts, bench_vars, baseline=False):
    (d / "group_vars" / "all").mkdir(parents=True, exist_ok=True)
    (d / "hosts.yml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    (d / "group_vars" / "all" / "10-bench.yml").write_text(yaml.safe_dump(bench_vars))
    if baseline:
        shutil.copy(ROOT / "roles" / "kof" / "defaults" / "main.yml", d / "group_vars" / "all" / "00-kof-defaults.yml")
        for tier in ("regional", "child"):
            (d / "group_vars" / f"kof_{tier}").mkdir(exist_ok=True)
            shutil.copy(ROOT / "roles" / tier / "vars" / "main.yml", d / "group_vars" / f"kof_{tier}" / "vars.yml")
    return d


def run(cmd, env, log: Path) -> dict:
    start = time.monotonic()
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    rc = os.waitstatus_to_exitcode(status)
    return {"seconds": round(wall, 1), "rc": rc, "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def requests_of(k: Kofsim, since: int) -> dict:
    reqs = k.requests(since=since)
    writes = [r for r in reqs if r["method"] in MUTATING and not r.get("dry_run")]
    return {"requests": len(reqs), "writes": len(writes)}


def _side(label, n, latency, work, hosts, bench_vars, playbook, baseline, env_base) -> dict:
    """Fresh kofsim, management tier installed (not measured), then the measured first rollout and re-run."""
    k = Kofsim(work / f"kofsim-{label}-{n}", latency_ms=latency)
    k.start()
    try:
        env = dict(env_base, K8S_AUTH_KUBECONFIG=k.kubeconfig, HOME=str(work / f"home-{label}-{n}"))
        Path(env["HOME"]).mkdir(exist_ok=True)
        inv = write_inventory(work / f"inv-{label}-{n}", hosts, bench_vars, baseline=baseline)
        logs = work / f"logs-{n}"
        logs.mkdir(exist_ok=True)
        pre = run([str(BIN / "ansible-playbook"), "-i", str(inv), "playbooks/mothership.yml"], env,
                  logs / f"{label}-mothership.log")
        if pre["rc"]:
            raise SystemExit(f"mothership install failed, see {logs / (label + '-mothership.log')}")
        out = {}
        for phase in ("first", "rerun"):
            seq = k.last_seq()
            res = run([str(BIN / "ansible-playbook"), "-i", str(inv), playbook], env, logs / f"{label}-{phase}.log")
            res.update(requests_of(k, seq))
            if res["rc"]:
                res["log"] = str(logs / f"{label}-{phase}.log")
            out[f"{label}_{phase}"] = res
        return out
    finally:
        k.stop()


def measure(n: int, latency: int, work: Path, include_baseline: bool) -> dict:
    hosts, regions, bench_vars = fleet(n)
    r = len(regions)
    env_base = dict(os.environ, PATH=f"{ROOT / '.tools' / 'bin'}:{BIN}:{os.environ.get('PATH', '')}",
                    ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    out = {"n": n, "regions": r}
    out.update(_side("collection", n, latency, work, hosts, bench_vars, "playbooks/site.yml", False, env_base))
    # minimum: one write per object (N + R ClusterDeployments, R PromxyServerGroups, R GrafanaDatasources) on the
    # first rollout; reads to know the state (one list per kind) and to verify it (ClusterDeployments,
    # ClusterSummaries, kubeconfig Secrets, PSGs, GrafanaDatasources, the promxy Secret, one pod list per cluster)
    minimum_reads = 3 + 6 + (n + r)
    out["minimum"] = {"first": n + 3 * r + minimum_reads, "rerun": minimum_reads}
    if include_baseline:
        out.update(_side("baseline", n, latency, work, hosts, bench_vars, "benchmarks/baseline/site.yml", True,
                         env_base))
    return out


def plot(rows, path: Path):
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return _svg(rows, path.with_suffix(".svg"))
    return None


def _svg(rows, path: Path) -> str:
    """A dependency-free SVG plot of seconds against N."""
    series = [("collection_first", "#1f77b4"), ("collection_rerun", "#2ca02c"), ("baseline_first", "#d62728"),
              ("baseline_rerun", "#ff7f0e")]
    xs = [r["n"] for r in rows]
    ys = [r[s]["seconds"] for r in rows for s, _ in series if s in r]
    if not xs or not ys:
        return ""
    w, h, pad = 640, 400, 60
    xmax, ymax = max(xs), max(ys) * 1.1 or 1

    def px(x):
        return pad + (w - 2 * pad) * x / xmax

    def py(y):
        return h - pad - (h - 2 * pad) * y / ymax
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
             f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="black"/>',
             f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="black"/>',
             f'<text x="{w / 2}" y="{h - 20}" text-anchor="middle">child clusters (N)</text>',
             f'<text x="15" y="{h / 2}" transform="rotate(-90 15 {h / 2})" text-anchor="middle">seconds</text>']
    for i, (s, color) in enumerate(series):
        pts = [(r["n"], r[s]["seconds"]) for r in rows if s in r]
        if not pts:
            continue
        parts.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (
            color, " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)))
        for x, y in pts:
            parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"/>')
        parts.append(f'<text x="{w - pad - 130}" y="{pad + 15 * i}" fill="{color}">{s.replace("_", " ")}</text>')
    for x in xs:
        parts.append(f'<text x="{px(x):.1f}" y="{h - pad + 15}" text-anchor="middle">{x}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts))
    return path.name


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("sizes", nargs="*", type=int, default=[10, 100, 1000])
    ap.add_argument("--latency-ms", type=int, default=10)
    ap.add_argument("--no-baseline-above", type=int, default=1000,
                    help="skip the (slow) baseline above this N")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results.md"))
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="kof-bench-"))
    rows = []
    for n in args.sizes:
        print(f"[bench] N={n} ...", flush=True)
        rows.append(measure(n, args.latency_ms, work, include_baseline=n <= args.no_baseline_above))
        print(f"[bench] N={n}: {json.dumps(rows[-1])}", flush=True)
    report(rows, Path(args.out), args.latency_ms)
    ratios = {}
    for r in rows:
        c1, c2 = r["collection_first"], r["collection_rerun"]
        entry = {"first_s": c1["seconds"], "rerun_s": c2["seconds"],
                 "first_requests_vs_min": round(c1["requests"] / r["minimum"]["first"], 2),
                 "rerun_requests_vs_min": round(c2["requests"] / r["minimum"]["rerun"], 2),
                 "rerun_writes": c2["writes"], "peak_rss_mb": max(c1["peak_rss_mb"], c2["peak_rss_mb"])}
        if "baseline_first" in r:
            entry["first_speedup"] = round(r["baseline_first"]["seconds"] / max(c1["seconds"], 0.1), 1)
            entry["rerun_speedup"] = round(r["baseline_rerun"]["seconds"] / max(c2["seconds"], 0.1), 1)
        ratios[str(r["n"])] = entry
    print(json.dumps({"bench": "k0rdent.kof", "latency_ms": args.latency_ms, "targets": TARGETS, "results": ratios}))
    shutil.rmtree(work, ignore_errors=True)


def report(rows, path: Path, latency):
    img = _svg(rows, path.with_name("results.svg"))
    lines = ["# Benchmark results", "",
             f"`make bench` on this machine ({os.cpu_count()} cores), kofsim with {latency} ms API latency. "
             "Seconds are wall time of `ansible-playbook`; requests are kofsim's request log for that run; "
             "the minimum is one write per object plus the reads needed to know the state and verify it.", "",
             "| N | regions | collection first (s) | collection re-run (s) | baseline first (s) | baseline re-run (s) "
             "| speed-up first | speed-up re-run | requests first / min | requests re-run / min | writes on re-run "
             "| peak RSS (MB) |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        c1, c2 = r["collection_first"], r["collection_rerun"]
        b1, b2 = r.get("baseline_first"), r.get("baseline_rerun")
        sp1 = f"{b1['seconds'] / max(c1['seconds'], 0.1):.1f}x" if b1 else "-"
        sp2 = f"{b2['seconds'] / max(c2['seconds'], 0.1):.1f}x" if b2 else "-"
        lines.append(f"| {r['n']} | {r['regions']} | {c1['seconds']} | {c2['seconds']} | {b1['seconds'] if b1 else '-'} "
                     f"| {b2['seconds'] if b2 else '-'} | {sp1} | {sp2} | {c1['requests']} / {r['minimum']['first']} "
                     f"| {c2['requests']} / {r['minimum']['rerun']} | {c2['writes']} "
                     f"| {max(c1['peak_rss_mb'], c2['peak_rss_mb'])} |")
    if img:
        lines += ["", f"![seconds against N]({img})"]
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
