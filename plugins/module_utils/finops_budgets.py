# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Budgets (``kof_budgets``) to alert rules, evaluated by the management cluster's rule engine through promxy.

A budget: ``{name, team | namespace | cluster | label: {key: value}, amount, thresholds, forecast, burn_rate,
labels}``; ``amount`` is monthly in ``kof_cost_currency``. Per budget:

- ``KofBudgetSpend_<name>_<pct>`` per threshold: the month-to-date spend reached pct % of the amount;
- ``KofBudgetBurnRate_<name>``: at the rate of the last ``burn_rate.window`` the month would cost more than
  ``burn_rate.factor`` x the amount;
- ``KofBudgetForecast_<name>`` (``forecast: true``): linear forecast from the month so far (its average hourly
  rate x the hours of the month) above the amount.

Plain PromQL (promxy parses it with Prometheus' engine; vmalert accepts it as MetricsQL). The month so far is
computed without a per-month window: inside a 31-day subquery every hourly point is labelled with the month its
hour belongs to (the month of t - 1h, so the point at 00:00 on the 1st closes the previous month) and only the
points of the current month are kept (``and on (month)``). Times are UTC.

Scopes: a label or namespace budget counts its pods' allocated CPU, RAM, GPU and volumes (a namespace budget also
its load balancers); a cluster budget counts the cluster's assets (nodes, volumes, load balancers), idle included.

KOF 0.1.1: a ``VMRule`` in the KOF namespace (the mothership's VMAlert selects all VMRules and queries promxy).
KOF 1.x: promxy executes the rules: ``kof-mothership`` values ``defaultAlertRules.<group>.<alert>``.
"""
from __future__ import annotations

import math
import re

try:
    from ansible_collections.k0rdent.kof.plugins.module_utils.finops import (
        FinOpsError, GIB, K8S_LABEL_RE, cluster_label, check_currency, sanitize_label)
except ImportError:  # pragma: no cover
    from finops import FinOpsError, GIB, K8S_LABEL_RE, cluster_label, check_currency, sanitize_label  # type: ignore

GROUP = "kof-finops-budgets"
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$")
DURATION_RE = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
SCOPES = ("team", "namespace", "cluster", "label")


def _num(v, what, minimum=0.0, strict=False):
    if isinstance(v, bool):
        raise FinOpsError(f"{what}: {v!r} is not a number")
    try:
        x = float(str(v).strip().rstrip("%")) / (100 if isinstance(v, str) and v.strip().endswith("%") else 1)
    except (TypeError, ValueError):
        raise FinOpsError(f"{what}: {v!r} is not a number")
    if math.isnan(x) or math.isinf(x) or x < minimum or (strict and x <= minimum):
        raise FinOpsError(f"{what}: {v!r} must be a number {'>' if strict else '>='} {minimum:g}")
    return x


def parse_budgets(budgets, currency="USD") -> list[dict]:
    check_currency(currency)
    if budgets in (None, ""):
        return []
    if not isinstance(budgets, list):
        raise FinOpsError("kof_budgets must be a list of budgets")
    out, names = [], set()
    for i, b in enumerate(budgets):
        where = f"kof_budgets[{i}]"
        if not isinstance(b, dict):
            raise FinOpsError(f"{where} must be a mapping")
        unknown = set(b) - {"name", "amount", "thresholds", "forecast", "burn_rate", "labels", "for", "currency"} \
            - set(SCOPES)
        if unknown:
            raise FinOpsError(f"{where}: unknown keys {sorted(unknown)}")
        scopes = [s for s in SCOPES if s in b]
        if len(scopes) != 1:
            raise FinOpsError(f"{where}: name exactly one of team, namespace, cluster or label (has {scopes or 'none'})")
        scope = scopes[0]
        if scope == "label":
            lab = b["label"]
            if not isinstance(lab, dict) or len(lab) != 1:
                raise FinOpsError(f"{where}.label must be one pod label {{key: value}}")
            key, value = next(iter(lab.items()))
        else:
            key, value = ("team" if scope == "team" else scope), b[scope]
        key, value = str(key), str(value)
        if not K8S_LABEL_RE.match(key) or not value or '"' in value or "\\" in value:
            raise FinOpsError(f"{where}: {key}={value!r} is not a label and value to budget")
        name = str(b.get("name") or f"{scope}-{value}").lower()
        if not NAME_RE.match(name):
            raise FinOpsError(f"{where}.name {name!r}: lower-case letters, digits, '-' and '_' only")
        if name in names:
            raise FinOpsError(f"{where}.name {name!r} is used twice")
        names.add(name)
        if "amount" not in b:
            raise FinOpsError(f"{where} ({name}): amount (monthly, {currency}) is required")
        amount = _num(b["amount"], f"{where} ({name}).amount", strict=True)
        if b.get("currency") not in (None, "") and check_currency(b["currency"]) != check_currency(currency):
            raise FinOpsError(f"{where} ({name}).currency {b['currency']} differs from kof_cost_currency {currency}: "
                              "OpenCost's prices are in one currency, no conversion is made")
        ths = b.get("thresholds", [0.8, 1.0])
        if not isinstance(ths, list) or not ths:
            raise FinOpsError(f"{where} ({name}).thresholds must be a non-empty list (0.8, '80%', 1.0)")
        thresholds = sorted({round(_num(t, f"{where} ({name}).thresholds", strict=True), 6) for t in ths})
        burn = b.get("burn_rate", {})
        burn = {"enabled": False} if burn is False else (burn or {})
        if not isinstance(burn, dict):
            raise FinOpsError(f"{where} ({name}).burn_rate must be a mapping (window, factor) or false")
        window = str(burn.get("window", "1d"))
        if not DURATION_RE.match(window):
            raise FinOpsError(f"{where} ({name}).burn_rate.window {window!r} is not a duration (6h, 1d)")
        for_ = str(b.get("for", "1h"))
        if not DURATION_RE.match(for_) and for_ != "0s":
            raise FinOpsError(f"{where} ({name}).for {for_!r} is not a duration")
        labels = b.get("labels") or {}
        if not isinstance(labels, dict) or any(not re.match(r"^[a-zA-Z_][a-zA-Z0-9_]*$", str(k)) for k in labels):
            raise FinOpsError(f"{where} ({name}).labels must map alert label names to values")
        routing = {"team": value} if scope == "team" else {}
        routing.update({str(k): str(v) for k, v in labels.items()})
        out.append({"name": name, "scope": scope, "key": key, "value": value, "amount": amount,
                    "thresholds": thresholds, "forecast": bool(b.get("forecast", True)),
                    "burn_rate": {"enabled": burn.get("enabled", True) is not False, "window": window,
                                  "factor": _num(burn.get("factor", 1.0), f"{where} ({name}).burn_rate.factor",
                                                 strict=True)},
                    "for": for_, "labels": routing, "currency": check_currency(currency)})
    return out


def rate_expr(b: dict, label: str, job="kof-collectors-opencost") -> str:
    """The budget scope's cost in $/h, one series without labels (0 when nothing runs)."""
    cl = label
    f = f'{{{cl}=~".+"}}'
    fj = f'{{{cl}=~".+", job="{job}"}}'

    def price(m):
        return f"max by ({cl}, node) ({m}{f})"
    pv_price = f"max by ({cl}, persistentvolume) (pv_hourly_cost{f})"
    if b["scope"] == "cluster":
        c = f'{{{cl}="{b["value"]}"}}'
        parts = [
            f"max by ({cl}, node) (kube_node_status_capacity_cpu_cores{c}) * on ({cl}, node) group_left() "
            f"max by ({cl}, node) (node_cpu_hourly_cost{c})",
            f"max by ({cl}, node) (kube_node_status_capacity_memory_bytes{c}) / {GIB} * on ({cl}, node) "
            f"group_left() max by ({cl}, node) (node_ram_hourly_cost{c})",
            f"max by ({cl}, node) (node_gpu_count{c}) * on ({cl}, node) group_left() "
            f"max by ({cl}, node) (node_gpu_hourly_cost{c})",
            f"max by ({cl}, persistentvolume) (kube_persistentvolume_capacity_bytes{c}) / {GIB} "
            f"* on ({cl}, persistentvolume) group_left() max by ({cl}, persistentvolume) (pv_hourly_cost{c})",
            f"max by ({cl}, namespace, service_name) (kubecost_load_balancer_cost{c})",
        ]
    else:
        if b["scope"] == "namespace":
            sel = f'{{{cl}=~".+", namespace="{b["value"]}"}}'
            pods = ""
        else:
            sel = f
            pods = (f' * on ({cl}, namespace, pod) group_left() max by ({cl}, namespace, pod) '
                    f'(kube_pod_labels{{{cl}=~".+", job="{job}", {sanitize_label(b["key"])}="{b["value"]}"}})')
        per_pod = [
            f"container_cpu_allocation{sel} * on ({cl}, node) group_left() {price('node_cpu_hourly_cost')}",
            f"container_memory_allocation_bytes{sel} / {GIB} * on ({cl}, node) group_left() "
            f"{price('node_ram_hourly_cost')}",
            f"container_gpu_allocation{sel} * on ({cl}, node) group_left() {price('node_gpu_hourly_cost')}",
            f"pod_pvc_allocation{sel} / {GIB} * on ({cl}, persistentvolume) group_left() {pv_price}",
        ]
        parts = [f"sum by ({cl}, namespace, pod) ({p}){pods}" for p in per_pod]
        if b["scope"] == "namespace":
            parts.append(f"max by ({cl}, namespace, service_name) (kubecost_load_balancer_cost{sel})")
        del fj
    return " + ".join(f"(sum({p}) or vector(0))" for p in parts)


def month_mask(shift="3600") -> str:
    """One series {month="<1..12>"} of value 1: the month of the hour ending at the evaluation time."""
    t = f"vector(time() - {shift})"
    return "(" + " or ".join(f'label_replace(vector(1) and on () (month({t}) == {m}), "month", "{m}", "", "")'
                             for m in range(1, 13)) + ")"


def month_to_date(rate: str, fn="sum_over_time") -> str:
    m = month_mask()
    return f"({fn}((({rate}) * on () group_left (month) {m})[31d:1h]) and on (month) {m})"


def hours_in_month() -> str:
    return "24 * scalar(days_in_month(vector(time() - 3600)))"


def _fmt(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".")


def rules(budgets: list[dict], kof_version="0.1.1", job="kof-collectors-opencost") -> list[dict]:
    """Prometheus-format alerting rules (alert, expr, for, labels, annotations) for every budget."""
    label = cluster_label(kof_version)
    out = []
    for b in budgets:
        r = rate_expr(b, label, job)
        scope = f"{b['key']}={b['value']}" if b["scope"] != "cluster" else f"cluster {b['value']}"
        base = dict(b["labels"], budget=b["name"], kof_budget_scope=b["scope"])
        cur = b["currency"]
        ident = re.sub(r"[^a-zA-Z0-9_]", "_", b["name"])
        for t in b["thresholds"]:
            pct = f"{t * 100:g}"
            out.append({
                "alert": f"KofBudgetSpend_{ident}_{pct.replace('.', '_')}",
                "expr": f"{month_to_date(r)} >= {_fmt(t * b['amount'])}",
                "for": "0s",
                "labels": dict(base, severity="critical" if t >= 1 else "warning", threshold=f"{pct}%"),
                "annotations": {
                    "summary": f"Budget {b['name']} ({scope}): {pct}% of {_fmt(b['amount'])} {cur} spent this month",
                    "description": "Month-to-date spend {{ $value | printf \"%.2f\" }} " + cur
                                   + f" of a monthly budget of {_fmt(b['amount'])} {cur} (OpenCost allocation)."}})
        if b["burn_rate"]["enabled"]:
            w, k = b["burn_rate"]["window"], b["burn_rate"]["factor"]
            out.append({
                "alert": f"KofBudgetBurnRate_{ident}",
                "expr": f"avg_over_time(({r})[{w}:1h]) * {hours_in_month()} > {_fmt(k * b['amount'])}",
                "for": b["for"],
                "labels": dict(base, severity="warning", window=w),
                "annotations": {
                    "summary": f"Budget {b['name']} ({scope}): burning faster than {_fmt(b['amount'])} {cur}/month",
                    "description": f"At the rate of the last {w} the month would cost " + "{{ $value | printf \"%.2f\" }} "
                                   + f"{cur}, budget {_fmt(b['amount'])} {cur}."}})
        if b["forecast"]:
            out.append({
                "alert": f"KofBudgetForecast_{ident}",
                "expr": f"{month_to_date(r, 'avg_over_time')} * {hours_in_month()} > {_fmt(b['amount'])}",
                "for": b["for"],
                "labels": dict(base, severity="warning"),
                "annotations": {
                    "summary": f"Budget {b['name']} ({scope}): end-of-month forecast above {_fmt(b['amount'])} {cur}",
                    "description": "Linear forecast from the month so far: {{ $value | printf \"%.2f\" }} "
                                   + f"{cur} (budget {_fmt(b['amount'])} {cur})."}})
    return out


def rule_group(budgets, kof_version="0.1.1", interval="5m", job="kof-collectors-opencost") -> dict:
    return {"name": GROUP, "interval": interval, "rules": rules(budgets, kof_version, job)}


def vmrule(budgets, namespace="kof", kof_version="0.1.1", interval="5m", job="kof-collectors-opencost") -> dict:
    """KOF 0.1.1: the VMRule the mothership's VMAlert (selectAllByDefault) picks up."""
    return {"apiVersion": "operator.victoriametrics.com/v1beta1", "kind": "VMRule",
            "metadata": {"name": GROUP, "namespace": namespace,
                         "labels": {"app.kubernetes.io/managed-by": "k0rdent.kof",
                                    "app.kubernetes.io/component": "finops-budgets"}},
            "spec": {"groups": [rule_group(budgets, kof_version, interval, job)] if budgets else []}}


def mothership_values(budgets, kof_version="1.10.0", job="kof-collectors-opencost") -> dict:
    """KOF 1.x: kof-mothership values ``defaultAlertRules.<group>.<alert>`` (promxy executes them)."""
    group = {}
    for r in rules(budgets, kof_version, job):
        group[r["alert"]] = {k: v for k, v in r.items() if k != "alert"}
    return {"defaultAlertRules": {GROUP: group}} if group else {}
