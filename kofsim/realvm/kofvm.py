#!/usr/bin/env python3
"""Real VictoriaMetrics loaded with OpenCost-shaped series, for the FinOps tests, benchmark and demo.

Standard library only (it runs from the venv or a bare python3).

- ``fleet(regions, clusters_per_region, ...)`` describes a fleet: per cluster its region, prices, nodes, pods
  (namespace, team and cost-center labels, CPU/RAM/GPU allocation, lifetime), volumes and load balancers. The
  description is plain data, so a test computes the expected costs from it by hand (``expected``) without
  reading a single generated sample.
- ``series(fleet, start, hours, label)`` yields the series OpenCost (and kube-state-metrics) would have written for
  that fleet: one sample per whole hour, as VictoriaMetrics' JSON line import format. ``label`` is the cluster
  label of the KOF version (``clusterName`` for 0.1.1, ``cluster`` for 1.x); every series also carries
  ``promxyCluster=<region>`` as promxy adds it.
- ``VictoriaMetrics`` starts the single-node binary on a free loopback port with its own data directory, imports
  (``/api/v1/import``), flushes, and stops it; ``VMAlert`` runs vmalert's replay mode; ``ServiceProxy`` answers under
  the API server's service-proxy path of ``kof-mothership-promxy`` from a VictoriaMetrics.

CLI (for ``make demo``): ``python kofvm.py up --dir D --clusters c1=region1,c2=region1 [--days 30] [--label
clusterName]`` starts VictoriaMetrics with that fleet's data and prints its URL (state in D); ``python kofvm.py
down --dir D`` stops it.
"""
from __future__ import annotations

import argparse
import gzip
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Iterable, Iterator

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN_DIR = os.environ.get("KOF_VM_BIN") or os.path.join(ROOT, ".tools", "vm", "bin")
HOUR = 3600
DAY = 86400
GIB = 2 ** 30
JOB = "kof-collectors-opencost"
KSM_JOB = "kube-state-metrics"

# ---------------------------------------------------------------------------------------------------------------
# the fleet: plain data
# ---------------------------------------------------------------------------------------------------------------
# Prices per region, in the price book's units: $/vCPU-h, $/GiB-h, $/GPU-h, $/GB-h (storage).
REGION_PRICES = [
    {"cpu": 0.030, "ram": 0.004, "gpu": 0.90, "storage": 0.0001},
    {"cpu": 0.032, "ram": 0.005, "gpu": 1.00, "storage": 0.0002},
    {"cpu": 0.025, "ram": 0.003, "gpu": 0.80, "storage": 0.0001},
]
NODE_TYPES = {"m5.xlarge": (4, 16, 0), "m5.2xlarge": (8, 32, 0), "g4dn.xlarge": (4, 16, 1)}
LB_HOURLY = 0.025


def cluster_spec(name: str, region: str, index: int, hours: int, prices: dict) -> dict:
    """One cluster. ``index`` varies the shape (GPU node every 5th cluster, shop replicas 1-3); ``hours`` is the
    number of hourly points after the first one (a 30-day data set has hours=720, points 0..720). Pods of the
    ``batch`` namespace (no team label) and the third ``shop`` pod live only in the second half."""
    half = hours // 2
    gpu = index % 5 == 0
    nodes = [{"name": f"{name}-n0", "type": "m5.xlarge"}, {"name": f"{name}-n1", "type": "m5.xlarge"},
             {"name": f"{name}-n2", "type": "m5.2xlarge"}]
    if gpu:
        nodes.append({"name": f"{name}-g0", "type": "g4dn.xlarge"})
    for n in nodes:
        n["cpu"], n["ram_gib"], n["gpus"] = NODE_TYPES[n["type"]]
    pods = []

    def pod(ns, pname, node, cpu, ram_gib, team=None, cc=None, gpus=0, start=0, end=hours, pvc=None):
        labels = {"app": pname.rsplit("-", 1)[0]}
        if team:
            labels["team"] = team
        if cc:
            labels["cost_center"] = cc
        pods.append({"namespace": ns, "pod": pname, "node": node, "cpu": cpu, "ram_gib": ram_gib, "gpus": gpus,
                     "labels": labels, "start": start, "end": end, "pvc": pvc})

    pod("kube-system", "coredns-0", nodes[0]["name"], 0.5, 1)
    pod("kube-system", "coredns-1", nodes[1]["name"], 0.5, 1)
    pod("kof", "kof-collectors-0", nodes[0]["name"], 1, 2, pvc=("kof-data", f"pv-{name}-kof", 10))
    replicas = 1 + index % 3
    for r in range(replicas):
        pod("shop", f"shop-web-{r}", nodes[r % 2]["name"], 1, 4, team="alpha", cc="cc-100")
    pod("shop", f"shop-web-{replicas}", nodes[2]["name"], 1, 4, team="alpha", cc="cc-100", start=half + 1)
    pod("search", "search-0", nodes[2]["name"], 2, 8, team="beta", cc="cc-200",
        pvc=("search-data", f"pv-{name}-search", 50))
    if gpu:
        pod("ml", "trainer-0", nodes[3]["name"], 2, 8, team="gamma", cc="cc-200", gpus=1)
    pod("batch", "batch-0", nodes[2]["name"], 1, 2, start=half + 1)
    pvs = [{"name": f"pv-{name}-kof", "gib": 10}, {"name": f"pv-{name}-search", "gib": 50},
           {"name": f"pv-{name}-spare", "gib": 20}]  # the spare one is claimed by no pod: idle storage
    lbs = [{"namespace": "shop", "service": "shop-web", "ip": f"10.{index // 250}.{index % 250}.10",
            "hourly": LB_HOURLY}]
    namespaces = {"kube-system": {}, "kof": {}, "shop": {"team": "alpha"}, "search": {"team": "beta"},
                  "batch": {}}
    if gpu:
        namespaces["ml"] = {"team": "gamma"}
    return {"name": name, "region": region, "prices": dict(prices), "nodes": nodes, "pods": pods, "pvs": pvs,
            "lbs": lbs, "namespaces": namespaces, "hours": hours}


def fleet(regions: int = 3, clusters_per_region: int = 20, days: int = 30, names: dict | None = None,
          price_overrides: dict | None = None) -> list[dict]:
    """A fleet of ``regions`` x ``clusters_per_region`` clusters over ``days`` days (hourly points 0..days*24).
    ``names``: {cluster: region} instead (the demo's inventory). ``price_overrides``: {cluster: {cpu: ...}}."""
    hours = days * 24
    out = []
    if names:
        regs = sorted(set(names.values()))
        for i, (c, r) in enumerate(sorted(names.items())):
            p = dict(REGION_PRICES[regs.index(r) % len(REGION_PRICES)])
            p.update((price_overrides or {}).get(c, {}))
            out.append(cluster_spec(c, r, i, hours, p))
        return out
    i = 0
    for r in range(regions):
        region = f"region{r + 1}"
        for k in range(clusters_per_region):
            c = f"{region}-c{k + 1:03d}" if clusters_per_region > 99 else f"{region}-c{k + 1:02d}"
            p = dict(REGION_PRICES[r % len(REGION_PRICES)])
            p.update((price_overrides or {}).get(c, {}))
            out.append(cluster_spec(c, region, i, hours, p))
            i += 1
    return out


def price_book(clusters: list[dict]) -> dict:
    """The inventory price book the fleet was priced with: {cluster: {cpu, ram, gpu, storage}}."""
    return {c["name"]: dict(c["prices"]) for c in clusters}


# ---------------------------------------------------------------------------------------------------------------
# expected costs, by hand (closed form from the description)
# ---------------------------------------------------------------------------------------------------------------
def points_in(start: int, end: int, p0: int, p1: int) -> int:
    """Hourly points j with start <= j <= end (the entity's life) and p0 < j <= p1 (the period)."""
    lo, hi = max(start, p0 + 1), min(end, p1)
    return max(0, hi - lo + 1)


def expected(c: dict, p0: int, p1: int) -> dict:
    """Costs of cluster ``c`` over the period of hourly points (p0, p1], by resource: assets (what the cluster
    costs), allocations per (namespace, pod) and idle. Every figure is rate x hours."""
    pr, h = c["prices"], points_in(0, c["hours"], p0, p1)
    cpu_cap = sum(n["cpu"] for n in c["nodes"])
    ram_cap = sum(n["ram_gib"] for n in c["nodes"])
    gpu_cap = sum(n["gpus"] for n in c["nodes"])
    assets = {"cpu": cpu_cap * pr["cpu"] * h, "ram": ram_cap * pr["ram"] * h, "gpu": gpu_cap * pr["gpu"] * h,
              "pv": sum(v["gib"] for v in c["pvs"]) * pr["storage"] * h,
              "lb": sum(b["hourly"] for b in c["lbs"]) * h}
    pods = []
    for p in c["pods"]:
        n = points_in(p["start"], p["end"], p0, p1)
        pods.append({"namespace": p["namespace"], "pod": p["pod"], "labels": p["labels"],
                     "cpu": p["cpu"] * pr["cpu"] * n, "ram": p["ram_gib"] * pr["ram"] * n,
                     "gpu": p["gpus"] * pr["gpu"] * n,
                     "pv": (p["pvc"][2] * pr["storage"] * n) if p["pvc"] else 0.0, "lb": 0.0})
    lb_ns = {}
    for b in c["lbs"]:
        lb_ns[b["namespace"]] = lb_ns.get(b["namespace"], 0.0) + b["hourly"] * h
    alloc = {k: sum(p[k] for p in pods) for k in ("cpu", "ram", "gpu", "pv")}
    alloc["lb"] = sum(lb_ns.values())
    idle = {k: assets[k] - alloc[k] for k in assets}
    return {"assets": assets, "pods": pods, "lb_by_namespace": lb_ns, "allocated": alloc, "idle": idle,
            "total": sum(assets.values())}


# ---------------------------------------------------------------------------------------------------------------
# series
# ---------------------------------------------------------------------------------------------------------------
def _line(metric: dict, value: float, start_ms: int, first: int, last: int) -> bytes:
    ts = [start_ms + j * HOUR * 1000 for j in range(first, last + 1)]
    return (json.dumps({"metric": metric, "values": [value] * len(ts), "timestamps": ts},
                       separators=(",", ":")) + "\n").encode()


def series(clusters: list[dict], start: int, label: str = "clusterName", duplicate: str | None = None) -> Iterator[bytes]:
    """JSON lines for VictoriaMetrics' /api/v1/import. ``start``: unix seconds of point 0 (a whole hour).
    ``duplicate``: a cluster whose node price series is written twice (two OpenCost instances), for the
    data-quality gate's test."""
    ms = start * 1000
    for c in clusters:
        H, pr = c["hours"], c["prices"]
        base = {label: c["name"], "promxyCluster": c["region"], "job": JOB}
        for n in c["nodes"]:
            nl = dict(base, instance=n["name"], node=n["name"], instance_type=n["type"], region=c["region"],
                      provider_id=f"kofsim://{n['name']}", arch="amd64")
            total = n["cpu"] * pr["cpu"] + n["ram_gib"] * pr["ram"] + n["gpus"] * pr["gpu"]
            for m, v in (("node_cpu_hourly_cost", pr["cpu"]), ("node_ram_hourly_cost", pr["ram"]),
                         ("node_gpu_hourly_cost", pr["gpu"] if n["gpus"] else 0.0),
                         ("node_gpu_count", n["gpus"]), ("node_total_hourly_cost", total),
                         ("kubecost_node_is_spot", 0)):
                yield _line(dict(nl, __name__=m), v, ms, 0, H)
            if duplicate == c["name"]:
                yield _line(dict(nl, __name__="node_total_hourly_cost", instance=n["name"] + ":9003"), total, ms, 0, H)
            nk = {label: c["name"], "promxyCluster": c["region"], "node": n["name"]}
            yield _line(dict(nk, __name__="kube_node_status_capacity_cpu_cores", job=JOB), n["cpu"], ms, 0, H)
            yield _line(dict(nk, __name__="kube_node_status_capacity_memory_bytes", job=JOB),
                        n["ram_gib"] * GIB, ms, 0, H)
            # both OpenCost (EMIT_KSM_V1_METRICS_ONLY) and kube-state-metrics write kube_node_labels
            for job in (JOB, KSM_JOB):
                yield _line(dict(nk, __name__="kube_node_labels", job=job, label_node_kubernetes_io_instance_type=n["type"],
                                 label_topology_kubernetes_io_region=c["region"]), 1, ms, 0, H)
        for ns, nslabels in c["namespaces"].items():
            yield _line(dict(base, __name__="kube_namespace_labels", namespace=ns,
                             **{f"label_{k}": v for k, v in nslabels.items()}), 1, ms, 0, H)
        for p in c["pods"]:
            pl = dict(base, namespace=p["namespace"], pod=p["pod"], container=p["pod"].rsplit("-", 1)[0],
                      instance=p["node"], node=p["node"])
            a, b = p["start"], p["end"]
            yield _line(dict(pl, __name__="container_cpu_allocation"), p["cpu"], ms, a, b)
            yield _line(dict(pl, __name__="container_memory_allocation_bytes"), p["ram_gib"] * GIB, ms, a, b)
            if p["gpus"]:
                yield _line(dict(pl, __name__="container_gpu_allocation"), p["gpus"], ms, a, b)
            yield _line(dict(base, __name__="kube_pod_labels", namespace=p["namespace"], pod=p["pod"],
                             **{f"label_{k}": v for k, v in p["labels"].items()}), 1, ms, a, b)
            if p["pvc"]:
                claim, pv, gib = p["pvc"]
                yield _line(dict(base, __name__="pod_pvc_allocation", namespace=p["namespace"], pod=p["pod"],
                                 persistentvolumeclaim=claim, persistentvolume=pv), gib * GIB, ms, a, b)
        for v in c["pvs"]:
            yield _line(dict(base, __name__="pv_hourly_cost", volumename=v["name"], persistentvolume=v["name"],
                             provider_id=v["name"]), pr["storage"], ms, 0, H)
            yield _line({"__name__": "kube_persistentvolume_capacity_bytes", label: c["name"],
                         "promxyCluster": c["region"], "job": KSM_JOB, "persistentvolume": v["name"]},
                        v["gib"] * GIB, ms, 0, H)
        for lb in c["lbs"]:
            yield _line(dict(base, __name__="kubecost_load_balancer_cost", namespace=lb["namespace"],
                             service_name=lb["service"], ingress_ip=lb["ip"]), lb["hourly"], ms, 0, H)


# ---------------------------------------------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary(name: str) -> str | None:
    p = os.path.join(BIN_DIR, name)
    return p if os.access(p, os.X_OK) else None


def _http(url: str, data: bytes | None = None, headers: dict | None = None, timeout: float = 300) -> bytes:
    req = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data is not None else "GET")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read()


class VictoriaMetrics:
    """victoria-metrics single-node on 127.0.0.1:<free port>, data in ``workdir`` (a temp dir by default)."""

    def __init__(self, workdir: str | None = None, retention: str = "2y", extra: list[str] | None = None):
        exe = binary("victoria-metrics")
        if not exe:
            raise FileNotFoundError(f"victoria-metrics is not built in {BIN_DIR} (run make setup)")
        self.exe, self.extra = exe, list(extra or [])
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="kofvm-")
        self.retention = retention
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30, port: int = 0) -> "VictoriaMetrics":
        """port: a port chosen earlier (e.g. named in objects before the instance runs); 0 - a free one."""
        self.port = port or free_port()
        os.makedirs(self.dir, exist_ok=True)
        self.log = open(os.path.join(self.dir, "victoria-metrics.log"), "ab")
        # -search.disableCache: backfilled (historical) data is queried at once; latencyOffset 0: nothing hidden;
        # maxPointsSubqueryPerTimeseries stays at its default (100k), like the regional VictoriaMetrics.
        self.proc = subprocess.Popen(
            [self.exe, f"-httpListenAddr=127.0.0.1:{self.port}", f"-storageDataPath={self.dir}/data",
             f"-retentionPeriod={self.retention}", "-search.disableCache", "-search.latencyOffset=0s",
             "-loggerLevel=WARN", "-memory.allowedPercent=20"] + self.extra,
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"victoria-metrics exited with {self.proc.returncode}; see {self.dir}/victoria-metrics.log")
            try:
                if _http(self.url + "/health", timeout=2).strip() == b"OK":
                    return self
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError("victoria-metrics did not answer /health")

    def load(self, lines: Iterable[bytes], chunk: int = 8 << 20) -> int:
        """POST the JSON lines (gzip, in chunks of ~8 MB) to /api/v1/import; flush. Returns the samples sent."""
        buf, size, samples = [], 0, 0

        def send():
            body = gzip.compress(b"".join(buf), compresslevel=1)
            _http(self.url + "/api/v1/import", body, {"Content-Encoding": "gzip"})
        for ln in lines:
            buf.append(ln)
            size += len(ln)
            samples += ln.count(b",", ln.index(b'"values":'), ln.index(b'"timestamps":')) or 1
            if size >= chunk:
                send()
                buf, size = [], 0
        if buf:
            send()
        self.flush()
        return samples

    def flush(self):
        _http(self.url + "/internal/force_flush")

    def query(self, expr: str, at: float) -> list:
        body = urllib.parse.urlencode({"query": expr, "time": str(at)}).encode()
        out = json.loads(_http(self.url + "/api/v1/query", body))
        return out["data"]["result"]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class VMAlert:
    """vmalert's replay mode: evaluates ``rules`` (a file) over [start, end] against ``datasource`` and writes the
    results (ALERTS / ALERTS_FOR_STATE for alerting rules) to ``remote_write``. Returns vmalert's output."""

    @staticmethod
    def replay(rules_file: str, datasource: str, remote_write: str, start: int, end: int,
               timeout: float = 600) -> str:
        exe = binary("vmalert")
        if not exe:
            raise FileNotFoundError(f"vmalert is not built in {BIN_DIR} (run make setup)")
        iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
        r = subprocess.run(
            [exe, f"-rule={rules_file}", f"-datasource.url={datasource}", f"-remoteWrite.url={remote_write}",
             f"-replay.timeFrom={iso(start)}", f"-replay.timeTo={iso(end)}", "-replay.disableProgressBar",
             "-replay.rulesDelay=0s", "-loggerLevel=WARN", f"-httpListenAddr=127.0.0.1:{free_port()}"],
            capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"vmalert replay failed ({r.returncode}): {r.stderr[-3000:]}")
        return r.stdout + r.stderr

    @staticmethod
    def check(rules_file: str) -> str:
        """vmalert -dryRun: parses and validates the rule file (PromQL/MetricsQL expressions, templates)."""
        exe = binary("vmalert")
        r = subprocess.run([exe, f"-rule={rules_file}", "-dryRun", "-loggerLevel=WARN"], capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"vmalert -dryRun refused {rules_file}: {(r.stdout + r.stderr)[-3000:]}")
        return r.stdout + r.stderr


PROXY_PREFIX = "/api/v1/namespaces/kof/services/kof-mothership-promxy:8082/proxy"


class ServiceProxy:
    """An HTTP front that answers like the API server's service proxy for promxy: requests under
    ``/api/v1/namespaces/kof/services/kof-mothership-promxy:8082/proxy`` go to ``upstream`` (a VictoriaMetrics),
    after a bearer-token check. ``down=True`` answers 503 like an API server whose service has no endpoints."""

    def __init__(self, upstream: str, token: str = "finops-test-token"):
        self.upstream, self.token, self.down, self.requests = upstream, token, False, []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _do(self):
                outer.requests.append(self.path)
                if self.headers.get("Authorization") != f"Bearer {outer.token}":
                    return self._send(401, b'{"kind":"Status","status":"Failure","reason":"Unauthorized","code":401}')
                if not self.path.startswith(PROXY_PREFIX + "/"):
                    return self._send(404, b'{"kind":"Status","status":"Failure","reason":"NotFound","code":404}')
                if outer.down:
                    return self._send(503, b'{"kind":"Status","status":"Failure","message":"no endpoints available '
                                           b'for service \\"kof-mothership-promxy\\"","reason":"ServiceUnavailable","code":503}')
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                hdr = {"Content-Type": self.headers.get("Content-Type", "application/x-www-form-urlencoded")}
                try:
                    req = urllib.request.Request(outer.upstream + self.path[len(PROXY_PREFIX):], data=body,
                                                 headers=hdr, method=self.command)
                    with urllib.request.urlopen(req, timeout=300) as r:
                        return self._send(r.status, r.read())
                except urllib.error.HTTPError as e:
                    return self._send(e.code, e.read())

            def _send(self, code, data):
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _do

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "ServiceProxy":
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------------------------------------------------
# CLI (demo)
# ---------------------------------------------------------------------------------------------------------------
def day_floor(t: float) -> int:
    return int(t // DAY * DAY)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start VictoriaMetrics loaded with a fleet's OpenCost series")
    up.add_argument("--dir", required=True)
    up.add_argument("--clusters", default="", help="cluster=region,... (default: 3 regions x 20 clusters)")
    up.add_argument("--days", type=int, default=30)
    up.add_argument("--label", default="clusterName", help="cluster label: clusterName (KOF 0.1.1) or cluster (1.x)")
    down = sub.add_parser("down", help="stop it")
    down.add_argument("--dir", required=True)
    a = ap.parse_args(argv)
    state = os.path.join(a.dir, "kofvm.json")
    if a.cmd == "down":
        try:
            st = json.load(open(state))
            os.killpg(st["pid"], signal.SIGINT)
        except (OSError, ValueError, KeyError):
            pass
        return 0
    names = dict(kv.split("=", 1) for kv in a.clusters.split(",") if kv) or None
    cl = fleet(days=a.days, names=names)
    end = day_floor(time.time())
    start = end - a.days * DAY
    vm = VictoriaMetrics(workdir=a.dir)
    vm.start()
    n = vm.load(series(cl, start, a.label))
    json.dump({"url": vm.url, "pid": vm.proc.pid, "start": start, "end": end, "samples": n,
               "prices": price_book(cl)}, open(state, "w"))
    vm.proc = None  # leave it running; `down` stops it
    print(vm.url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
