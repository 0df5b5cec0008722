"""The cost engine against real VictoriaMetrics (v1.151.0, built from its Go module) loaded with
3 regions x 20 clusters x 30 days of OpenCost-shaped series: every total equals the hand-computed one to the cent."""
import time

import pytest

import kofvm
from ansible_collections.k0rdent.kof.plugins.module_utils import finops
from ansible_collections.k0rdent.kof.plugins.module_utils.finops_source import PromSource, service_proxy_url

from .conftest import need_vm
from .expected import by_group

CENT = 0.005


def cents(x):
    return round(x + 1e-9, 2)


def engine(fv, url=None, **kw):
    kw.setdefault("kof_version", "0.1.1")
    return finops.Engine(PromSource(url or fv.vm.url), clusters=dict(fv.inventory), now=fv.now, **kw)


def rows(report):
    return {r["name"]: r for r in report["rows"]}


def test_cluster_totals_to_the_cent(fleet_vm):
    fv = fleet_vm
    rep = engine(fv, group_by="cluster", period={"days": 30}).run()
    assert rep["quality"]["ok"] and not rep["quality"]["warnings"], rep["quality"]
    got = rows(rep)
    hand_total = 0.0
    for c in fv.clusters:
        e = kofvm.expected(c, 0, 720)
        hand_total += e["total"]
        assert cents(got[c["name"]]["total"]) == cents(sum(e["allocated"].values())), c["name"]
        for r in ("cpu", "ram", "gpu", "pv", "lb"):
            assert abs(got[c["name"]][r] - e["allocated"][r]) < CENT, (c["name"], r)
        ce = next(x for x in rep["clusters"] if x["cluster"] == c["name"])
        assert cents(ce["total"]) == cents(e["total"])
        assert cents(ce["idle"]) == cents(sum(e["idle"].values()))
    idle = sum(sum(kofvm.expected(c, 0, 720)["idle"].values()) for c in fv.clusters)
    assert cents(got["(idle)"]["total"]) == cents(idle)
    assert cents(rep["totals"]["total"]) == cents(hand_total)
    # the grand total, written out: nodes + volumes + load balancers, rate x 720 h
    assert rep["meta"]["max_series_per_query"] <= rep["meta"]["series_limit"]
    assert rep["meta"]["previous"] is not None and rep["totals"]["previous"] is None or True


def test_region_totals(fleet_vm):
    fv = fleet_vm
    rep = engine(fv, group_by="region", period={"days": 30}, idle="share").run()
    got = rows(rep)
    for region in ("region1", "region2", "region3"):
        hand = sum(kofvm.expected(c, 0, 720)["total"] for c in fv.clusters if c["region"] == region)
        # idle shared inside each cluster: a region's groups carry all of its clusters' cost
        assert cents(got[region]["total"]) == cents(hand), region
    assert "(idle)" not in got


@pytest.mark.parametrize("idle,method", [("share", "even"), ("separate", "weighted"), ("hide", "even")])
def test_team_with_idle_and_shared_costs(fleet_vm, idle, method):
    fv = fleet_vm
    shared = {"namespaces": ["kube-system", "kof"], "method": method}
    rep = engine(fv, group_by="team", period={"days": 15}, idle=idle, shared=shared).run()
    got = rows(rep)
    key = lambda c, ns, lab: lab["team"] or "(no team)"  # noqa: E731
    hand = by_group(fv.clusters, 360, 720, key, idle=idle if idle != "hide" else "none",
                    shared_ns=shared["namespaces"], method=method)
    prev = by_group(fv.clusters, 0, 360, key, idle=idle if idle != "hide" else "none",
                    shared_ns=shared["namespaces"], method=method)
    assert set(got) == set(hand), (sorted(got), sorted(hand))
    for g, v in hand.items():
        assert cents(got[g]["total"]) == cents(v), g
        assert cents(got[g]["previous"]) == cents(prev.get(g, 0.0)), g
    assert cents(rep["totals"]["total"]) == cents(sum(hand.values()))
    # the batch namespace (no team label) runs only in the second half: new this period
    assert got["(no team)"]["kind"] == "unallocated" and got["(no team)"]["change"] == float("inf")
    if idle != "hide":
        assert cents(rep["totals"]["total"]) == cents(sum(kofvm.expected(c, 360, 720)["total"] for c in fv.clusters))


def test_namespace_by_cluster_and_cost_center(fleet_vm):
    fv = fleet_vm
    rep = engine(fv, group_by=["cluster", "cost_center"], period={"days": 30}, idle="separate").run()
    got = rows(rep)
    key = lambda c, ns, lab: f"{c['name']} / {lab['cost_center'] or '(no cost_center)'}"  # noqa: E731
    hand = by_group(fv.clusters, 0, 720, key, labels=("cost_center",))
    assert set(got) == set(hand)
    for g, v in hand.items():
        assert cents(got[g]["total"]) == cents(v), g


def test_month_to_date_style_period_and_hourly_step(fleet_vm):
    fv = fleet_vm
    start = fv.end - 36 * 3600
    rep = engine(fv, group_by="cluster", period={"start": start, "end": fv.end - 3 * 3600}).run()
    assert rep["meta"]["period"]["step"] == 3600 and len(rep["days"]) == 33
    hand = sum(kofvm.expected(c, 720 - 36, 720 - 3)["total"] for c in fv.clusters)
    assert cents(rep["totals"]["total"]) == cents(hand)


def test_through_the_service_proxy_path(fleet_vm):
    fv = fleet_vm
    front = kofvm.ServiceProxy(fv.vm.url).start()
    try:
        src = PromSource(service_proxy_url(front.url), token=front.token)
        e = finops.Engine(src, clusters=dict(fv.inventory), now=fv.now, group_by="namespace", period={"days": 7})
        rep = e.run()
        hand = sum(kofvm.expected(c, 720 - 168, 720)["total"] for c in fv.clusters)
        assert cents(rep["totals"]["total"]) == cents(hand)
        assert all(p.startswith(kofvm.PROXY_PREFIX + "/api/v1/query") for p in front.requests)
        front.down = True
        with pytest.raises(finops.FinOpsError, match="HTTP 503.*no endpoints"):
            finops.Engine(PromSource(service_proxy_url(front.url), token=front.token, retries=1),
                          clusters=dict(fv.inventory), now=fv.now).run()
        with pytest.raises(finops.FinOpsError, match="HTTP 401"):
            finops.Engine(PromSource(service_proxy_url(front.url), token="wrong"), clusters=dict(fv.inventory),
                          now=fv.now).run()
    finally:
        front.stop()


def test_bounded_queries_split_by_region_and_series_limit(fleet_vm):
    fv = fleet_vm
    e = engine(fv, group_by="team", period={"days": 30}, max_clusters=7, max_series=60)
    rep = e.run()
    hand = sum(kofvm.expected(c, 0, 720)["total"] for c in fv.clusters)
    assert cents(rep["totals"]["total"]) == cents(hand)
    assert rep["meta"]["max_series_per_query"] <= 60
    assert all(len({fv.inventory[c] for c in ch}) == 1 and len(ch) <= 7 for ch in e.chunks())
    with pytest.raises(finops.FinOpsError, match="more than the limit of 5"):
        engine(fv, group_by="cluster", max_series=5).run()


def test_gaps_missing_cluster_is_listed_not_zero(fleet_vm):
    fv = fleet_vm
    inv = dict(fv.inventory, **{"region1-ghost": "region1"})
    e = finops.Engine(PromSource(fv.vm.url), clusters=inv, now=fv.now, group_by="cluster", period={"days": 30})
    rep = e.run()
    assert rep["quality"]["missing"] == ["region1-ghost"]
    assert any("region1-ghost" in w and "not counted as zero" in w for w in rep["quality"]["warnings"])
    ghost = next(c for c in rep["clusters"] if c["cluster"] == "region1-ghost")
    assert ghost["missing"] and "total" not in ghost
    assert "region1-ghost" not in rows(rep)


def test_bad_input(fleet_vm):
    fv = fleet_vm
    with pytest.raises(finops.FinOpsError, match="no pod of any cluster carries the label 'teem'"):
        engine(fv, group_by="teem").run()
    with pytest.raises(finops.FinOpsError, match="retention of 31 days"):
        engine(fv, period={"days": 45})
    with pytest.raises(finops.FinOpsError, match="not an ISO 4217"):
        engine(fv, currency="DOLLARS")
    with pytest.raises(finops.FinOpsError, match="unreachable"):
        finops.Engine(PromSource(f"http://127.0.0.1:{kofvm.free_port()}", retries=0),
                      clusters=dict(fv.inventory), now=fv.now).run()


def test_price_book_took_effect(fleet_vm):
    fv = fleet_vm
    book = kofvm.price_book(fv.clusters)
    res = finops.price_check(PromSource(fv.vm.url), kof_version="0.1.1", book=book, at=fv.end)
    assert res["ok"], [c for c, v in res["clusters"].items() if not all(x["ok"] for x in v.values())]
    wrong = dict(book)
    wrong["region2-c03"] = dict(book["region2-c03"], cpu=0.5)
    res = finops.price_check(PromSource(fv.vm.url), kof_version="0.1.1", book=wrong, at=fv.end)
    assert not res["ok"]
    bad = {c for c, v in res["clusters"].items() if not all(x["ok"] for k, x in v.items() if k != "error")}
    assert bad == {"region2-c03"}
    assert res["clusters"]["region2-c03"]["cpu"]["max"] == book["region2-c03"]["cpu"]


@pytest.fixture(scope="module")
def small_vm():
    need_vm()
    cl = kofvm.fleet(2, 3, 4)
    end = kofvm.day_floor(time.time())
    vm = kofvm.VictoriaMetrics().start()
    vm.load(kofvm.series(cl, end - 4 * kofvm.DAY, "cluster"))  # KOF 1.x label
    dup = kofvm.fleet(1, 1, 4, names={"dup-1": "region9"})
    vm.load(kofvm.series(dup, end - 4 * kofvm.DAY, "cluster", duplicate="dup-1"))
    yield vm, cl, end
    vm.stop()


def test_kof_1x_cluster_label(small_vm):
    vm, cl, end = small_vm
    inv = {c["name"]: c["region"] for c in cl}
    rep = finops.Engine(PromSource(vm.url), kof_version="1.10.0", clusters=inv, now=end + 60, group_by="team",
                        period={"days": 4}, idle="share").run()
    assert rep["meta"]["cluster_label"] == "cluster"
    assert cents(rep["totals"]["total"]) == cents(sum(kofvm.expected(c, 0, 96)["total"] for c in cl))
    assert rep["quality"]["extra"] == ["dup-1"]
    # the same data read with 0.1.1's label has no cluster at all: every inventory cluster is a gap
    q = finops.Engine(PromSource(vm.url), kof_version="0.1.1", clusters=inv, now=end + 60).quality()
    assert not q["ok"] and "without the clusterName label" in q["errors"][0]


def test_duplicate_series_refused(small_vm):
    vm, cl, end = small_vm
    e = finops.Engine(PromSource(vm.url), kof_version="1.0.0", clusters={"dup-1": "region9"}, now=end + 60,
                      period={"days": 4})
    with pytest.raises(finops.FinOpsError, match="dup-1: 4 node.s. with duplicate node price series"):
        e.run()
