# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Fleet report renderers: a text table for the play output, Markdown, JSON and an HTML page with one box per
region (its regional cluster and the children writing to it), every table in natural order of cluster names
(regional clusters first, then children; c3 before c12); and the report files with their retention."""
from __future__ import annotations

import html
import json
import re

from ansible_collections.k0rdent.kof.plugins.module_utils import report_files

PREFIX = "fleet-report"
KEEP = report_files.KEEP  # timestamped reports kept per format (kof_report_keep)
# the management cluster has a row in regionless mode (KOF 1.10), where it holds the storage
TIERS = {"management": 0, "regional": 1, "child": 2}


def natural_key(name) -> list:
    """Sort key of a name with numbers compared as numbers: c3 before c12, region2-child9 before region2-child10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(name))]


def ordered(results: list[dict]) -> list[dict]:
    """Clusters as every table lists them: the management cluster's storage (regionless mode), regional clusters,
    then children, each in natural order."""
    return sorted(results, key=lambda r: (TIERS.get(r.get("tier"), len(TIERS)), natural_key(r["name"])))


def summary(results: list[dict]) -> dict:
    out = {"clusters": len(results), "healthy": 0, "unhealthy": 0, "missing": 0}
    for r in results:
        out[r["state"]] = out.get(r["state"], 0) + 1
    out["ok"] = out["healthy"] == len(results)
    return out


def _pods(r):
    return ", ".join(f"{ns} {v}" for ns, v in (r.get("pods") or {}).items()) or "-"


def table(results: list[dict]) -> list[str]:
    rows = [("CLUSTER", "TIER", "REGION", "STATE", "READY", "SERVICES", "PROBLEMS")]
    for r in ordered(results):
        rows.append((r["name"], r["tier"], r.get("region") or "-", r["state"].upper(),
                     "yes" if r.get("ready") else "no", r.get("services", "-"),
                     "; ".join(r["problems"]) or "-"))
    widths = [max(len(str(row[i])) for row in rows) for i in range(6)]
    return ["  ".join(str(v).ljust(widths[i]) if i < 6 else str(v) for i, v in enumerate(row)).rstrip()
            for row in rows]


def markdown(results: list[dict], meta: dict) -> str:
    s = summary(results)
    lines = ["# KOF fleet report", "", f"- generated: {meta.get('generated')}",
             f"- management cluster: {meta.get('management')}", f"- KOF version: {meta.get('kof_version')}",
             f"- clusters: {s['clusters']} ({s['healthy']} healthy, {s['unhealthy']} unhealthy, "
             f"{s['missing']} missing)", "",
             "| Cluster | Tier | Region | State | Ready | Services | Pods | Problems |",
             "|---|---|---|---|---|---|---|---|"]
    for r in ordered(results):
        probs = "<br>".join(p.replace("|", "\\|") for p in r["problems"]) or "-"
        lines.append(f"| {r['name']} | {r['tier']} | {r.get('region') or '-'} | {r['state']} | "
                     f"{'yes' if r.get('ready') else 'no'} | {r.get('services', '-')} | {_pods(r)} | {probs} |")
    return "\n".join(lines) + "\n"


def as_json(results: list[dict], meta: dict) -> str:
    return json.dumps({"meta": meta, "summary": summary(results), "clusters": ordered(results)}, indent=2,
                      sort_keys=True) + "\n"


def page(results: list[dict], meta: dict) -> str:
    s = summary(results)
    regions: dict[str, dict] = {}
    for r in results:
        head = r["tier"] in ("regional", "management")  # a region's box: its storage, then the children writing there
        key = r["name"] if head else (r.get("region") or "(unknown region)")
        box = regions.setdefault(key, {"regional": None, "children": []})
        if head:
            box["regional"] = r
        else:
            box["children"].append(r)

    def chip(r):
        title = html.escape("; ".join(r["problems"]) or "healthy")
        return (f'<div class="chip {r["state"]}" title="{title}"><b>{html.escape(r["name"])}</b>'
                f'<span>{html.escape(r["state"])}</span></div>')
    boxes = []
    for name in sorted(regions, key=natural_key):
        box = regions[name]
        head = chip(box["regional"]) if box["regional"] else \
            f'<div class="chip missing"><b>{html.escape(name)}</b><span>not in inventory</span></div>'
        kids = "".join(chip(c) for c in sorted(box["children"], key=lambda c: natural_key(c["name"]))) or \
            '<div class="none">no child clusters</div>'
        boxes.append(f'<section class="region"><h2>Region {html.escape(name)}</h2>{head}'
                     f'<div class="children">{kids}</div></section>')
    rows = "".join(
        f"<tr class='{r['state']}'><td>{html.escape(r['name'])}</td><td>{r['tier']}</td>"
        f"<td>{html.escape(r.get('region') or '-')}</td><td>{r['state']}</td>"
        f"<td>{html.escape(_pods(r))}</td><td>{'<br>'.join(html.escape(p) for p in r['problems']) or '-'}</td></tr>"
        for r in ordered(results))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>KOF fleet report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
.summary {{ font-size: 1.1em; margin-bottom: 1em; }}
.grid {{ display: flex; flex-wrap: wrap; gap: 1em; }}
.region {{ border: 1px solid #bbb; border-radius: 8px; padding: 0.8em; min-width: 16em; background: #fafafa; }}
.region h2 {{ font-size: 1em; margin: 0 0 0.5em 0; }}
.children {{ display: flex; flex-wrap: wrap; gap: 0.4em; margin-top: 0.5em; padding-left: 1em; border-left: 3px solid #ddd; }}
.chip {{ border-radius: 6px; padding: 0.3em 0.6em; display: inline-flex; flex-direction: column; font-size: 0.85em; }}
.chip span {{ font-size: 0.8em; }}
.healthy {{ background: #d4f4d4; }} .unhealthy {{ background: #ffd6d6; }} .missing {{ background: #eee; }}
table {{ border-collapse: collapse; margin-top: 2em; width: 100%; }}
td, th {{ border: 1px solid #ccc; padding: 0.3em 0.5em; text-align: left; vertical-align: top; font-size: 0.9em; }}
</style></head><body>
<h1>KOF fleet report</h1>
<div class="summary">{s['clusters']} clusters: {s['healthy']} healthy, {s['unhealthy']} unhealthy, {s['missing']} missing
&middot; management cluster {html.escape(str(meta.get('management')))} &middot; KOF {html.escape(str(meta.get('kof_version')))}
&middot; {html.escape(str(meta.get('generated')))}</div>
<div class="grid">{''.join(boxes)}</div>
<table><tr><th>Cluster</th><th>Tier</th><th>Region</th><th>State</th><th>Pods</th><th>Problems</th></tr>{rows}</table>
</body></html>
"""


def write(directory: str, results: list[dict], meta: dict, keep: int = KEEP) -> dict:
    """fleet-report-<UTC stamp>.<ext> and the stable name of the latest, fleet-report.<ext>, for md, json and
    html; the newest `keep` stamped reports per format stay (module_utils/report_files.py). Returns
    {ext: path of fleet-report.<ext>}."""
    return report_files.write(directory, PREFIX, meta["generated"], [
        ("md", markdown(results, meta)), ("json", as_json(results, meta)), ("html", page(results, meta))], keep)
