# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Cost report outputs: CSV, JSON, Markdown (the play output and tickets) and a self-contained HTML page whose
charts are SVG drawn by matplotlib (inline: no script, no network, opens anywhere; a JavaScript chart library
would have to be vendored from npm and executed by the reader's browser). Without matplotlib the page is written
without charts and says so. Files: cost-report-<UTC stamp>.<ext> plus the stable cost-report.<ext> (replaced
atomically), the newest ``keep`` stamped ones kept per format, like the fleet report."""
from __future__ import annotations

import csv
import html
import io
import json
import math

from ansible_collections.k0rdent.kof.plugins.module_utils import report_files

PREFIX = "cost-report"
FORMATS = ("csv", "json", "md", "html")
KEEP = report_files.KEEP
COLS = ("cpu", "ram", "gpu", "pv", "lb", "idle", "shared", "total")
HEAD = {"cpu": "CPU", "ram": "RAM", "gpu": "GPU", "pv": "Storage", "lb": "Load bal.", "idle": "Idle",
        "shared": "Shared", "total": "Total"}


def money(x) -> str:
    return "-" if x is None else f"{x:,.2f}"


def change(x) -> str:
    if x is None:
        return "-"
    if x == float("inf"):
        return "new"
    return f"{x * 100:+.1f}%"


def _slim(report: dict) -> dict:
    return report


def as_json(report: dict) -> str:
    def fix(o):
        if isinstance(o, float) and (math.isinf(o) or math.isnan(o)):
            return "new" if o > 0 else None
        if isinstance(o, dict):
            return {k: fix(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [fix(v) for v in o]
        return o
    return json.dumps(fix(report), indent=1, sort_keys=True) + "\n"


def as_csv(report: dict) -> str:
    gb = report["meta"]["group_by"]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(list(gb) + ["kind"] + list(COLS) + ["previous", "change", "currency", "period_start", "period_end"])
    p, cur = report["meta"]["period"], report["meta"]["currency"]
    for r in report["rows"]:
        names = [r["name"]] * len(gb) if r["kind"] in ("idle", "shared") else \
            [r["group"].get(g) or f"(no {g})" for g in gb]
        w.writerow(names + [r["kind"]] + [f"{r[c]:.2f}" for c in COLS]
                   + ["" if r["previous"] is None else f"{r['previous']:.2f}",
                      "" if r["change"] is None else ("new" if r["change"] == float("inf") else f"{r['change']:.4f}"),
                      cur, p["start"], p["end"]])
    t = report["totals"]
    w.writerow(["TOTAL"] * len(gb) + ["total"] + [f"{t[c]:.2f}" for c in COLS]
               + ["" if t["previous"] is None else f"{t['previous']:.2f}",
                  "" if t["change"] is None else f"{t['change']:.4f}", cur, p["start"], p["end"]])
    return out.getvalue()


def _quality_lines(q: dict) -> list[str]:
    out = [f"- **error**: {e}" for e in q.get("errors", [])]
    out += [f"- {w}" for w in q.get("warnings", [])]
    return out or ["- every inventory cluster has OpenCost data for the whole period; no duplicate series"]


def markdown(report: dict, top: int = 0) -> str:
    m, t = report["meta"], report["totals"]
    cur = m["currency"]
    lines = [f"# KOF cost report: {m['period']['label']}", "",
             f"- period: {m['period']['start']} - {m['period']['end']} ({m['period']['hours']} h)"
             + (f", compared with {m['previous']['start']} - {m['previous']['end']}" if m.get("previous") else ""),
             f"- grouped by {', '.join(m['group_by'])}; idle cost: {m['idle']}; shared: "
             + (", ".join(m["shared"]["namespaces"] + [f"{k}={v}" for k, v in m["shared"]["labels"].items()])
                + f" ({m['shared']['method']})" if m["shared"]["namespaces"] or m["shared"]["labels"] else "none"),
             f"- total: **{money(t['total'])} {cur}** (previous period {money(t['previous'])}, {change(t['change'])}); "
             f"{m['clusters']} clusters; KOF {m['kof_version']} (label `{m['cluster_label']}`)",
             "", "## Data quality", ""] + _quality_lines(report["quality"])
    lines += ["", f"## Costs ({cur})", "",
              "| " + " / ".join(x.capitalize() for x in m["group_by"]) + " | " + " | ".join(HEAD[c] for c in COLS)
              + " | Previous | Change |",
              "|---|" + "---:|" * (len(COLS) + 2)]
    rows = report["rows"]
    shown = rows if not top else [r for r in rows if r["kind"] != "group"] + [r for r in rows if r["kind"] == "group"][:top]
    shown = sorted(shown, key=rows.index)
    for r in shown:
        name = r["name"].replace("|", "\\|")
        if r["kind"] != "group":
            name = f"_{name}_"
        lines.append(f"| {name} | " + " | ".join(money(r[c]) for c in COLS)
                     + f" | {money(r['previous'])} | {change(r['change'])} |")
    if top and len(shown) < len(rows):
        lines.append(f"| _... {len(rows) - len(shown)} more in the CSV/JSON/HTML_ |" + " |" * (len(COLS) + 2))
    lines.append("| **total** | " + " | ".join(f"**{money(t[c])}**" for c in COLS)
                 + f" | {money(t['previous'])} | {change(t['change'])} |")
    missing = [c["cluster"] for c in report["clusters"] if c.get("missing")]
    if missing:
        lines += ["", f"**No data (not counted):** {', '.join(missing)}"]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------------- charts
def charts(report: dict, top: int = 10) -> dict:
    """{name: inline SVG} or {} when matplotlib is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        from matplotlib import pyplot as plt
        from matplotlib.figure import Figure
    except ImportError:
        return {}
    del plt
    matplotlib.rcParams.update({"svg.fonttype": "none", "font.size": 9, "svg.hashsalt": "kof-finops"})
    cur = report["meta"]["currency"]
    days = [d[:10] for d in report["days"]]
    out = {}

    def svg(fig):
        buf = io.StringIO()
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
        s = buf.getvalue()
        return s[s.index("<svg"):]

    # 1. cost over time per cluster (the top clusters, the rest as one band)
    cl = [c for c in report["clusters"] if c.get("daily")]
    cl.sort(key=lambda c: -c["total"])
    if cl and days:
        fig = Figure(figsize=(9, 3.6))
        ax = fig.subplots()
        series = [c["daily"] for c in cl[:top]]
        labels = [c["cluster"] for c in cl[:top]]
        if len(cl) > top:
            series.append([sum(v) for v in zip(*[c["daily"] for c in cl[top:]])])
            labels.append(f"{len(cl) - top} other clusters")
        x = list(range(len(days)))
        ax.stackplot(x, *series, labels=labels, alpha=0.85)
        ticks = x[:: max(1, len(x) // 10)]
        ax.set_xticks(ticks, [days[i] for i in ticks], rotation=30, ha="right")
        ax.set_ylabel(f"{cur} per {'day' if report['meta']['period']['step'] == 86400 else 'hour'}")
        ax.set_title("Cost over time per cluster (assets: allocated + idle)")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
        ax.grid(alpha=0.3)
        out["over_time"] = svg(fig)
    # 2. top groups, this period and the previous one
    groups = [r for r in report["rows"] if r["kind"] in ("group", "unallocated")][:15]
    if groups:
        fig = Figure(figsize=(9, 0.35 * len(groups) + 1.2))
        ax = fig.subplots()
        names = [r["name"] for r in groups][::-1]
        ax.barh(range(len(groups)), [r["total"] for r in groups][::-1], color="#4878cf", label="this period")
        if any(r["previous"] is not None for r in groups):
            ax.barh(range(len(groups)), [r["previous"] or 0 for r in groups][::-1], height=0.3, color="#e0a030",
                    label="previous period")
        ax.set_yticks(range(len(groups)), names)
        ax.set_xlabel(cur)
        ax.set_title(f"Top {' / '.join(report['meta']['group_by'])} by cost")
        ax.legend(fontsize=7)
        ax.grid(axis="x", alpha=0.3)
        out["top_groups"] = svg(fig)
    # 3. idle share per cluster
    if cl:
        worst = sorted(cl, key=lambda c: -c["idle_share"])[:15]
        tot = sum(c["total"] for c in cl)
        idle = sum(c["idle"] for c in cl)
        fig = Figure(figsize=(9, 0.35 * len(worst) + 1.2))
        ax = fig.subplots()
        ax.barh(range(len(worst)), [c["idle_share"] * 100 for c in worst][::-1], color="#d65f5f")
        ax.set_yticks(range(len(worst)), [c["cluster"] for c in worst][::-1])
        ax.set_xlabel("idle share of the cluster's cost (%)")
        ax.set_xlim(0, 100)
        ax.set_title(f"Idle (unallocated) cost: {idle / tot * 100 if tot else 0:.1f}% of the fleet "
                     f"({money(idle)} {cur})")
        ax.grid(axis="x", alpha=0.3)
        out["idle_share"] = svg(fig)
    return out


def page(report: dict) -> str:
    m, t = report["meta"], report["totals"]
    cur = html.escape(m["currency"])
    ch = charts(report)
    esc = html.escape
    q = report["quality"]
    qual = "".join(f"<li class='err'>{esc(e)}</li>" for e in q.get("errors", [])) + \
        "".join(f"<li class='warn'>{esc(w)}</li>" for w in q.get("warnings", [])) or \
        "<li class='ok'>every inventory cluster has OpenCost data for the whole period; no duplicate series</li>"
    rows = "".join(
        f"<tr class='{r['kind']}'><td>{esc(r['name'])}</td>" + "".join(f"<td>{money(r[c])}</td>" for c in COLS)
        + f"<td>{money(r['previous'])}</td><td>{change(r['change'])}</td></tr>" for r in report["rows"])
    rows += ("<tr class='total'><td>total</td>" + "".join(f"<td>{money(t[c])}</td>" for c in COLS)
             + f"<td>{money(t['previous'])}</td><td>{change(t['change'])}</td></tr>")
    crow = "".join(
        f"<tr class='{'missing' if c.get('missing') else ''}'><td>{esc(c['cluster'])}</td><td>{esc(c['region'])}</td>"
        + ("<td colspan=5>no data for the period (not counted)</td>" if c.get("missing") else
           f"<td>{money(c['total'])}</td><td>{money(c['allocated'])}</td><td>{money(c['idle'])}</td>"
           f"<td>{c['idle_share'] * 100:.1f}%</td><td>{change(c.get('change'))}</td>") + "</tr>"
        for c in report["clusters"])
    figs = "".join(f"<figure>{s}</figure>" for s in ch.values()) or \
        "<p class='warn'>Charts need matplotlib on the controller (pip install matplotlib); the tables are complete.</p>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>KOF cost report {esc(m['period']['label'])}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
.kpi {{ display: flex; gap: 1.5em; margin: 1em 0; }}
.kpi div {{ background: #f3f6fb; border-radius: 8px; padding: 0.6em 1em; }} .kpi b {{ display: block; font-size: 1.4em; }}
figure {{ margin: 1em 0; }} figure svg {{ max-width: 100%; height: auto; }}
table {{ border-collapse: collapse; margin-top: 1em; }}
td, th {{ border: 1px solid #ccc; padding: 0.25em 0.5em; font-size: 0.85em; }} td:not(:first-child) {{ text-align: right; }}
tr.idle td, tr.shared td, tr.unallocated td {{ font-style: italic; background: #fafafa; }}
tr.total td {{ font-weight: bold; border-top: 2px solid #888; }} tr.missing td {{ background: #ffe4e4; }}
li.err {{ color: #a00; font-weight: bold; }} li.warn, p.warn {{ color: #955a00; }} li.ok {{ color: #2a7a2a; }}
</style></head><body>
<h1>KOF cost report: {esc(m['period']['label'])}</h1>
<p>{esc(m['period']['start'])} &ndash; {esc(m['period']['end'])}, grouped by {esc(', '.join(m['group_by']))},
idle {esc(m['idle'])}, KOF {esc(m['kof_version'])}, {m['clusters']} clusters, {m['queries']} queries
(at most {m['max_series_per_query']} series each).</p>
<div class="kpi"><div>Total<b>{money(t['total'])} {cur}</b></div>
<div>Previous period<b>{money(t['previous'])} {cur}</b></div><div>Change<b>{change(t['change'])}</b></div>
<div>Idle<b>{money(sum(c.get('idle', 0) for c in report['clusters']))} {cur}</b></div></div>
<h2>Data quality</h2><ul>{qual}</ul>
{figs}
<h2>Costs by {esc(' / '.join(m['group_by']))} ({cur})</h2>
<table><tr><th>{esc(' / '.join(m['group_by']))}</th>{''.join(f'<th>{HEAD[c]}</th>' for c in COLS)}<th>Previous</th><th>Change</th></tr>
{rows}</table>
<h2>Clusters ({cur})</h2>
<table><tr><th>Cluster</th><th>Region</th><th>Cost</th><th>Allocated</th><th>Idle</th><th>Idle share</th><th>Change</th></tr>
{crow}</table>
</body></html>
"""


def stats(report: dict, top: int = 5) -> dict:
    """What set_stats publishes as kof_cost_report for an AWX workflow (small: totals, top groups, gaps)."""
    m, t = report["meta"], report["totals"]
    return {"total": round(t["total"], 2), "currency": m["currency"],
            "previous_total": None if t["previous"] is None else round(t["previous"], 2),
            "period": {"start": m["period"]["start"], "end": m["period"]["end"]},
            "group_by": m["group_by"],
            "idle_total": round(sum(c.get("idle", 0) for c in report["clusters"]), 2),
            "top": [{"name": r["name"], "total": round(r["total"], 2)} for r in report["rows"] if r["kind"] == "group"][:top],
            "missing_clusters": [c["cluster"] for c in report["clusters"] if c.get("missing")],
            "quality_ok": bool(report["quality"].get("ok"))}


# -------------------------------------------------------------------------------------------------------- files
def write(directory: str, report: dict, generated: str, keep: int = KEEP, prefix: str = PREFIX) -> dict:
    """<prefix>-<stamp>.<ext> and the stable <prefix>.<ext> for csv, json, md, html; then only the newest
    ``keep`` stamped files per format stay (0: only the stable names). Returns {ext: stable path}."""
    return report_files.write(directory, prefix, generated,
                              [(ext, fn(report)) for ext, fn in (("csv", as_csv), ("json", as_json),
                                                                 ("md", markdown), ("html", page))], keep)


def prune(directory: str, keep: int, prefix: str = PREFIX) -> list[str]:
    return report_files.prune(directory, prefix, FORMATS, keep)
