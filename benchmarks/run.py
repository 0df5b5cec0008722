#!/usr/bin/env python3
"""make bench: the collection's site.yml against a plain kubernetes.core baseline, at fleet sizes N.

For each N (child clusters) with R = N // 50 + 1 regional clusters, on a fresh kofsim with API latency:
install the management tier once (not measured), then measure, side by side on fresh ClusterDeployments,
  1. the collection's playbooks/site.yml: first rollout and no-op re-run;
  2. benchmarks/baseline/site.yml: the same objects, one kubernetes.core.k8s task per object per host;
  3. the API requests of each run (kofsim's request log) against the minimum the run needs (see minimum()).
Each run records its wall time, the controller's CPU time and peak memory (ansible-playbook and its workers), and
kofsim's CPU time in the same interval (the emulator's share of the 2 cores). Writes benchmarks/results.md (table
and plot) and prints one JSON line with the ratios and whether each target is met. docs/performance.md explains
every figure.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "kofsim"))
from kofsim.testing import Kofsim  # noqa: E402  pylint: disable=wrong-import-position

BIN = Path(sys.executable).parent
MUTATING = ("POST", "PUT", "PATCH", "DELETE")
# the targets: N=1000 first rollout and re-run (seconds), speed-up over the baseline at every N, API
# requests against the minimum
TARGETS = {"first_s_1000": 120, "rerun_s_1000": 30, "first_speedup": 5, "rerun_speedup": 10, "requests_ratio": 1.5}
# the KOF 1.x flow's (issue 17): no baseline (kubernetes.core would write the same ClusterDeployments)
# the 1.x issue sets every figure "at N=1000 children", the requests ratio too (at N=10 the fixed discovery and
# management-tier reads are most of a run's requests)
TARGETS_1X = {"first_s_1000": 60, "rerun_s_1000": 30, "requests_ratio": 1.2, "requests_at_n": 1000}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def fleet(n: int, kof_version: str = "0.1.1") -> tuple[dict, list, dict]:
    """1 management + R regional + N child hosts, children spread evenly over the regions."""
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
                  "kof_cluster_template": "aws-standalone-cp-0-1-0", "kof_verify_timeout": 300}
    if not kof_version.startswith("0."):  # the KOF 1.x flow: kcm 1.x's template, the 1.10 stand-in charts
        bench_vars.update(kof_version=kof_version, kof_dns_mode="none", kof_cluster_template="aws-standalone-cp-1-0-28",
                          kof_chart_repository=str(ROOT / "kofsim" / "kofsim" / "charts-1.10"))
    return hosts, regions, bench_vars


def write_inventory(d: Path, hosts, bench_vars, baseline=False):
    (d / "group_vars" / "all").mkdir(parents=True, exist_ok=True)
    (d / "hosts.yml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    if baseline:  # plain tasks have no version detection: the baseline names the version it installs
        bench_vars = {"kof_version": "0.1.1", **bench_vars}
    (d / "group_vars" / "all" / "10-bench.yml").write_text(yaml.safe_dump(bench_vars))
    if baseline:
        # the baseline builds the very same objects: the collection's defaults and object definitions as the
        # inventory's variables (inventory group_vars rank below the bench's own group_vars/all file)
        shutil.copy(ROOT / "roles" / "common" / "defaults" / "main.yml", d / "group_vars" / "all" / "00-kof-defaults.yml")
        # and the common role's derived variables the definitions read (kof_release, kof_flow, ...)
        shutil.copy(ROOT / "roles" / "common" / "vars" / "main.yml", d / "group_vars" / "all" / "01-kof-vars.yml")
        for tier in ("regional", "child"):
            (d / "group_vars" / f"kof_{tier}").mkdir(exist_ok=True)
            shutil.copy(ROOT / "roles" / tier / "vars" / "main.yml", d / "group_vars" / f"kof_{tier}" / "vars.yml")
    return d


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process (kofsim), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def run(cmd, env, log: Path, sim_pid: int | None = None) -> dict:
    """Run one ansible-playbook; wall time, its CPU time with its workers, peak RSS, kofsim's CPU meanwhile."""
    sim0 = cpu_seconds(sim_pid) if sim_pid else 0.0
    start = time.monotonic()
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    out = {"seconds": round(wall, 1), "rc": os.waitstatus_to_exitcode(status),
           "controller_cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
           "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}
    if sim_pid:
        out["kofsim_cpu_s"] = round(cpu_seconds(sim_pid) - sim0, 1)
    return out


def requests_of(k: Kofsim, since: int) -> dict:
    reqs = [r for r in k.requests(since=since) if not r["path"].startswith("/kofsim/")]
    writes = [r for r in reqs if r["method"] in MUTATING and not r.get("dry_run")]
    return {"requests": len(reqs), "writes": len(writes), "changes": sum(1 for r in writes if r.get("persisted")),
            "discovery": sum(1 for r in reqs if r["method"] == "GET" and _is_discovery(r["path"]))}


def _is_discovery(path: str) -> bool:
    parts = [p for p in path.split("/") if p]
    return path in ("/api", "/apis", "/version") or (parts[:1] == ["api"] and len(parts) == 2) or \
        (parts[:1] == ["apis"] and len(parts) in (2, 3)) or path.startswith("/openapi")


def minimum(n: int, r: int) -> dict:
    """The fewest API requests that do what site.yml does (docs/performance.md explains each term)."""
    objects = n + 3 * r                    # N + R ClusterDeployments, R PromxyServerGroups, R GrafanaDatasources
    state = 3                              # one list per collection written (ClusterDeployments, PSGs, GDSs)
    management = 2 + 8                     # helm: one release lookup per chart; preflight and checks of the
    #                                        management tier: version, Management, StorageClasses, namespace,
    #                                        ServiceTemplates, the 2 credentials Secrets, kof pods
    dns = 1 + r                            # manual DNS: the kubeconfig Secrets (one list), each regional LB Service
    verify = 6 + n + r                     # CDs, ClusterSummaries, kubeconfig Secrets, PSGs, GDSs, promxy config;
    #                                        one pod list per cluster through its kubeconfig
    reads = state + management + dns + verify
    return {"first": objects + 1 + reads,  # + one watch for Ready
            "rerun": reads}


def minimum_1x(n: int, r: int) -> dict:
    """The fewest API requests that do what site.yml does in the KOF 1.x flow (docs/performance.md)."""
    objects = n + r                        # N + R labelled ClusterDeployments: kof-operator and the
    #                                        MultiClusterServices make the rest
    state = 1                              # one list of the ClusterDeployments
    management = 1 + 4 + 4 + 1             # helm: the release lookup; preflight: version, Management,
    #                                        StorageClasses, namespace; HelmReleases, MultiClusterServices,
    #                                        ServiceTemplates, kof pods; the live kof-regional HelmRelease (its
    #                                        storage values, which the storage guard compares)
    services = 4 + 3                       # one look at each tier: MultiClusterServices, ServiceSets, kof-operator's
    #                                        ConfigMaps (+ PSGs)
    verify = 6 + n + r                     # CDs, ServiceSets, MCSs, kubeconfig Secrets, PSGs, promxy config; one pod list
    #                                        per cluster through its kubeconfig
    reads = state + management + services + verify
    return {"first": objects + 1 + reads, "rerun": reads}


def _side(label, n, latency, work, hosts, bench_vars, playbook, baseline, env_base) -> dict:
    """Fresh kofsim, management tier installed (not measured), then the measured first rollout and re-run."""
    kcm = None if str(bench_vars.get("kof_version", "0.")).startswith("0.") else "v1beta1"
    k = Kofsim(work / f"kofsim-{label}-{n}", latency_ms=latency, kcm_api_version=kcm)
    k.start()
    try:
        sim_pid = int((k.dir / "pid").read_text())
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
            log = logs / f"{label}-{phase}.log"
            res = run([str(BIN / "ansible-playbook"), "-i", str(inv), playbook], env, log, sim_pid)
            res.update(requests_of(k, seq))
            if res["rc"]:
                res["log"] = str(log)
            out[f"{label}_{phase}"] = res
        return out
    finally:
        k.stop()


def measure(n: int, latency: int, work: Path, include_baseline: bool, kof_version: str = "0.1.1") -> dict:
    hosts, regions, bench_vars = fleet(n, kof_version)
    one_x = not kof_version.startswith("0.")
    r = len(regions)
    env_base = dict(os.environ, PATH=f"{ROOT / '.tools' / 'bin'}:{BIN}:{os.environ.get('PATH', '')}",
                    ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    env_base.pop("ANSIBLE_STDOUT_CALLBACK", None)
    out = {"n": n, "regions": r, "load_before": [round(x, 2) for x in os.getloadavg()]}
    out.update(_side("collection", n, latency, work, hosts, bench_vars, "playbooks/site.yml", False, env_base))
    out["minimum"] = minimum_1x(n, r) if one_x else minimum(n, r)
    if include_baseline and not one_x:  # the kubernetes.core baseline writes the 0.1.1 guide's objects
        out.update(_side("baseline", n, latency, work, hosts, bench_vars, "benchmarks/baseline/site.yml", True,
                         env_base))
    out["load_after"] = [round(x, 2) for x in os.getloadavg()]
    return out


def ratios(rows) -> dict:
    out = {}
    for r in rows:
        c1, c2 = r["collection_first"], r["collection_rerun"]
        entry = {"first_s": c1["seconds"], "rerun_s": c2["seconds"],
                 "first_requests_vs_min": round(c1["requests"] / r["minimum"]["first"], 2),
                 "rerun_requests_vs_min": round(c2["requests"] / r["minimum"]["rerun"], 2),
                 "rerun_writes": c2["writes"], "peak_rss_mb": max(c1["peak_rss_mb"], c2["peak_rss_mb"]),
                 "ok": c1["rc"] == 0 and c2["rc"] == 0}
        if "baseline_first" in r:
            entry["first_speedup"] = round(r["baseline_first"]["seconds"] / max(c1["seconds"], 0.1), 1)
            entry["rerun_speedup"] = round(r["baseline_rerun"]["seconds"] / max(c2["seconds"], 0.1), 1)
            entry["ok"] = entry["ok"] and r["baseline_first"]["rc"] == 0 and r["baseline_rerun"]["rc"] == 0
        out[str(r["n"])] = entry
    return out


def verdict(res: dict, targets: dict | None = None) -> dict:
    """Each target: met (True), missed (False) or not measured (None)."""
    targets = targets or TARGETS
    big = res.get("1000")
    v = {"first_s_1000": None if not big else big["first_s"] < targets["first_s_1000"],
         "rerun_s_1000": None if not big else big["rerun_s"] < targets["rerun_s_1000"]}
    speed = [e for e in res.values() if "first_speedup" in e and "first_speedup" in targets]
    v["first_speedup"] = all(e["first_speedup"] >= targets["first_speedup"] for e in speed) if speed else None
    v["rerun_speedup"] = all(e["rerun_speedup"] >= targets["rerun_speedup"] for e in speed) if speed else None
    judged = [e for n, e in res.items() if "requests_at_n" not in targets or n == str(targets["requests_at_n"])]
    v["requests_ratio"] = all(max(e["first_requests_vs_min"], e["rerun_requests_vs_min"]) <= targets["requests_ratio"]
                              for e in judged) if judged else None
    return v


def _svg(rows, path: Path) -> str:
    """A dependency-free SVG plot of seconds against N (log-log, so 10..1000 and a line of slope 1 are readable)."""
    import math  # pylint: disable=import-outside-toplevel
    series = [("collection_first", "#1f77b4"), ("collection_rerun", "#2ca02c"), ("baseline_first", "#d62728"),
              ("baseline_rerun", "#ff7f0e")]
    pts_all = [(r["n"], r[s]["seconds"]) for r in rows for s, _ in series if s in r and r[s]["seconds"] > 0]
    if not pts_all:
        return ""
    w, h, pad = 680, 420, 70
    x0, x1 = math.log10(min(p[0] for p in pts_all)), math.log10(max(p[0] for p in pts_all))
    y0, y1 = math.log10(min(p[1] for p in pts_all)) - 0.1, math.log10(max(p[1] for p in pts_all)) + 0.1
    x1 = x1 if x1 > x0 else x0 + 1

    def px(x):
        return pad + (w - 2 * pad) * (math.log10(x) - x0) / (x1 - x0)

    def py(y):
        return h - pad - (h - 2 * pad) * (math.log10(y) - y0) / (y1 - y0)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
             'font-size="12">', '<rect width="100%" height="100%" fill="white"/>',
             f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="black"/>',
             f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="black"/>',
             f'<text x="{w / 2}" y="{h - 25}" text-anchor="middle">child clusters N (log scale)</text>',
             f'<text x="18" y="{h / 2}" transform="rotate(-90 18 {h / 2})" text-anchor="middle">'
             'wall seconds (log scale)</text>']
    for tick in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000):
        if y0 <= math.log10(tick) <= y1:
            parts.append(f'<line x1="{pad - 4}" y1="{py(tick):.1f}" x2="{w - pad}" y2="{py(tick):.1f}" '
                         'stroke="#ddd"/>')
            parts.append(f'<text x="{pad - 8}" y="{py(tick) + 4:.1f}" text-anchor="end">{tick}</text>')
    for x in sorted({r["n"] for r in rows}):
        parts.append(f'<text x="{px(x):.1f}" y="{h - pad + 16}" text-anchor="middle">{x}</text>')
    for i, (s, color) in enumerate(series):
        pts = [(r["n"], r[s]["seconds"]) for r in rows if s in r and r[s]["seconds"] > 0]
        if not pts:
            continue
        parts.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (
            color, " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)))
        for x, y in pts:
            parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"/>')
        parts.append(f'<text x="{pad + 10}" y="{pad - 40 + 14 * i}" fill="{color}">{s.replace("_", " ")}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")
    return path.name


def report(rows, path: Path, latency, res: dict, ver: dict, targets: dict | None = None, kof_version="0.1.1"):
    targets = targets or TARGETS
    img = _svg(rows, path.with_suffix(".svg"))
    lines = [f"# Benchmark results (KOF {kof_version}, the {'0.1.x' if kof_version.startswith('0.') else '1.x'} "
             "install flow)", "",
             f"`make bench` on this machine ({os.cpu_count()} cores), kofsim with {latency} ms API latency, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Seconds are the wall time of `ansible-playbook`; "
             "controller CPU is ansible-playbook with its workers; kofsim CPU is the emulator's in the same interval "
             "(both share the 2 cores); requests are kofsim's request log for that run, against the minimum the run "
             "needs (docs/performance.md). Load is the 1-minute load average before and after the N.", "",
             "| N | R | run | wall s | controller CPU s | kofsim CPU s | peak RSS MB | requests / min | writes "
             "(changes) | discovery | rc |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for side in ("collection", "baseline"):
            for phase in ("first", "rerun"):
                e = r.get(f"{side}_{phase}")
                if not e:
                    continue
                lines.append(f"| {r['n']} | {r['regions']} | {side} {phase} | {e['seconds']} | "
                             f"{e['controller_cpu_s']} | {e.get('kofsim_cpu_s', '-')} | {e['peak_rss_mb']} | "
                             f"{e['requests']} / {r['minimum'][phase]} | {e['writes']} ({e['changes']}) | "
                             f"{e['discovery']} | {e['rc']} |")
    lines += ["", "| N | speed-up first | speed-up re-run | requests first / min | requests re-run / min | "
              "load before / after |", "|---|---|---|---|---|---|"]
    for r in rows:
        e = res[str(r["n"])]
        lines.append(f"| {r['n']} | {str(e.get('first_speedup', '-')) + 'x' if 'first_speedup' in e else '-'} | "
                     f"{str(e.get('rerun_speedup', '-')) + 'x' if 'rerun_speedup' in e else '-'} | "
                     f"{e['first_requests_vs_min']} | {e['rerun_requests_vs_min']} | "
                     f"{r['load_before'][0]} / {r['load_after'][0]} |")

    def target(k):
        at = targets.get("requests_at_n") if k == "requests_ratio" else None
        return f"{k} {targets[k]}" + (f" at N={at}" if at else "")
    lines += ["", "Targets (the issue): " + ", ".join(
        f"{target(k)}: {'met' if v else 'not met' if v is False else 'not measured'}" for k, v in ver.items()
        if k in targets)]
    if img:
        lines += ["", f"![wall seconds against N]({img})"]
    path.write_text("\n".join(lines) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sizes", nargs="*", type=int, default=[10, 100, 1000], help="fleet sizes N (child clusters)")
    ap.add_argument("--latency-ms", type=int, default=10, help="kofsim's added latency per API request")
    ap.add_argument("--no-baseline-above", type=int, default=1000, help="skip the (slow) baseline above this N")
    ap.add_argument("--no-baseline", action="store_true", help="measure the collection only")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results.md"), help="the Markdown report")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, inventories)")
    ap.add_argument("--kof-version", default="0.1.1", help="KOF version whose install flow to measure (1.10.0: 1.x)")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="kof-bench-"))
    rows = []
    for n in args.sizes:
        print(f"[bench] N={n} ...", flush=True)
        rows.append(measure(n, args.latency_ms, work,
                            include_baseline=not args.no_baseline and n <= args.no_baseline_above,
                            kof_version=args.kof_version))
        print(f"[bench] N={n}: {json.dumps(rows[-1])}", flush=True)
    res = ratios(rows)
    targets = TARGETS if args.kof_version.startswith("0.") else TARGETS_1X
    ver = verdict(res, targets)
    report(rows, Path(args.out), args.latency_ms, res, ver, targets, args.kof_version)
    print(json.dumps({"bench": "k0rdent.kof", "kof_version": args.kof_version, "latency_ms": args.latency_ms,
                      "targets": targets, "met": ver,
                      "results": res}))
    failed = [n for n, e in res.items() if not e["ok"]]
    if failed or args.keep:
        print(f"[bench] logs and inventories kept in {work}" + (f" (a run failed at N={', '.join(failed)})"
                                                                 if failed else ""), flush=True)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
