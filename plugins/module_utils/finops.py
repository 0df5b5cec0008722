# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""FinOps cost engine: OpenCost's metrics (read through promxy) to costs per cluster, region, namespace or pod
label, split into CPU, RAM, GPU, storage (PV) and load balancers, with idle and shared costs, a comparison with the
previous period and a data-quality gate.

Pure: no Ansible, no HTTP. The caller passes a *source* with two methods returning the Prometheus API's ``result``
lists: ``query(expr, time)`` and ``query_range(expr, start, end, step)`` (plugins/module_utils/finops_source.py
is the HTTP one). See docs/finops.md for the cost model; in short, over the period (start, end]:

- every cost is the integral of an hourly rate: ``sum_over_time((<$/h expression>)[<step>:1h])`` evaluated by a
  range query at ``step`` (1 day, or 1 hour for a period not made of whole days), so a point is the cost of the
  step that ends at its timestamp and the period's cost is the sum of its points;
- allocated cost of a container = OpenCost's allocation (max(request, usage)) x its node's price, per
  (cluster, namespace[, pod labels]); PV = pod_pvc_allocation x pv_hourly_cost; load balancers go to their
  namespace (and to a pod-label group through the namespace's label of the same name);
- asset cost of a cluster = node capacity x node price (CPU, RAM, GPU) + PV capacity x pv_hourly_cost + load
  balancers; idle = asset - allocated per cluster, day and resource (never below 0);
- idle is a line of its own (``separate``), shared out over the cluster's groups in proportion to their allocated
  cost (``share``), or left out (``hide``); shared costs (namespaces, or pods with a label value) are spread over
  the other groups of the same cluster evenly or weighted by their cost;
- queries are bounded: the fleet is split by region, a region in chunks of at most ``max_clusters`` clusters, and
  a chunk whose label query would return more than ``max_series`` series is split again (a count query first).
"""
from __future__ import annotations

import calendar
import datetime as _dt
import math
import re

HOUR = 3600
DAY = 86400
GIB = 2 ** 30
RESOURCES = ("cpu", "ram", "gpu", "pv", "lb")
IDLE_MODES = ("separate", "share", "hide")
SHARE_METHODS = ("even", "weighted")
IDLE_KEY = "__idle__"
SHARED_KEY = "__shared__"
NONE_VALUE = ""  # a pod without the label: shown as "(no <label>)"
BUILTIN_GROUPS = ("cluster", "region", "namespace")
# ISO 4217 active codes (the price book's currency is a label: no conversion happens).
CURRENCIES = set("""AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN
BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ
GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL
LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN
PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD
TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL""".split())
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CHF": "CHF ", "INR": "₹"}
LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
K8S_LABEL_RE = re.compile(r"^([a-zA-Z0-9.-]+/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$")
DEFAULT_RETENTION_DAYS = {"0": 31, "1": 30}  # kof-storage: 0.1.1 retentionPeriod "1" (= 1 month), 1.x "30d"


class FinOpsError(Exception):
    """A clear error: bad input, a source that cannot be read, data that would give a wrong total."""


# ------------------------------------------------------------------------------------------------ configuration
def cluster_label(kof_version: str) -> str:
    """The label carrying the cluster name on stored series: ``clusterName`` in KOF 0.x, ``cluster`` in 1.x."""
    major = str(kof_version).lstrip("v").split(".", maxsplit=1)[0]
    if not major.isdigit():
        raise FinOpsError(f"kof_version {kof_version!r} is not a version")
    return "clusterName" if int(major) < 1 else "cluster"


def sanitize_label(key: str) -> str:
    """A Kubernetes label key as OpenCost / kube-state-metrics export it: ``label_<key, non [a-zA-Z0-9_] -> _>``."""
    return "label_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)


def parse_group_by(group_by) -> list[str]:
    """``cluster``, ``region``, ``namespace`` or a pod label key (``team``, ``cost-center``,
    ``app.kubernetes.io/part-of``); a list for several dimensions."""
    items = [group_by] if isinstance(group_by, str) else list(group_by or [])
    if not items:
        raise FinOpsError("kof_cost_group_by is empty: name cluster, region, namespace or a pod label")
    out = []
    for g in items:
        g = str(g).strip()
        if g.startswith("label:"):
            g = g[len("label:"):]
        if g not in BUILTIN_GROUPS and not K8S_LABEL_RE.match(g):
            raise FinOpsError(f"kof_cost_group_by: {g!r} is neither cluster, region, namespace nor a Kubernetes "
                              "label key")
        if g in out:
            raise FinOpsError(f"kof_cost_group_by names {g!r} twice")
        out.append(g)
    return out


def _parse_time(v, what: str) -> int:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return int(v)
    s = str(v).strip()
    try:
        if re.match(r"^\d{4}-\d{2}-\d{2}$", s):
            d = _dt.datetime.strptime(s, "%Y-%m-%d").replace(tzinfo=_dt.timezone.utc)
        else:
            d = _dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
            if d.tzinfo is None:
                d = d.replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        raise FinOpsError(f"kof_cost_period.{what}: {v!r} is not a date (YYYY-MM-DD) or an RFC 3339 time")
    return int(d.timestamp())


def parse_period(period, now: float) -> dict:
    """``{days: N}`` (the last N whole UTC days, ending at today's 00:00), ``{month: YYYY-MM | current | previous}``
    (a calendar month; the current one up to the last whole hour) or ``{start, end}`` (dates or RFC 3339 times on
    whole hours). An int N means ``{days: N}``. Returns start, end, step and the previous period of the same
    length."""
    if isinstance(period, bool):
        raise FinOpsError(f"kof_cost_period: {period!r} is not a period")
    if isinstance(period, (int, float)) or (isinstance(period, str) and period.strip().isdigit()):
        period = {"days": int(period)}
    if isinstance(period, str):
        m = re.match(r"^(?:last\s+)?(\d+)\s*d(?:ays?)?$", period.strip())
        if m:
            period = {"days": int(m.group(1))}
        elif re.match(r"^(\d{4}-\d{2}|current|previous)$", period.strip()):
            period = {"month": period.strip()}
        else:
            raise FinOpsError(f"kof_cost_period: {period!r} is not a period (N, 'last N days', YYYY-MM, {{start, end}})")
    if not isinstance(period, dict):
        raise FinOpsError(f"kof_cost_period: {period!r} is not a period")
    unknown = set(period) - {"days", "month", "start", "end"}
    if unknown:
        raise FinOpsError(f"kof_cost_period: unknown keys {sorted(unknown)} (days, month, or start and end)")
    today = int(now // DAY * DAY)
    if "days" in period:
        try:
            days = int(period["days"])
        except (TypeError, ValueError):
            raise FinOpsError(f"kof_cost_period.days: {period['days']!r} is not a number of days")
        if days < 1:
            raise FinOpsError(f"kof_cost_period.days must be at least 1, not {days}")
        start, end, label = today - days * DAY, today, f"last {days} days"
    elif "month" in period:
        m = str(period["month"])
        d = _dt.datetime.fromtimestamp(today, _dt.timezone.utc)
        if m == "current":
            y, mo = d.year, d.month
        elif m == "previous":
            y, mo = (d.year, d.month - 1) if d.month > 1 else (d.year - 1, 12)
        else:
            try:
                y, mo = (int(x) for x in m.split("-"))
                _dt.date(y, mo, 1)
            except ValueError:
                raise FinOpsError(f"kof_cost_period.month: {m!r} is not YYYY-MM, current or previous")
        start = calendar.timegm((y, mo, 1, 0, 0, 0))
        end = calendar.timegm((y + (mo == 12), mo % 12 + 1, 1, 0, 0, 0))
        end = min(end, int(now // HOUR * HOUR))
        label = f"{y:04d}-{mo:02d}"
    else:
        if "start" not in period or "end" not in period:
            raise FinOpsError("kof_cost_period needs both start and end")
        start, end = _parse_time(period["start"], "start"), _parse_time(period["end"], "end")
        label = None
    if start % HOUR or end % HOUR:
        raise FinOpsError("kof_cost_period: start and end must fall on whole hours (UTC)")
    if end <= start:
        raise FinOpsError("kof_cost_period: the end must come after the start")
    if end > now:
        raise FinOpsError(f"kof_cost_period ends in the future ({iso(end)})")
    step = DAY if (end - start) % DAY == 0 and start % DAY == 0 else HOUR
    if step == HOUR and end - start > 31 * DAY:
        raise FinOpsError("kof_cost_period: a period longer than 31 days must start and end at 00:00 UTC")
    length = end - start
    return {"start": start, "end": end, "step": step, "hours": length // HOUR,
            "label": label or f"{iso(start)} - {iso(end)}",
            "previous": {"start": start - length, "end": start}}


def iso(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_retention(period: dict, now: float, retention_days: float):
    if period["start"] < now - retention_days * DAY:
        raise FinOpsError(
            f"kof_cost_period starts {iso(period['start'])}, before the regional storage's retention of "
            f"{retention_days:g} days (data from {iso(now - retention_days * DAY)} on): shorten the period or set "
            "kof_cost_retention_days to the real retention")


def check_currency(currency) -> str:
    c = str(currency or "").strip().upper()
    if c not in CURRENCIES:
        raise FinOpsError(f"kof_cost_currency: {currency!r} is not an ISO 4217 currency code (USD, EUR, ...)")
    return c


def parse_shared(shared) -> dict:
    """``{namespaces: [kube-system, kof], labels: {team: platform}, method: even|weighted}``."""
    shared = shared or {}
    if not isinstance(shared, dict):
        raise FinOpsError("kof_cost_shared must be a mapping (namespaces, labels, method)")
    unknown = set(shared) - {"namespaces", "labels", "method"}
    if unknown:
        raise FinOpsError(f"kof_cost_shared: unknown keys {sorted(unknown)} (namespaces, labels, method)")
    method = shared.get("method", "even")
    if method not in SHARE_METHODS:
        raise FinOpsError(f"kof_cost_shared.method must be even or weighted, not {method!r}")
    labels = shared.get("labels") or {}
    if not isinstance(labels, dict):
        raise FinOpsError("kof_cost_shared.labels must map a pod label key to its value")
    for k in labels:
        if not K8S_LABEL_RE.match(str(k)):
            raise FinOpsError(f"kof_cost_shared.labels: {k!r} is not a Kubernetes label key")
    return {"namespaces": [str(n) for n in shared.get("namespaces") or []],
            "labels": {str(k): str(v) for k, v in labels.items()}, "method": method}


def parse_prices(book, what="kof_cost_prices") -> dict | None:
    """A price book entry: {cpu: $/vCPU-h, ram: $/GiB-h, gpu: $/GPU-h, storage: $/GB-h}; empty = not set."""
    if not book:
        return None
    if not isinstance(book, dict):
        raise FinOpsError(f"{what} must be a mapping of cpu, ram, gpu, storage")
    out = {}
    for k in ("cpu", "ram", "gpu", "storage"):
        if k not in book:
            raise FinOpsError(f"{what}.{k} is missing (cpu: $/vCPU-h, ram: $/GiB-h, gpu: $/GPU-h, storage: $/GB-h)")
        out[k] = _amount(book[k], f"{what}.{k}")
    unknown = set(book) - set(out)
    if unknown:
        raise FinOpsError(f"{what}: unknown keys {sorted(unknown)} (cpu, ram, gpu, storage)")
    return out


def _amount(v, what) -> float:
    if isinstance(v, bool):
        raise FinOpsError(f"{what}: {v!r} is not a number")
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise FinOpsError(f"{what}: {v!r} is not a number")
    if math.isnan(x) or math.isinf(x) or x < 0:
        raise FinOpsError(f"{what}: {v!r} must be a number >= 0")
    return x


# ---------------------------------------------------------------------------------------------------- queries
def _re_escape(name: str) -> str:
    return re.sub(r"([.\\+*?()|\[\]{}^$])", r"\\\1", name)


def selector(label: str, clusters: list[str], job: str | None = None) -> str:
    m = [f'{label}=~"{"|".join(_re_escape(c) for c in sorted(clusters))}"']
    if job:
        m.append(f'job="{job}"')
    return "{" + ", ".join(m) + "}"


class Queries:
    """The PromQL for one chunk of clusters (plain PromQL: promxy parses it with Prometheus' engine)."""

    def __init__(self, label: str, clusters: list[str], job: str):
        self.cl = label
        self.f = selector(label, clusters)
        self.fj = selector(label, clusters, job)

    def _price(self, metric):
        return f"max by ({self.cl}, node) ({metric}{self.f})"

    def asset(self, r: str) -> str:
        cl, f = self.cl, self.f
        if r == "cpu":
            return (f"sum by ({cl}) (max by ({cl}, node) (kube_node_status_capacity_cpu_cores{f}) "
                    f"* on ({cl}, node) group_left() {self._price('node_cpu_hourly_cost')})")
        if r == "ram":
            return (f"sum by ({cl}) (max by ({cl}, node) (kube_node_status_capacity_memory_bytes{f}) / {GIB} "
                    f"* on ({cl}, node) group_left() {self._price('node_ram_hourly_cost')})")
        if r == "gpu":
            return (f"sum by ({cl}) (max by ({cl}, node) (node_gpu_count{f}) "
                    f"* on ({cl}, node) group_left() {self._price('node_gpu_hourly_cost')})")
        if r == "pv":
            return (f"sum by ({cl}) (max by ({cl}, persistentvolume) (kube_persistentvolume_capacity_bytes{f}) / {GIB} "
                    f"* on ({cl}, persistentvolume) group_left() "
                    f"max by ({cl}, persistentvolume) (pv_hourly_cost{f}))")
        if r == "lb":
            return f"sum by ({cl}) (max by ({cl}, namespace, service_name) (kubecost_load_balancer_cost{f}))"
        raise ValueError(r)

    def pod_cost(self, r: str) -> str:
        """$/h per (cluster, namespace, pod) for cpu, ram, gpu, pv."""
        cl, f = self.cl, self.f
        if r == "cpu":
            inner = f"container_cpu_allocation{f} * on ({cl}, node) group_left() {self._price('node_cpu_hourly_cost')}"
        elif r == "ram":
            inner = (f"container_memory_allocation_bytes{f} / {GIB} * on ({cl}, node) group_left() "
                     f"{self._price('node_ram_hourly_cost')}")
        elif r == "gpu":
            inner = f"container_gpu_allocation{f} * on ({cl}, node) group_left() {self._price('node_gpu_hourly_cost')}"
        elif r == "pv":
            inner = (f"pod_pvc_allocation{f} / {GIB} * on ({cl}, persistentvolume) group_left() "
                     f"max by ({cl}, persistentvolume) (pv_hourly_cost{f})")
        else:
            raise ValueError(r)
        return f"sum by ({cl}, namespace, pod) ({inner})"

    def alloc(self, r: str, labels: list[str]) -> str:
        """$/h per (cluster, namespace[, pod labels])."""
        cl = self.cl
        if r == "lb":
            base = f"sum by ({cl}, namespace) (max by ({cl}, namespace, service_name) (kubecost_load_balancer_cost{self.f}))"
            if not labels:
                return base
            ls = ", ".join(labels)
            return (f"sum by ({cl}, namespace, {ls}) ({base} * on ({cl}, namespace) group_left({ls}) "
                    f"max by ({cl}, namespace, {ls}) (kube_namespace_labels{self.fj}))")
        pod = self.pod_cost(r)
        if not labels:
            return f"sum by ({cl}, namespace) ({pod})"
        ls = ", ".join(labels)
        return (f"sum by ({cl}, namespace, {ls}) ({pod} * on ({cl}, namespace, pod) group_left({ls}) "
                f"max by ({cl}, namespace, pod, {ls}) (kube_pod_labels{self.fj}))")

    def label_cardinality(self, labels: list[str], window: int) -> str:
        ls = ", ".join([self.cl, "namespace"] + labels)
        return f"count(count by ({ls}) (last_over_time(kube_pod_labels{self.fj}[{window}s])))"


def integrate(expr: str, step: int) -> str:
    """Cost over each step ending at the evaluation time: the hourly rate summed at 1 h resolution."""
    return f"sum_over_time(({expr})[{step}s:1h])"


# ------------------------------------------------------------------------------------------------- the engine
class Engine:
    def __init__(self, source, *, kof_version="0.1.1", clusters: dict, group_by="cluster", period=None,
                 idle="separate", shared=None, currency="USD", job="kof-collectors-opencost",
                 retention_days=None, max_series=20000, max_clusters=100, now=None, compare=True):
        """``clusters``: the inventory's child clusters {name: region}."""
        import time as _time
        self.source = source
        self.now = float(now if now is not None else _time.time())
        self.label = cluster_label(kof_version)
        self.kof_version = str(kof_version)
        if not isinstance(clusters, dict) or not clusters:
            raise FinOpsError("no clusters: the inventory has no child cluster to report on")
        self.clusters = {str(k): str(v or "") for k, v in clusters.items()}
        self.group_by = parse_group_by(group_by)
        if idle not in IDLE_MODES:
            raise FinOpsError(f"kof_cost_idle must be separate, share or hide, not {idle!r}")
        self.idle = idle
        self.shared = parse_shared(shared)
        self.currency = check_currency(currency)
        self.period = parse_period(period if period is not None else {"days": 30}, self.now)
        if retention_days is None:
            retention_days = DEFAULT_RETENTION_DAYS["0" if self.label == "clusterName" else "1"]
        self.retention_days = _amount(retention_days, "kof_cost_retention_days")
        check_retention(self.period, self.now, self.retention_days)
        self.compare = compare
        self.job = job
        self.max_series = int(max_series)
        self.max_clusters = max(1, int(max_clusters))
        self.pod_labels = [g for g in self.group_by if g not in BUILTIN_GROUPS]
        self.fetch_labels = list(dict.fromkeys(
            [sanitize_label(k) for k in self.pod_labels] + [sanitize_label(k) for k in self.shared["labels"]]))
        self.stats = {"queries": 0, "max_series": 0, "chunks": 0}

    # -- bounded source access
    def _check(self, res, expr):
        self.stats["queries"] += 1
        self.stats["max_series"] = max(self.stats["max_series"], len(res))
        if len(res) > self.max_series:
            raise FinOpsError(f"a query returned {len(res)} series, more than the limit of {self.max_series}: "
                              f"{expr[:200]}")
        return res

    def _range(self, expr, start, end, step):
        return self._check(self.source.query_range(expr, start, end, step), expr)

    def _instant(self, expr, t):
        return self._check(self.source.query(expr, t), expr)

    def chunks(self) -> list[list[str]]:
        """Clusters split by region, then in chunks of at most max_clusters (sorted, so stable)."""
        by_region: dict[str, list[str]] = {}
        for c, r in sorted(self.clusters.items()):
            by_region.setdefault(r, []).append(c)
        out = []
        for r in sorted(by_region):
            cs = by_region[r]
            for i in range(0, len(cs), self.max_clusters):
                out.append(cs[i:i + self.max_clusters])
        return out

    def _split_by_cardinality(self, chunk, window, end) -> list[list[str]]:
        if not self.fetch_labels:
            return [chunk]
        q = Queries(self.label, chunk, self.job)
        res = self._instant(q.label_cardinality(self.fetch_labels, window), end)
        n = int(float(res[0]["value"][1])) if res else 0
        if n * len(RESOURCES) <= self.max_series or len(chunk) == 1:
            if n > self.max_series:
                raise FinOpsError(f"cluster {chunk[0]} alone has {n} label groups, more than the series limit "
                                  f"{self.max_series}")
            return [chunk]
        half = len(chunk) // 2
        return self._split_by_cardinality(chunk[:half], window, end) + \
            self._split_by_cardinality(chunk[half:], window, end)

    # -- data-quality gate
    def quality(self) -> dict:
        p = self.period
        win = p["end"] - p["start"]
        cl, end = self.label, p["end"]
        out = {"errors": [], "warnings": [], "missing": [], "partial": {}, "extra": [], "unpriced": {},
               "unlabelled_series": {}, "duplicates": {}}
        names = "|".join(("node_total_hourly_cost", "node_cpu_hourly_cost", "node_ram_hourly_cost",
                          "container_cpu_allocation", "container_memory_allocation_bytes", "pv_hourly_cost",
                          "pod_pvc_allocation", "kube_pod_labels", "kube_node_labels"))
        res = self._instant(f'count by (__name__) (last_over_time({{__name__=~"{names}", job="{self.job}", '
                            f'{cl}=""}}[{win}s]))', end)
        for r in res:
            out["unlabelled_series"][r["metric"].get("__name__", "?")] = int(float(r["value"][1]))
        if out["unlabelled_series"]:
            out["errors"].append(
                f"OpenCost series without the {cl} label (KOF {self.kof_version}): "
                + ", ".join(f"{k} ({v})" for k, v in sorted(out["unlabelled_series"].items()))
                + " - their cost belongs to no cluster; check global.clusterLabel / the collectors' external labels")
        present = {}
        for chunk in self.chunks():
            q = Queries(cl, chunk, self.job)
            for r in self._instant(f"count_over_time((max by ({cl}) (node_total_hourly_cost{q.f}))[{win}s:1h])", end):
                present[r["metric"].get(cl, "")] = int(float(r["value"][1]))
            for metric, what in (("node_total_hourly_cost", "node price"), ("kube_node_labels", "kube_node_labels")):
                sel = q.fj if metric == "kube_node_labels" else q.f
                e = (f"count by ({cl}) (max_over_time((count by ({cl}, node) ({metric}{sel}))[{win}s:1h]) > 1)")
                for r in self._instant(e, end):
                    c = r["metric"].get(cl, "")
                    out["duplicates"].setdefault(c, []).append(f"{int(float(r['value'][1]))} node(s) with duplicate "
                                                               f"{what} series")
            for r, price in (("cpu", "node_cpu_hourly_cost"), ("ram", "node_ram_hourly_cost")):
                metric = "container_cpu_allocation" if r == "cpu" else "container_memory_allocation_bytes"
                scale = "" if r == "cpu" else f" / {GIB}"
                e = (f"sum by ({cl}) (sum_over_time((sum by ({cl}) ({metric}{q.f}{scale} unless on ({cl}, node) "
                     f"{price}{q.f}))[{win}s:1h]))")
                for x in self._instant(e, end):
                    v = float(x["value"][1])
                    if v > 0:
                        out["unpriced"].setdefault(x["metric"].get(cl, ""), {})[r] = v
        for key in self.pod_labels:
            lab = sanitize_label(key)
            e = f'count(last_over_time(kube_pod_labels{{{cl}=~".+", job="{self.job}", {lab}!=""}}[{win}s]))'
            if not self._instant(e, end):
                out["errors"].append(f"kof_cost_group_by: no pod of any cluster carries the label {key!r} "
                                     f"({lab} in kube_pod_labels) in the period - a typo, or a label no team uses")
        for c, d in sorted(out["duplicates"].items()):
            out["errors"].append(f"{c}: " + "; ".join(d) + " (two OpenCost instances, or a cluster name used twice): "
                                 "its cost would be counted twice")
        hours = p["hours"]
        for c in sorted(self.clusters):
            n = present.get(c, 0)
            if n == 0:
                out["missing"].append(c)
            elif n < hours:
                out["partial"][c] = round(n / hours, 4)
        # every chunk's selector names inventory clusters only: look for the others once, fleet-wide but counted
        res = self._instant(f"count by ({cl}) (last_over_time(node_total_hourly_cost{{job=\"{self.job}\"}}[{win}s]))",
                            end) if len(self.clusters) <= self.max_series else []
        out["extra"] = sorted({r["metric"].get(cl, "") for r in res} - set(self.clusters) - {""})
        if out["missing"]:
            out["warnings"].append(f"no OpenCost data for the period from {len(out['missing'])} inventory cluster(s): "
                                   + ", ".join(out["missing"]) + " - listed as gaps, not counted as zero cost")
        for c, cov in sorted(out["partial"].items()):
            out["warnings"].append(f"{c}: OpenCost data for {cov:.0%} of the period's hours")
        for c, u in sorted(out["unpriced"].items()):
            out["warnings"].append(f"{c}: allocations on nodes without a price: "
                                   + ", ".join(f"{v:.2f} {'vCPU' if k == 'cpu' else 'GiB'}-h" for k, v in u.items()))
        if out["extra"]:
            out["warnings"].append("clusters with OpenCost data but not in the inventory (not reported): "
                                   + ", ".join(out["extra"]))
        out["ok"] = not out["errors"]
        return out

    # -- raw costs
    def _fetch(self, start, end, step):
        """{cluster: {'assets': {r: [per step]}, 'alloc': {(ns, labels...): {r: [per step]}}}} over (start, end]."""
        n = (end - start) // step
        times = [start + (i + 1) * step for i in range(n)]
        idx = {t: i for i, t in enumerate(times)}
        data: dict[str, dict] = {}
        cl = self.label

        def vec(d, key, r):
            return d.setdefault(key, {}).setdefault(r, [0.0] * n)

        def add(res, fn):
            for s in res:
                m = s["metric"]
                c = m.get(cl, "")
                if c not in self.clusters:
                    continue
                target = fn(data.setdefault(c, {"assets": {}, "alloc": {}, "ns_alloc": {}}), m)
                for t, v in s.get("values") or [s["value"]]:
                    i = idx.get(int(float(t)))
                    if i is not None:
                        fv = float(v)
                        if not math.isnan(fv):
                            target[i] += fv
        window = end - start
        for chunk in self.chunks():
            for sub in self._split_by_cardinality(chunk, window, end):
                self.stats["chunks"] += 1
                q = Queries(cl, sub, self.job)
                for r in RESOURCES:
                    add(self._range(integrate(q.asset(r), step), times[0], times[-1], step),
                        lambda d, m, r=r: d["assets"].setdefault(r, [0.0] * n))
                    add(self._range(integrate(q.alloc(r, []), step), times[0], times[-1], step),
                        lambda d, m, r=r: vec(d["ns_alloc"], m.get("namespace", ""), r))
                    if self.fetch_labels:
                        add(self._range(integrate(q.alloc(r, self.fetch_labels), step), times[0], times[-1], step),
                            lambda d, m, r=r: vec(d["alloc"], (m.get("namespace", ""),) +
                                                  tuple(m.get(x, NONE_VALUE) for x in self.fetch_labels), r))
        # the labelled split: per namespace, what the label join did not attribute goes to "no label"
        for c, d in data.items():
            if not self.fetch_labels:
                d["alloc"] = {(ns,): v for ns, v in d["ns_alloc"].items()}
                continue
            for ns, rv in d["ns_alloc"].items():
                none_key = (ns,) + (NONE_VALUE,) * len(self.fetch_labels)
                for r, vals in rv.items():
                    lab = [0.0] * n
                    for k, kv in d["alloc"].items():
                        if k[0] == ns and k != none_key and r in kv:
                            lab = [a + b for a, b in zip(lab, kv[r])]
                    rest = [max(a - b, 0.0) for a, b in zip(vals, lab)]
                    have = d["alloc"].get(none_key, {}).get(r)
                    if any(x > 1e-9 for x in rest) or have:
                        d["alloc"].setdefault(none_key, {})[r] = rest
        return times, data

    # -- allocation (idle, shared, grouping)
    def _group_key(self, cluster: str, key: tuple) -> tuple:
        ns = key[0]
        labels = dict(zip(self.fetch_labels, key[1:]))
        out = []
        for g in self.group_by:
            if g == "cluster":
                out.append(cluster)
            elif g == "region":
                out.append(self.clusters.get(cluster) or "(no region)")
            elif g == "namespace":
                out.append(ns)
            else:
                out.append(labels.get(sanitize_label(g), NONE_VALUE))
        return tuple(out)

    def _is_shared(self, key: tuple) -> bool:
        if key[0] in self.shared["namespaces"]:
            return True
        labels = dict(zip(self.fetch_labels, key[1:]))
        return any(labels.get(sanitize_label(k)) == v for k, v in self.shared["labels"].items())

    def allocate(self, times, data) -> dict:
        """{group key: {cpu, ram, gpu, pv, lb, idle, shared: [per step]}} plus per-cluster facts."""
        n = len(times)
        cols = RESOURCES + ("idle", "shared")
        groups: dict[tuple, dict] = {}
        clusters = {}

        def gvec(k):
            return groups.setdefault(k, {c: [0.0] * n for c in cols})
        special_len = len(self.group_by)
        idle_key = (IDLE_KEY,) * special_len
        shared_key = (SHARED_KEY,) * special_len
        for c, d in sorted(data.items()):
            assets = {r: d["assets"].get(r, [0.0] * n) for r in RESOURCES}
            alloc_tot = {r: [0.0] * n for r in RESOURCES}
            for k, rv in d["alloc"].items():
                for r, vals in rv.items():
                    alloc_tot[r] = [a + b for a, b in zip(alloc_tot[r], vals)]
            idle = {r: [max(a - b, 0.0) for a, b in zip(assets[r], alloc_tot[r])] for r in RESOURCES}
            clusters[c] = {"region": self.clusters.get(c, ""),
                           "assets": {r: sum(v) for r, v in assets.items()},
                           "allocated": {r: sum(v) for r, v in alloc_tot.items()},
                           "idle": {r: sum(v) for r, v in idle.items()},
                           "daily": [sum(assets[r][i] for r in RESOURCES) for i in range(n)]}
            for i in range(n):
                # records of this cluster and step
                recs = []
                for k, rv in d["alloc"].items():
                    vals = {r: rv.get(r, [0.0] * n)[i] for r in RESOURCES}
                    recs.append([k, vals, sum(vals.values()), 0.0])  # key, by resource, allocated, idle share
                idle_i = sum(idle[r][i] for r in RESOURCES)
                alloc_i = sum(rec[2] for rec in recs)
                if self.idle == "share" and alloc_i > 0:
                    for rec in recs:
                        rec[3] = idle_i * rec[2] / alloc_i
                elif self.idle in ("separate", "share") and idle_i > 0:
                    gvec(idle_key)["idle"][i] += idle_i  # separate, or nobody in the cluster to share it
                # shared records out, onto the other groups of this cluster and step
                shared_amt = 0.0
                tenants: dict[tuple, float] = {}
                for k, vals, a, ish in recs:
                    if self._is_shared(k):
                        shared_amt += a + ish
                        continue
                    gk = self._group_key(c, k)
                    g = gvec(gk)
                    for r in RESOURCES:
                        g[r][i] += vals[r]
                    g["idle"][i] += ish
                    tenants[gk] = tenants.get(gk, 0.0) + a + ish
                if shared_amt > 0:
                    live = {k: v for k, v in tenants.items() if v > 0}
                    if not live:
                        gvec(shared_key)["shared"][i] += shared_amt
                    elif self.shared["method"] == "even":
                        for k in live:
                            gvec(k)["shared"][i] += shared_amt / len(live)
                    else:
                        tot = sum(live.values())
                        for k, v in live.items():
                            gvec(k)["shared"][i] += shared_amt * v / tot
        return {"groups": groups, "clusters": clusters}

    # -- the report
    def _totals_by_group(self, start, end, step):
        times, data = self._fetch(start, end, step)
        return self.allocate(times, data)

    def run(self, quality: dict | None = None) -> dict:
        p = self.period
        q = quality if quality is not None else self.quality()
        if not q["ok"]:
            raise FinOpsError("data-quality gate: " + "; ".join(q["errors"]))
        times, data = self._fetch(p["start"], p["end"], p["step"])
        cur = self.allocate(times, data)
        prev_groups, prev_clusters = {}, {}
        if self.compare:
            pv = p["previous"]
            if pv["start"] >= self.now - self.retention_days * DAY:
                pr = self._totals_by_group(pv["start"], pv["end"], p["step"])
                prev_groups = {k: sum(sum(v) for v in g.values()) for k, g in pr["groups"].items()}
                prev_clusters = {c: sum(x["assets"].values()) for c, x in pr["clusters"].items()}
        return self._result(times, cur, prev_groups, prev_clusters, q)

    def _result(self, times, cur, prev_groups, prev_clusters, q) -> dict:
        cols = RESOURCES + ("idle", "shared")
        rows = []
        for k, g in cur["groups"].items():
            row = {"group": dict(zip(self.group_by, k)), "key": k}
            for c in cols:
                row[c] = sum(g[c])
            row["total"] = sum(row[c] for c in cols)
            row["daily"] = [sum(g[c][i] for c in cols) for i in range(len(times))]
            row["previous"] = prev_groups.get(k, 0.0) if prev_groups else None
            row["change"] = _change(row["total"], row["previous"])
            row["kind"] = "idle" if k[0] == IDLE_KEY else "shared" if k[0] == SHARED_KEY else \
                "unallocated" if any(x == NONE_VALUE for g2, x in zip(self.group_by, k) if g2 not in BUILTIN_GROUPS) \
                else "group"
            rows.append(row)
        rows.sort(key=lambda r: (r["kind"] != "group", -r["total"], r["key"]))
        for r in rows:
            r["name"] = display(r["key"], self.group_by)
            r.pop("key")
        totals = {c: sum(r[c] for r in rows) for c in cols}
        totals["total"] = sum(totals[c] for c in cols)
        prev_total = sum(prev_groups.values()) if prev_groups else None
        totals["previous"] = prev_total
        totals["change"] = _change(totals["total"], prev_total)
        clusters = []
        for c in sorted(self.clusters):
            x = cur["clusters"].get(c)
            entry = {"cluster": c, "region": self.clusters[c], "missing": c in q["missing"]}
            if x:
                a = sum(x["assets"].values())
                entry.update({"total": a, "assets": x["assets"], "allocated": sum(x["allocated"].values()),
                              "idle": sum(x["idle"].values()), "idle_share": (sum(x["idle"].values()) / a) if a else 0,
                              "daily": x["daily"], "previous": prev_clusters.get(c),
                              "change": _change(a, prev_clusters.get(c))})
            clusters.append(entry)
        p = self.period
        return {
            "meta": {"period": {"start": iso(p["start"]), "end": iso(p["end"]), "label": p["label"],
                                "hours": p["hours"], "step": p["step"]},
                     "previous": {"start": iso(p["previous"]["start"]), "end": iso(p["previous"]["end"])}
                     if self.compare else None,
                     "currency": self.currency, "group_by": self.group_by, "idle": self.idle,
                     "shared": self.shared, "kof_version": self.kof_version, "cluster_label": self.label,
                     "clusters": len(self.clusters), "queries": self.stats["queries"],
                     "max_series_per_query": self.stats["max_series"], "series_limit": self.max_series,
                     "chunks": self.stats["chunks"]},
            "days": [iso(t) for t in times],
            "rows": rows, "totals": totals, "clusters": clusters, "quality": q,
        }


def _change(cur, prev):
    if prev is None:
        return None
    if prev == 0:
        return None if cur == 0 else float("inf")
    return (cur - prev) / prev


def display(key, group_by) -> str:
    if key and key[0] == IDLE_KEY:
        return "(idle)"
    if key and key[0] == SHARED_KEY:
        return "(shared, not distributed)"
    parts = []
    for g, v in zip(group_by, key):
        parts.append(v if v != NONE_VALUE else f"(no {g})")
    return " / ".join(parts)


# ------------------------------------------------------------------------------------------- the price book check
def price_check(source, *, kof_version, book: dict, at: float, job="kof-collectors-opencost",
                max_clusters=100, tolerance=1e-9) -> dict:
    """Do the node and volume price series equal the book? ``book``: {cluster: {cpu, ram, gpu, storage}}.
    Returns {cluster: {resource: {book, min, max, ok}}, ...} and ``ok``."""
    label = cluster_label(kof_version)
    out, ok = {}, True
    names = sorted(book)
    metrics = {"cpu": "node_cpu_hourly_cost{F}", "ram": "node_ram_hourly_cost{F}",
               "gpu": "(node_gpu_hourly_cost{F} and on (%s, node) node_gpu_count{F} > 0)" % label,
               "storage": "pv_hourly_cost{F}"}
    for i in range(0, len(names), max_clusters):
        chunk = names[i:i + max_clusters]
        f = selector(label, chunk)
        seen = {}
        for r, m in metrics.items():
            e = m.replace("{F}", f)
            for agg in ("min", "max"):
                for s in source.query(f"{agg} by ({label}) (last_over_time(({e})[1h:5m]))", at):
                    seen.setdefault(s["metric"].get(label, ""), {}).setdefault(r, {})[agg] = float(s["value"][1])
        for c in chunk:
            want = book[c]
            res = {}
            for r in metrics:
                got = seen.get(c, {}).get(r)
                if got is None:
                    res[r] = {"book": want.get(r), "min": None, "max": None,
                              "ok": r == "gpu"}  # no GPU node: nothing to compare
                    continue
                good = abs(got["min"] - want[r]) <= tolerance and abs(got["max"] - want[r]) <= tolerance
                res[r] = {"book": want[r], "min": got["min"], "max": got["max"], "ok": good}
            if c not in seen:
                res["error"] = "no price series"
            out[c] = res
            ok = ok and all(v["ok"] for k, v in res.items() if k != "error") and c in seen
    return {"clusters": out, "ok": ok}
