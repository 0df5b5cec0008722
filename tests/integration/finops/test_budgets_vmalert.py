"""Budget rules evaluated by real vmalert (v1.151.0, replay mode) over the session's VictoriaMetrics data:
exactly the budgets the hand computation puts over their thresholds fire."""
import calendar
import os
import time

import yaml

import kofvm
from ansible_collections.k0rdent.kof.plugins.module_utils import finops_budgets as fb

H = 3600


def rates(fv, scope, value):
    """$/h of a budget scope at every hourly point j (0..720), by hand from the fleet's description."""
    out = [0.0] * 721
    for c in fv.clusters:
        if scope == "cluster" and c["name"] != value:
            continue
        for j0, j1 in ((0, 360), (361, 720)):
            e = kofvm.expected(c, j1 - 1, j1)  # one point of the regime
            if scope == "cluster":
                r = e["total"]
            else:
                r = sum(p["cpu"] + p["ram"] + p["gpu"] + p["pv"] for p in e["pods"]
                        if (p["labels"].get("team") == value if scope == "team" else p["namespace"] == value))
                if scope == "namespace":
                    r += e["lb_by_namespace"].get(value, 0.0)
            for j in range(j0, j1 + 1):
                out[j] += r
    return out


def figures(fv, scope, value):
    """Month-to-date spend, burn-rate projection (last 1d) and linear forecast at the end of the data."""
    r = rates(fv, scope, value)
    t_end = fv.end
    month = time.gmtime(t_end - H).tm_mon
    pts = [j for j in range(721) if time.gmtime(fv.start + j * H - H).tm_mon == month]
    g = time.gmtime(t_end - H)
    hours = 24 * calendar.monthrange(g.tm_year, g.tm_mon)[1]
    spend = sum(r[j] for j in pts)
    return {"spend": spend, "forecast": spend / len(pts) * hours, "burn": sum(r[697:721]) / 24 * hours}


def test_budget_rules_fire_for_the_teams_over_budget_only(fleet_vm, tmp_path):
    fv = fleet_vm
    f = {k: figures(fv, *k) for k in [("team", "alpha"), ("team", "beta"), ("team", "gamma"),
                                      ("namespace", "search"), ("namespace", "batch"), ("cluster", "region3-c05")]}
    amounts = {
        ("team", "alpha"): 0.5 * min(f[("team", "alpha")]["forecast"], f[("team", "alpha")]["burn"]),
        ("team", "beta"): 3 * max(f[("team", "beta")].values()),
        ("team", "gamma"): f[("team", "gamma")]["spend"] / 0.9,   # 80 % reached, 100 % not
        ("namespace", "search"): 3 * max(f[("namespace", "search")].values()),
        ("namespace", "batch"): 0.5 * f[("namespace", "batch")]["burn"],
        ("cluster", "region3-c05"): 0.9 * f[("cluster", "region3-c05")]["forecast"],
    }
    budgets = [{scope: value, "amount": round(a, 2), "thresholds": ["80%", 1.0], "for": "0s",
                "labels": {"receiver": "finops"}} for (scope, value), a in amounts.items()]
    parsed = fb.parse_budgets(budgets, "EUR")
    expect = set()
    for b in parsed:
        x = f[(b["scope"], b["value"])]
        amt = b["amount"]
        for t in b["thresholds"]:
            if x["spend"] >= t * amt:
                expect.add(f"KofBudgetSpend_{b['name'].replace('-', '_')}_{t * 100:g}")
            assert abs(x["spend"] / (t * amt) - 1) > 0.01 or x["spend"] == 0, "borderline"
        if x["burn"] > amt:
            expect.add(f"KofBudgetBurnRate_{b['name'].replace('-', '_')}")
        if x["forecast"] > amt:
            expect.add(f"KofBudgetForecast_{b['name'].replace('-', '_')}")
        assert abs(x["burn"] / amt - 1) > 0.01 and abs(x["forecast"] / amt - 1) > 0.01, ("borderline", b["name"])
    assert {"KofBudgetForecast_team_alpha", "KofBudgetBurnRate_team_alpha", "KofBudgetSpend_team_gamma_80",
            "KofBudgetBurnRate_namespace_batch", "KofBudgetForecast_cluster_region3_c05"} <= expect
    assert not any("beta" in a or "search" in a or "gamma_100" in a for a in expect)

    obj = fb.vmrule(parsed, kof_version="0.1.1", interval="1h")
    assert obj["kind"] == "VMRule" and obj["metadata"] == {
        "name": "kof-finops-budgets", "namespace": "kof",
        "labels": {"app.kubernetes.io/managed-by": "k0rdent.kof", "app.kubernetes.io/component": "finops-budgets"}}
    rules_file = tmp_path / "budgets.yml"
    rules_file.write_text(yaml.safe_dump({"groups": obj["spec"]["groups"]}))
    kofvm.VMAlert.check(str(rules_file))  # vmalert -dryRun parses every expression and template
    # a private VictoriaMetrics receives the ALERTS series, so the session's data stays as it was
    with kofvm.VictoriaMetrics() as sink:
        kofvm.VMAlert.replay(str(rules_file), fv.vm.url, sink.url, fv.end - 2 * H, fv.end)
        sink.flush()
        res = sink.query('last_over_time(ALERTS{alertstate="firing"}[1m])', fv.end)
    fired = {s["metric"]["alertname"] for s in res}
    print(f"\nfired at {time.strftime('%Y-%m-%d %H:%M', time.gmtime(fv.end))} UTC: {sorted(fired)}")
    assert fired == expect
    for s in res:  # routable: the team of a team budget, the inventory's labels, the budget's name
        m = s["metric"]
        assert m["receiver"] == "finops" and m["budget"] and m["kof_budget_scope"] in ("team", "namespace", "cluster")
        if m["kof_budget_scope"] == "team":
            assert m["team"] in m["budget"]


def test_rules_parse_in_vmalert_for_kof_1x(tmp_path):
    if not kofvm.binary("vmalert"):
        import pytest
        pytest.skip("vmalert not built")
    parsed = fb.parse_budgets([{"team": "alpha", "amount": 100}, {"cluster": "c1", "amount": 5}], "USD")
    vals = fb.mothership_values(parsed, kof_version="1.10.0")
    group = vals["defaultAlertRules"]["kof-finops-budgets"]
    assert all('cluster=~".+"' in r["expr"] or 'cluster="c1"' in r["expr"] for r in group.values())
    f = tmp_path / "r.yml"
    f.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [dict(v, alert=k) for k, v in group.items()]}]}))
    kofvm.VMAlert.check(str(f))
    assert os.path.getsize(f) > 0
