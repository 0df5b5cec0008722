"""KOF 1.x upgrade 1.9 -> 1.10 on kofsim (kcm v1beta1 mode): the umbrella installed from a relabelled copy of the
stand-in charts (catalog_1x.relabel: charts-1.10 as version 1.9.0, kof/Chart.yaml annotated kofsim/charts-dir), a
labelled regional and child deployed with the 1-9-0 ServiceTemplates, then `helm upgrade -i --reset-values kof
charts-1.10/kof`: every HelmRelease upgraded to 1.10.0, the 1-9-0 ServiceTemplates kept beside the 1-10-0 ones, the
MultiClusterServices naming 1-10-0, the ServiceSets deployed again with them and the workload releases upgraded."""
from __future__ import annotations

import base64
import gzip
import json

import pytest

from kofsim.k0rdent import catalog_1x
from kofsim_clients import helm
from test_flux_1x import KOF, RELEASES, all_ready, hrs, kofsim_1x
from test_k0rdent import get, wait_for
from test_mcs_1x import NS, P, all_deployed, apply, cd, kubeconfig, servicesets

OLD, NEW = "1.9.0", "1.10.0"
MCS = ("kof-regional-cluster", "kof-child-cluster")


@pytest.fixture(scope="module")
def k1(tmp_path_factory):
    yield from kofsim_1x(tmp_path_factory, "upgrade-1x")


def umbrella(k, chart_dir):
    helm(k, 3, "upgrade", "-i", "--reset-values", "--create-namespace", "-n", "kof", "kof", chart_dir)


def ready_at(k, version):
    items = all_ready(k)
    if not items:
        return None
    kof = {n: h for n, h in items.items() if n != "victoria-metrics-operator"}
    return items if all(h["status"]["history"][0]["chartVersion"] == version for h in kof.values()) else None


def mcs_templates(k):
    out = {}
    for name in MCS:
        m = get(k, "multiclusterservice", name)
        out[name] = {s["template"] for s in m["spec"]["serviceSpec"]["services"] if s["name"].startswith("kof-")}
    return out


def deployed_at(k, cluster, dashed):
    sets = all_deployed(k, cluster)
    if not sets:
        return None
    for s in sets.values():
        for svc in s["spec"]["services"] + s["status"]["services"]:
            if svc["template"].startswith("kof-") and not svc["template"].endswith(dashed):
                return None
    return sets


def workload_releases(k, kc, ns="kof"):
    """name -> (chart version, revision) of the deployed helm releases on a workload cluster."""
    out = {}
    for s in get(k, "secrets", "-n", ns, "-l", "owner=helm,status=deployed", kubeconfig=kc)["items"]:
        rel = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(s["data"]["release"]))))
        out[rel["name"]] = (rel["chart"]["metadata"]["version"], rel["version"])
    return out


def test_upgrade_1_9_to_1_10(k1, tmp_path):
    charts = catalog_1x.relabel(tmp_path / "charts-1.9.0", OLD)
    umbrella(k1, str(charts / "kof"))
    items = wait_for(lambda: ready_at(k1, OLD), "every HelmRelease Ready at 1.9.0", timeout=60)
    assert items["kof-mothership"]["status"]["history"][0]["appVersion"] == OLD
    hc = get(k1, "helmchart", "-n", NS, "kof-mothership")
    assert hc["spec"]["version"] == OLD and hc["status"]["artifact"]["revision"] == OLD
    assert mcs_templates(k1) == {"kof-regional-cluster": {"kof-operators-1-9-0", "kof-storage-1-9-0",
                                                          "kof-collectors-1-9-0"},
                                 "kof-child-cluster": {"kof-operators-1-9-0", "kof-collectors-1-9-0"}}
    prop = get(k1, "multiclusterservice", "kof-storage-child-secret-propagation")
    assert prop["spec"]["serviceSpec"]["services"][0]["template"] == "kof-propagation-1-9-0"
    apply(k1, cd("r1", {P + "kof-cluster-role": "regional"}, {P + "kof-regional-domain": "r1.example.com"}),
          cd("c1", {P + "kof-cluster-role": "child", P + "kof-regional-cluster-name": "r1"}))
    wait_for(lambda: deployed_at(k1, "r1", "1-9-0"), "regional deployed at 1.9.0", timeout=60)
    wait_for(lambda: deployed_at(k1, "c1", "1-9-0"), "child deployed at 1.9.0", timeout=60)
    rkc, ckc = kubeconfig(k1, "r1"), kubeconfig(k1, "c1")
    before = {"r1": workload_releases(k1, rkc), "c1": workload_releases(k1, ckc)}
    assert before["r1"]["kof-storage"][0] == OLD and before["c1"]["kof-collectors"][0] == OLD

    # the upgrade, as the docs do it
    umbrella(k1, KOF)
    items = wait_for(lambda: ready_at(k1, NEW), "every HelmRelease Ready at 1.10.0", timeout=60)
    assert set(items) == set(RELEASES)
    mo = items["kof-mothership"]
    assert mo["status"]["history"][0]["action"] == "upgrade"
    assert mo["status"]["history"][0]["appVersion"] == NEW
    assert all(c["reason"] == "UpgradeSucceeded" for c in mo["status"]["conditions"] if c["type"] == "Ready")
    sts = {s["metadata"]["name"] for s in get(k1, "servicetemplates", "-n", NS)["items"]}
    for short in ("operators", "collectors", "storage", "propagation"):
        assert {f"kof-{short}-1-9-0", f"kof-{short}-1-10-0"} <= sts
    chain = get(k1, "servicetemplatechain", "-n", NS, "kof-storage-1-10-0")
    assert {"name": "kof-storage-1-9-0", "availableUpgrades": [{"name": "kof-storage-1-10-0", "version": NEW}]} \
        in chain["spec"]["supportedTemplates"]
    assert mcs_templates(k1) == {"kof-regional-cluster": {"kof-operators-1-10-0", "kof-storage-1-10-0",
                                                          "kof-collectors-1-10-0"},
                                 "kof-child-cluster": {"kof-operators-1-10-0", "kof-collectors-1-10-0"}}
    rsets = wait_for(lambda: deployed_at(k1, "r1", "1-10-0"), "regional deployed at 1.10.0", timeout=60)
    csets = wait_for(lambda: deployed_at(k1, "c1", "1-10-0"), "child deployed at 1.10.0", timeout=60)
    storage = next(s for s in rsets["kof-regional-cluster"]["status"]["services"] if s["name"] == "kof-storage")
    assert storage["version"] == NEW and storage["template"] == "kof-storage-1-10-0"
    prop = servicesets(k1, "c1")["kof-storage-child-secret-propagation"]
    assert prop["spec"]["services"][0]["template"] == "kof-propagation-1-10-0"
    assert set(csets) == {"kof-child-cluster", "kof-storage-child-secret-propagation"}
    after = {"r1": workload_releases(k1, rkc), "c1": workload_releases(k1, ckc)}
    for cluster, names in (("r1", ("kof-operators", "kof-storage", "kof-collectors")),
                           ("c1", ("kof-operators", "kof-collectors", "kof-vmuser-creds"))):
        for name in names:
            assert after[cluster][name] == (NEW, before[cluster][name][1] + 1), (cluster, name)
    assert hrs(k1)["kof-regional"]["status"]["history"][0]["chartVersion"] == NEW
