"""The whole fleet on a real kube-apiserver (`kofsim up --api real`: kube-apiserver v1.36.3, etcd and
kube-controller-manager built from Go modules, with kofsim's simulated k0rdent as `kofsim controllers`: kcm and its
webhooks, Sveltos, the KOF operators, one real control plane per ClusterDeployment, kofsim's node simulation).

One real backend for the module; the tests run in order and build on each other, as an operator's day does."""
from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path

import pytest
import yaml

from kofsim import realapi
from kofsim.errors import ApiError
from kofsim.k0rdent.rest import RestClient
from kofsim.testing import RealKube
from tests.helpers import ROOT, ansible_playbook, tool_env

CHARTS = ROOT / "kofsim" / "kofsim" / "charts"
NS = "kcm-system"
REGION = "cloud1-region1"
# kinds a snapshot leaves out: written by the control plane on its own schedule (heartbeats, events)
NOISE = {("coordination.k8s.io", "leases"), ("", "events"), ("events.k8s.io", "events")}


def require_real():
    reason = realapi.missing()
    if reason and not os.environ.get("KOFSIM_REQUIRE_REAL"):
        pytest.skip(f"the real API backend is not built: {reason}")


def inventory(path: Path, children: list[str], **group_vars) -> Path:
    """inventories/local's shape: one management cluster, one region, the given children."""
    hosts = {"all": {"children": {
        "kof_management": {"hosts": {"mothership": None}},
        "kof_regional": {"hosts": {REGION: {"kof_regional_region": "us-east-2"}}},
        "kof_child": {"children": {"kof_child_region1": {"hosts": {c: None for c in children},
                                                         "vars": {"kof_regional": REGION}}}}}}}
    gv = yaml.safe_load((ROOT / "inventories" / "local" / "group_vars" / "all.yml").read_text())
    gv["kof_chart_repository"] = str(CHARTS)
    gv.update(group_vars)
    (path / "group_vars").mkdir(parents=True, exist_ok=True)
    (path / "hosts.yml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    (path / "group_vars" / "all.yml").write_text(yaml.safe_dump(gv, sort_keys=False))
    return path


class Fleet:
    def __init__(self, real: RealKube, work: Path):
        self.real = real
        self.work = work
        self.home = work / "home"
        self.home.mkdir(exist_ok=True)
        self.out = work / "out"
        self.timings: dict[str, float] = {}

    def env(self, **extra):
        e = tool_env(home=self.home, extra={"K8S_AUTH_KUBECONFIG": self.real.kubeconfig})
        e.update({k: str(v) for k, v in extra.items()})
        return e

    def play(self, name, inv, *args, label=None, timeout=900):
        t0 = time.monotonic()
        run = ansible_playbook("-i", inv, f"playbooks/{name}", "-e", f"kof_report_dir={self.out}",
                               "-e", f"kof_access_dir={self.work / 'access'}",
                               "-e", f"kof_backup_dir={self.work / 'backups'}", *args, env=self.env(), timeout=timeout)
        self.timings[label or name] = round(time.monotonic() - t0, 1)
        return run

    # -- the clusters, as the collection reaches them
    def mgmt(self) -> RestClient:
        return RestClient(self.real.kubeconfig)

    def kubeconfigs(self) -> dict[str, str]:
        """<cluster>: kubeconfig text, from the `<name>-kubeconfig` Secrets kcm wrote."""
        client = self.mgmt()
        res = client.resource("", "secrets")
        out = {}
        for s in client.list(res, NS):
            if s["metadata"]["name"].endswith("-kubeconfig") and s.get("type") == "cluster.x-k8s.io/secret":
                out[s["metadata"]["name"][:-len("-kubeconfig")]] = base64.b64decode(s["data"]["value"]).decode()
        return out

    def workload(self, name) -> RestClient:
        return RestClient(self.kubeconfigs()[name])

    def snapshot(self) -> dict:
        """Every object of every cluster (management and workload) with its resourceVersion: equal snapshots
        mean nothing was written in between (leases and events aside)."""
        out = {"": _snapshot(self.mgmt())}
        for name, kc in sorted(self.kubeconfigs().items()):
            out[name] = _snapshot(RestClient(kc))
        return out


def _snapshot(client: RestClient) -> dict:
    objs = {}
    groups = [("", "v1")] + [(g["name"], g["preferredVersion"]["version"])
                             for g in client.request("GET", "/apis")["groups"]]
    for group, version in groups:
        doc = client.request("GET", f"/apis/{group}/{version}" if group else "/api/v1")
        for r in doc.get("resources") or []:
            if "/" in r["name"] or "list" not in r.get("verbs", []) or (group, r["name"]) in NOISE:
                continue
            path = (f"/apis/{group}/{version}/" if group else "/api/v1/") + r["name"]
            for item in _list(client, path):
                m = item["metadata"]
                objs[(group, r["name"], m.get("namespace", ""), m["name"])] = m.get("resourceVersion")
    return objs


def _list(client: RestClient, path: str, timeout: float = 30.0) -> list:
    """The items at path; kube-apiserver's transient refusals retried: 429/503 "storage is (re)initializing" while
    the watch cache of a resource (a CRD installed or changed moments ago) is being (re)built."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return client.request("GET", path).get("items") or []
        except ApiError as err:
            if err.code not in (429, 503) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def diff(before: dict, after: dict) -> list[str]:
    out = []
    for cluster in sorted(set(before) | set(after)):
        a, b = before.get(cluster, {}), after.get(cluster, {})
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                out.append(f"{cluster or 'management'}: {'/'.join(k for k in key if k)} "
                           f"{a.get(key, 'absent')} -> {b.get(key, 'absent')}")
    return out


def _real_fleet(tmp_path_factory, prefix: str, **real_kwargs):
    """`kofsim up --api real` with the simulated k0rdent (RealKube's keyword arguments: ready_after,
    kcm_api_version), torn down after the module unless KOFSIM_E2E_KEEP is set."""
    require_real()
    work = tmp_path_factory.mktemp(prefix)
    real = RealKube(work / "kofsim", k0rdent=True, **real_kwargs)
    t0 = time.monotonic()
    real.start()
    f = Fleet(real, work)
    f.timings["kofsim up --api real"] = round(time.monotonic() - t0, 1)
    yield f
    print("\ntimings (s):", json.dumps(f.timings))
    if os.environ.get("KOFSIM_E2E_KEEP"):  # leave the fleet running to look at it (kofsim down --dir <printed>)
        print(f"the real backend keeps running: kofsim down --dir {real.dir}")
        return
    real.stop()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """KOF 0.1.1's management cluster: kcm v1alpha1."""
    yield from _real_fleet(tmp_path_factory, "e2e-real")


@pytest.fixture(scope="module")
def fleet_1x(tmp_path_factory):
    """KOF 1.x's management cluster: kcm v1beta1 (kcm 1.x's CRDs and webhooks, Flux's HelmRelease, HelmChart and
    HelmRepository, ServiceSets for the MultiClusterServices), as kofsim/tests/test_realapi_1x.py starts it."""
    yield from _real_fleet(tmp_path_factory, "e2e-real-1x", ready_after=0.3, kcm_api_version="v1beta1")
