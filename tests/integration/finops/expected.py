"""Costs computed by hand from the fleet's description (kofsim/realvm/kofvm.py), never from its samples.

The fleet's allocations change once, at hourly point H/2+1 (the second half), and every period the tests use
starts and ends at a day boundary, so within each half every rate is constant: the per-day proportional shares of
the engine equal the per-half shares computed here."""
import kofvm

RES = ("cpu", "ram", "gpu", "pv", "lb")


def halves(p0, p1, hours):
    """The (p0, p1] period cut at the regime change (point hours/2)."""
    mid = hours // 2
    out = []
    if p0 < mid:
        out.append((p0, min(p1, mid)))
    if p1 > mid:
        out.append((max(p0, mid), p1))
    return out


def records(c, p0, p1, labels=("team",)):
    """[(namespace, {label: value}, {resource: cost})] for cluster c over (p0, p1]: pods, then LBs by namespace
    (a LB goes to the team of its namespace's label)."""
    e = kofvm.expected(c, p0, p1)
    recs = []
    for p in e["pods"]:
        recs.append((p["namespace"], {k: p["labels"].get(k, "") for k in labels}, {r: p[r] for r in RES}))
    for ns, v in e["lb_by_namespace"].items():
        recs.append((ns, {k: c["namespaces"].get(ns, {}).get(k, "") for k in labels},
                     {r: (v if r == "lb" else 0.0) for r in RES}))
    return e, recs


def by_group(clusters, p0, p1, key, idle="separate", shared_ns=(), method="even", labels=("team",)):
    """{group: total} the way docs/finops.md defines it, computed per regime."""
    out = {}
    for c in clusters:
        for a, b in halves(p0, p1, c["hours"]):
            e, recs = records(c, a, b, labels)
            idle_amt = sum(e["idle"].values())
            alloc = sum(sum(v.values()) for _, _, v in recs)
            rows = []
            for ns, lab, v in recs:
                amt = sum(v.values())
                if idle == "share":
                    amt += idle_amt * amt / alloc
                rows.append((ns, lab, amt))
            if idle == "separate":
                out["(idle)"] = out.get("(idle)", 0.0) + idle_amt
            shared_amt = sum(amt for ns, _, amt in rows if ns in shared_ns)
            tenants = {}
            for ns, lab, amt in rows:
                if ns in shared_ns:
                    continue
                g = key(c, ns, lab)
                tenants[g] = tenants.get(g, 0.0) + amt
            live = {g: v for g, v in tenants.items() if v > 0}
            for g, v in tenants.items():
                out[g] = out.get(g, 0.0) + v
            for g, v in live.items():
                share = shared_amt / len(live) if method == "even" else shared_amt * v / sum(live.values())
                out[g] += share
    return out
