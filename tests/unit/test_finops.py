"""The cost engine's pure parts: periods, inputs, queries, allocation, budgets (no VictoriaMetrics here)."""
import calendar

import pytest

from ansible_collections.k0rdent.kof.plugins.module_utils import finops, finops_budgets as fb, finops_report

NOW = calendar.timegm((2026, 3, 15, 10, 30, 0))


def test_periods():
    p = finops.parse_period({"days": 7}, NOW)
    assert (p["end"] - p["start"], p["step"], p["end"] % 86400) == (7 * 86400, 86400, 0)
    assert p["previous"] == {"start": p["start"] - 7 * 86400, "end": p["start"]}
    m = finops.parse_period({"month": "previous"}, NOW)
    assert finops.iso(m["start"]) == "2026-02-01T00:00:00Z" and finops.iso(m["end"]) == "2026-03-01T00:00:00Z"
    c = finops.parse_period("current", NOW)
    assert finops.iso(c["end"]) == "2026-03-15T10:00:00Z" and c["step"] == 3600
    assert finops.parse_period("last 3 days", NOW)["hours"] == 72
    assert finops.parse_period({"start": "2026-03-01", "end": "2026-03-02T06:00:00Z"}, NOW)["step"] == 3600
    for bad, msg in (({"days": 0}, "at least 1"), ({"start": "2026-03-01"}, "both start and end"),
                     ({"month": "2026-13"}, "not YYYY-MM"), ({"start": "2026-03-01T00:30:00Z", "end": "2026-03-02"},
                                                             "whole hours"),
                     ({"days": 3, "weeks": 1}, "unknown keys"), ({"start": "2026-04-01", "end": "2026-04-02"}, "future"),
                     ("soon", "not a period")):
        with pytest.raises(finops.FinOpsError, match=msg):
            finops.parse_period(bad, NOW)
    with pytest.raises(finops.FinOpsError, match="retention of 30 days"):
        finops.check_retention(finops.parse_period({"days": 45}, NOW), NOW, 30)


def test_inputs():
    assert finops.cluster_label("0.1.1") == "clusterName" and finops.cluster_label("v1.10.0") == "cluster"
    assert finops.parse_group_by(["cluster", "label:cost-center"]) == ["cluster", "cost-center"]
    assert finops.sanitize_label("app.kubernetes.io/part-of") == "label_app_kubernetes_io_part_of"
    for bad in ("", ["team", "team"], "bad label!"):
        with pytest.raises(finops.FinOpsError):
            finops.parse_group_by(bad)
    assert finops.check_currency("eur") == "EUR"
    with pytest.raises(finops.FinOpsError, match="ISO 4217"):
        finops.check_currency("EURO")
    with pytest.raises(finops.FinOpsError, match="storage is missing"):
        finops.parse_prices({"cpu": 1, "ram": 1, "gpu": 1})
    with pytest.raises(finops.FinOpsError, match=">= 0"):
        finops.parse_prices({"cpu": -1, "ram": 1, "gpu": 1, "storage": 1})
    with pytest.raises(finops.FinOpsError, match="even or weighted"):
        finops.parse_shared({"method": "fair"})


def test_queries_are_plain_promql_and_bounded_by_cluster():
    q = finops.Queries("clusterName", ["a.b", "c"], "kof-collectors-opencost")
    e = q.alloc("cpu", ["label_team"])
    assert 'clusterName=~"a\\.b|c"' in e and "group_left(label_team)" in e and 'job="kof-collectors-opencost"' in e
    assert "max by (clusterName, node) (node_cpu_hourly_cost" in e  # duplicates on the price side never match twice
    assert finops.integrate("x", 86400) == "sum_over_time((x)[86400s:1h])"


class Fake:
    """A source answering range queries from canned per-cluster values (one step)."""

    def __init__(self, t):
        self.t = t

    def query(self, expr, at):
        return []

    def query_range(self, expr, start, end, step):
        cl = "clusterName"
        if expr.startswith("sum_over_time((sum by (clusterName) (max by (clusterName, node) (kube_node_status_capacity_cpu"):
            return [{"metric": {cl: "c1"}, "values": [[self.t, "100"]]}]
        if "container_cpu_allocation" in expr and "label_team" not in expr:
            return [{"metric": {cl: "c1", "namespace": "a"}, "values": [[self.t, "30"]]},
                    {"metric": {cl: "c1", "namespace": "b"}, "values": [[self.t, "10"]]},
                    {"metric": {cl: "c1", "namespace": "kube-system"}, "values": [[self.t, "20"]]}]
        return []


@pytest.mark.parametrize("idle,method,expect", [
    ("separate", "even", {"a": 40.0, "b": 20.0, "(idle)": 40.0}),
    ("share", "weighted", {"a": 75.0, "b": 25.0}),   # idle 40 shared 30:10:20, then kube-system's 33.3 by 50:16.7
    ("hide", "even", {"a": 40.0, "b": 20.0}),
])
def test_allocation_idle_and_shared(idle, method, expect):
    end = calendar.timegm((2026, 3, 15, 0, 0, 0))
    e = finops.Engine(Fake(end), clusters={"c1": "r1"}, group_by="namespace", idle=idle, period={"days": 1},
                      shared={"namespaces": ["kube-system"], "method": method}, now=end + 60, compare=False)
    rep = e.run(quality={"ok": True, "missing": [], "errors": [], "warnings": []})
    got = {r["name"]: round(r["total"], 6) for r in rep["rows"]}
    assert got == {k: round(v, 6) for k, v in expect.items()}
    assert round(rep["totals"]["total"], 6) == (60.0 if idle == "hide" else 100.0)
    md = finops_report.markdown(rep)
    assert "| a |" in md and "**total**" in md


def test_budgets_parse_and_rules():
    b = fb.parse_budgets([{"team": "alpha", "amount": "1200", "thresholds": ["80%", 1]},
                          {"namespace": "shop", "amount": 10, "forecast": False, "burn_rate": False},
                          {"label": {"cost-center": "cc-1"}, "amount": 5, "labels": {"receiver": "fin"}}], "EUR")
    assert b[0]["thresholds"] == [0.8, 1.0] and b[0]["labels"] == {"team": "alpha"}
    rules = fb.rules(b, "0.1.1")
    names = [r["alert"] for r in rules]
    assert names == ["KofBudgetSpend_team_alpha_80", "KofBudgetSpend_team_alpha_100", "KofBudgetBurnRate_team_alpha",
                     "KofBudgetForecast_team_alpha", "KofBudgetSpend_namespace_shop_80",
                     "KofBudgetSpend_namespace_shop_100", "KofBudgetSpend_label_cc_1_80",
                     "KofBudgetSpend_label_cc_1_100", "KofBudgetBurnRate_label_cc_1", "KofBudgetForecast_label_cc_1"]
    assert ">= 960" in rules[0]["expr"] and "label_team=\"alpha\"" in rules[0]["expr"]
    assert 'label_cost_center="cc-1"' in rules[-1]["expr"] and rules[-1]["labels"]["receiver"] == "fin"
    assert all("clusterName" in r["expr"] for r in rules)
    assert "cluster=~" in fb.rules(b, "1.2.0")[0]["expr"]
    for bad, msg in (([{"team": "a", "amount": -5}], "must be a number > 0"),
                     ([{"team": "a", "amount": "lots"}], "not a number"),
                     ([{"team": "a"}], "amount .* is required"),
                     ([{"team": "a", "cluster": "b", "amount": 1}], "exactly one"),
                     ([{"team": "a", "amount": 1}, {"team": "a", "amount": 2}], "used twice"),
                     ([{"team": "a", "amount": 1, "currency": "USD"}], "differs from kof_cost_currency"),
                     ([{"team": "a", "amount": True}], "not a number")):
        with pytest.raises(finops.FinOpsError, match=msg):
            fb.parse_budgets(bad, "EUR")
    with pytest.raises(finops.FinOpsError, match="ISO 4217"):
        fb.parse_budgets([], "XYZ")
