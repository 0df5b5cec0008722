"""The one converge engine (module_utils/converge.py) with a fake API client: which requests it sends for one
object and for a batch (none for what already matches), check mode as dry runs, per-object failures in a batch,
the hook before a write, and the waits; and the fleet report's order and retention (plugin_utils/report.py,
module_utils/report_files.py)."""
from __future__ import annotations

import copy
import os
import time

import pytest

from ansible_collections.k0rdent.kof.plugins.module_utils import converge, report_files
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import KubeError
from ansible_collections.k0rdent.kof.plugins.plugin_utils import report

from .test_kof_module import FakeKube


def cm(name, **data):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "kof"},
            "data": dict(data)}


def path(name):
    return f"/api/v1/namespaces/kof/configmaps/{name}"


def test_present_creates_updates_and_leaves_alone():
    kube = FakeKube()
    engine = converge.Converger(kube)
    created = engine.present(path("a"), cm("a", x="1"), None)
    assert created["changed"] and created["action"] == "created" and created["before"] == {}
    assert "managedFields" not in created["after"]["metadata"]
    live = kube.objects[path("a")]
    assert engine.present(path("a"), cm("a", x="1"), live) == {"changed": False, "action": "unchanged",
                                                               "object": live}
    updated = engine.present(path("a"), cm("a", x="2"), live)
    assert updated["action"] == "updated" and updated["before"]["data"] == {"x": "1"}
    assert [c[0] for c in kube.calls] == ["APPLY", "APPLY"]


def test_check_mode_is_a_dry_run_and_absent():
    kube = FakeKube({path("a"): cm("a")})
    engine = converge.Converger(kube, check=True)
    assert engine.present(path("b"), cm("b"), None)["changed"] and path("b") not in kube.objects
    gone = engine.absent(path("a"), kube.objects[path("a")])
    assert gone["action"] == "deleted" and gone["after"] == {} and path("a") in kube.objects
    assert engine.absent(path("c"), None) == {"changed": False, "action": "absent"}
    assert kube.calls == [("APPLY-dry", path("b")), ("DELETE-dry", path("a"))]


def test_prepare_runs_before_a_write_only():
    kube = FakeKube()
    engine = converge.Converger(kube)
    seen = []
    engine.present(path("a"), cm("a"), None, prepare=lambda obj, live: seen.append(obj["metadata"]["name"]))
    engine.present(path("a"), cm("a"), kube.objects[path("a")], prepare=lambda obj, live: seen.append("again"))
    assert seen == ["a"]

    def refuse(obj, live):
        raise KubeError("no")
    with pytest.raises(KubeError):
        engine.present(path("b"), cm("b"), None, prepare=refuse)
    assert path("b") not in kube.objects


def test_only_missing_keeps_an_existing_object():
    kube = FakeKube({path("a"): cm("a", x="theirs")})
    out = converge.Converger(kube).present(path("a"), cm("a", x="ours"), kube.objects[path("a")], only_missing=True)
    assert out["action"] == "unchanged" and kube.calls == []


def test_a_batch_writes_only_what_differs_and_fails_per_object():
    kube = FakeKube()
    engine = converge.Converger(kube, concurrency=4)
    engine.present(path("same"), cm("same", x="1"), None)
    kube.calls.clear()
    live = {"h1": kube.objects[path("same")], "h2": None, "h3": None}
    original = kube.apply

    def apply(p, obj, **kw):
        if obj["metadata"]["name"] == "bad":
            raise KubeError("PATCH refused")
        return original(p, obj, **kw)
    kube.apply = apply
    out = engine.present_all({"h1": (path("same"), cm("same", x="1")), "h2": (path("new"), cm("new")),
                              "h3": (path("bad"), cm("bad"))}, live)
    assert list(out) == ["h1", "h2", "h3"]
    assert out["h1"]["action"] == "unchanged" and out["h2"]["action"] == "created"
    assert out["h3"] == {"failed": True, "changed": False, "msg": "PATCH refused"}
    assert kube.calls == [("APPLY", path("new"))]


def test_a_batch_without_live_objects_reads_each():
    kube = FakeKube({path("a"): cm("a")})
    out = converge.Converger(kube).absent_all({"x": (path("a"), None), "y": (path("b"), None)})
    assert out["x"]["action"] == "deleted" and out["y"]["action"] == "absent"
    assert kube.calls == [("GET", path("a")), ("DELETE", path("a")), ("GET", path("b"))]


def test_wait_until_polls_until_done_or_timeout():
    ticks = iter([(False, "pending"), (False, "still"), (True, "")])
    assert converge.wait_until(lambda: next(ticks), 5, 0) == (True, "")
    started = time.monotonic()
    assert converge.wait_until(lambda: (False, "never"), 0, 0) == (False, "never")
    assert time.monotonic() - started < 1


class WatchKube:
    """A collection listed once, then watched."""

    def __init__(self, items, events):
        self.items, self.events, self.calls = items, events, []

    def list_all(self, p, label_selector=None):
        self.calls.append("LIST")
        return copy.deepcopy(self.items), "7"

    def watch(self, p, query, on_event, deadline):
        self.calls.append(("WATCH", query["resourceVersion"]))
        return any(on_event(t, o) for t, o in self.events)


def ready(name, gen=1, observed=1, status="True"):
    return {"metadata": {"name": name, "generation": gen},
            "status": {"observedGeneration": observed, "conditions": [{"type": "Ready", "status": status}]}}


def test_wait_for_is_one_list_and_one_watch_and_generation_aware():
    kube = WatchKube([ready("a"), ready("b", gen=2, observed=1)], [("MODIFIED", ready("b", gen=2, observed=2))])
    out = converge.wait_for(kube, "/p", {"a", "b"}, lambda o: o is not None and converge.is_ready(o), 5)
    assert out["pending"] == set() and kube.calls == ["LIST", ("WATCH", "7")]
    known = converge.wait_for(kube, "/p", {"a"}, converge.is_ready, 5, known={"a": ready("a")})
    assert known["pending"] == set() and kube.calls[-1] == ("WATCH", "7"), "nothing sent for objects known ready"


def test_is_ready_ignores_a_stale_condition():
    assert converge.is_ready(ready("a")) and not converge.is_ready(ready("a", gen=3, observed=2))
    assert not converge.is_ready(ready("a", status="False")) and not converge.is_ready({"metadata": {}})


# ----------------------------------------------------------------------------------------------- reports
RESULTS = [{"name": n, "tier": t, "state": "healthy", "problems": [], "region": r}
           for n, t, r in (("c12", "child", "r2"), ("r10", "regional", "r10"), ("c3", "child", "r2"),
                           ("r2", "regional", "r2"), ("c1", "child", "r10"))]


def test_every_table_in_natural_order():
    assert [r["name"] for r in report.ordered(RESULTS)] == ["r2", "r10", "c1", "c3", "c12"]
    assert [line.split()[0] for line in report.table(RESULTS)[1:]] == ["r2", "r10", "c1", "c3", "c12"]
    md = report.markdown(RESULTS, {})
    assert md.index("| c3 |") < md.index("| c12 |") and md.index("| r2 |") < md.index("| r10 |")
    page = report.page(RESULTS, {})
    assert page.index("Region r2") < page.index("Region r10") and page.index("<b>c3</b>") < page.index("<b>c12</b>")
    assert report.natural_key("node-9") < report.natural_key("node-10") < report.natural_key("node-10a")


def test_report_retention_and_the_stable_latest_name(tmp_path):
    for minute in range(5):
        files = report.write(str(tmp_path), RESULTS, {"generated": f"2026-12-04T10:0{minute}:00Z"}, keep=3)
    names = sorted(os.listdir(tmp_path))
    for ext in ("md", "json", "html"):
        assert f"fleet-report.{ext}" in names and files[ext] == str(tmp_path / f"fleet-report.{ext}")
        assert [n for n in names if n.startswith("fleet-report-") and n.endswith(ext)] == [
            f"fleet-report-20261204T10{m:02d}00Z.{ext}" for m in (2, 3, 4)]
    assert (tmp_path / "fleet-report.json").read_text() == (tmp_path / "fleet-report-20261204T100400Z.json").read_text()
    report.write(str(tmp_path), RESULTS, {"generated": "2026-12-04T11:00:00Z"}, keep=0)
    assert sorted(os.listdir(tmp_path)) == ["fleet-report.html", "fleet-report.json", "fleet-report.md"]
    (tmp_path / "fleet-report-notes.md").write_text("mine")
    assert report_files.prune(str(tmp_path), "fleet-report", ["md"], 0) == [] and (tmp_path / "fleet-report-notes.md").exists()
