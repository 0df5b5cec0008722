"""The cost report's files (CSV, JSON, Markdown, HTML with matplotlib SVG charts) from the real-VictoriaMetrics
data, their retention, and both HTML reports (cost and fleet) opened in headless Chromium: the screenshots are
kept under tests/output/finops/ (paths printed)."""
import csv
import io
import json
import os
import shutil
import subprocess
import tempfile

import pytest

import kofvm
from ansible_collections.k0rdent.kof.plugins.module_utils import finops, finops_report
from ansible_collections.k0rdent.kof.plugins.module_utils.finops_source import PromSource
from ansible_collections.k0rdent.kof.plugins.plugin_utils import report as fleet_report

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "output", "finops")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


@pytest.fixture(scope="module")
def report(fleet_vm):
    fv = fleet_vm
    inv = dict(fv.inventory, **{"region3-ghost": "region3"})
    return finops.Engine(PromSource(fv.vm.url), clusters=inv, now=fv.now, group_by="team", idle="separate",
                         period={"days": 15}, currency="EUR",
                         shared={"namespaces": ["kube-system", "kof"], "method": "weighted"}).run()


def test_files_and_retention(report, tmp_path):
    stamps = [f"2026-11-{d:02d}T06:00:00Z" for d in range(1, 14)]
    for s in stamps:
        files = finops_report.write(str(tmp_path), report, s, keep=3)
    names = sorted(os.listdir(tmp_path))
    assert names == sorted([f"cost-report.{e}" for e in finops_report.FORMATS]
                           + [f"cost-report-202611{d}T060000Z.{e}" for d in (11, 12, 13) for e in finops_report.FORMATS])
    rows = list(csv.DictReader(io.StringIO(open(files["csv"]).read())))
    total = next(r for r in rows if r["kind"] == "total")
    assert total["total"] == f"{report['totals']['total']:.2f}" and total["currency"] == "EUR"
    assert {r["team"] for r in rows} >= {"alpha", "beta", "gamma", "(no team)", "(idle)", "TOTAL"}
    j = json.load(open(files["json"]))
    assert j["totals"]["total"] == pytest.approx(report["totals"]["total"])
    assert j["quality"]["missing"] == ["region3-ghost"]
    md = open(files["md"]).read()
    assert "| Team | CPU |" in md and "**No data (not counted):** region3-ghost" in md and "EUR" in md
    html = open(files["html"]).read()
    assert html.count("<svg") == 3 and "<script" not in html and "http://" not in html.split("<svg")[0]
    st = finops_report.stats(report)
    assert st["total"] == round(report["totals"]["total"], 2) and st["missing_clusters"] == ["region3-ghost"]
    finops_report.write(str(tmp_path), report, "2026-11-20T06:00:00Z", keep=0)
    assert sorted(os.listdir(tmp_path)) == sorted(f"cost-report.{e}" for e in finops_report.FORMATS)


def chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.skip("chromium is not installed (scripts/setup.sh installs it with apt-get where apt is available)")
    return exe


def screenshot(html_file, png, size="1400,2200"):
    exe = chromium()
    prof = tempfile.mkdtemp(prefix="kof-chromium-")
    try:
        r = subprocess.run([exe] + CHROMIUM_FLAGS + [f"--user-data-dir={prof}", f"--window-size={size}",
                                                    f"--screenshot={png}", "file://" + os.path.abspath(html_file)],
                           capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(prof, ignore_errors=True)
    assert os.path.exists(png) and os.path.getsize(png) > 10_000, r.stderr[-2000:]
    with open(png, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    print(f"\nscreenshot: {png}")
    return png


def test_cost_report_html_in_chromium(report):
    os.makedirs(OUT, exist_ok=True)
    files = finops_report.write(OUT, report, "2026-11-30T06:00:00Z", keep=1)
    screenshot(files["html"], os.path.join(OUT, "cost-report.png"))


def test_fleet_report_html_in_chromium():
    os.makedirs(OUT, exist_ok=True)
    results = []
    for r in range(1, 4):
        results.append({"name": f"region{r}", "tier": "regional", "region": None, "state": "healthy", "ready": True,
                        "services": "3/3", "problems": [], "pods": {"kof": "12/12"}})
        for c in range(1, 6):
            bad = (r, c) == (2, 3)
            results.append({"name": f"region{r}-c{c:02d}", "tier": "child", "region": f"region{r}",
                            "state": "unhealthy" if bad else "healthy", "ready": not bad, "services": "3/3",
                            "problems": ["kof-collectors: 1/2 pods ready"] if bad else [],
                            "pods": {"kof": "1/2" if bad else "2/2"}})
    d = os.path.join(OUT, "fleet")
    files = fleet_report.write(d, results, {"generated": "2026-11-30T06:00:00Z", "management": "kofsim",
                                            "kof_version": "0.1.1"})
    screenshot(files["html"], os.path.join(OUT, "fleet-report.png"), size="1400,1400")
