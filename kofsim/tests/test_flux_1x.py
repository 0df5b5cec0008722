"""KOF 1.10's management tier on kofsim (kcm v1beta1 mode): `helm upgrade -i --reset-values -n kof kof
charts-1.10/kof` as the docs install it, Flux's HelmRepositories / HelmCharts / HelmReleases reconciled by kofsim's
source- and helm-controller stand-in (k0rdent/flux.py) in dependency order, what the charts create (catalog_1x.py):
ServiceTemplates made valid by kcm, the kof-regional / kof-child MultiClusterServices, promxy's config Secret."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from kofsim.testing import Kofsim
from kofsim_clients import helm, kubectl
from test_k0rdent import get, wait_for

KOF = str(Path(__file__).resolve().parents[1] / "kofsim" / "charts-1.10" / "kof")
RELEASES = ["kof-operators", "victoria-metrics-operator", "kof-mothership", "kof-regional", "kof-child"]


def kofsim_1x(tmp_path_factory, name, *, installed=False):
    """A module fixture's generator: kofsim serving kcm 1.x (its `home` for kubeconfigs), stopped with the module;
    with `installed`, the umbrella kof chart installed and every Flux HelmRelease Ready."""
    k = Kofsim(tmp_path_factory.mktemp(name), ready_after=0.3, kcm_api_version="v1beta1")
    k.start()
    try:
        k.home = tmp_path_factory.mktemp("home")
        if installed:
            install(k)
            wait_for(lambda: all_ready(k), "every HelmRelease Ready", timeout=90)
        yield k
    finally:
        k.stop()


@pytest.fixture(scope="module")
def k1(tmp_path_factory):
    yield from kofsim_1x(tmp_path_factory, "flux-1x")


def install(k, *args, check=True):
    return helm(k, 3, "upgrade", "-i", "--reset-values", "--create-namespace", "-n", "kof", "kof", KOF, *args,
                check=check)


def hrs(k):
    return {h["metadata"]["name"]: h for h in get(k, "helmreleases", "-n", "kof")["items"]}


def cond(obj, type_):
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == type_), {})


def all_ready(k):
    items = hrs(k)
    ok = len(items) == len(RELEASES) and all(cond(h, "Ready").get("status") == "True" and
                                             h["status"].get("observedGeneration") == h["metadata"]["generation"]
                                             for h in items.values())
    return items if ok else None


def revisions(items):
    return {n: h["status"]["history"][0]["version"] for n, h in items.items()}


def test_kof_umbrella(k1):
    install(k1)
    items = wait_for(lambda: all_ready(k1), "every HelmRelease Ready", timeout=90)
    # status as helm-controller v1.5.x writes it
    mo = items["kof-mothership"]
    assert cond(mo, "Released")["reason"] == "InstallSucceeded"
    assert cond(mo, "Ready")["message"] == ("Helm install succeeded for release kof/kof-mothership.v1 with chart "
                                            "kof-mothership@1.10.0")
    assert mo["status"]["lastAttemptedReleaseAction"] == "install"
    assert mo["status"]["lastAttemptedRevision"] == "1.10.0"
    assert mo["status"]["lastAttemptedGeneration"] == mo["metadata"]["generation"]
    snap = mo["status"]["history"][0]
    assert {k: snap[k] for k in ("chartName", "chartVersion", "name", "namespace", "status", "version")} == {
        "chartName": "kof-mothership", "chartVersion": "1.10.0", "name": "kof-mothership", "namespace": "kof",
        "status": "deployed", "version": 1}
    assert snap["configDigest"].startswith("sha256:")
    assert items["victoria-metrics-operator"]["status"]["history"][0]["chartVersion"] == "0.58.1"
    assert mo["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert mo["spec"]["values"]["kcm"]["kof"]["repo"]["name"] == "kof-repo"
    assert [d["name"] for d in mo["spec"]["dependsOn"]] == ["kof-operators", "victoria-metrics-operator"]
    # dependency order: each release deployed after those it depends on
    deployed = {n: h["status"]["history"][0]["lastDeployed"] for n, h in items.items()}
    for n, h in items.items():
        for d in h["spec"].get("dependsOn") or []:
            assert deployed[d["name"]] <= deployed[n], (d["name"], n)
    charts = get(k1, "helmcharts", "-n", "kcm-system")["items"]
    assert sorted(c["metadata"]["name"] for c in charts) == sorted(RELEASES)
    assert all(cond(c, "Ready")["reason"] == "ChartPullSucceeded" for c in charts)
    # kubectl wait works on them
    kubectl(k1, "wait", "--for=condition=Ready", "helmreleases", "--all", "-n", "kof", "--timeout=30s")
    # helm list shows the Flux-installed releases (their release Secrets)
    listed = {r["name"]: r for r in json.loads(helm(k1, 3, "list", "-n", "kof", "-o", "json").stdout)}
    assert set(RELEASES) | {"kof"} <= set(listed)

    # ServiceTemplates valid (kof-mothership, kcm.installTemplates default true)
    want = {"kof-operators-1-10-0", "kof-collectors-1-10-0", "kof-storage-1-10-0", "kof-propagation-1-10-0",
            "cert-manager-v1-19-3", "ingress-nginx-4-14-3", "gateway-helm-v1-7-2", "victoria-metrics-operator-0-58-1"}
    sts = wait_for(lambda: (lambda s: s if want <= {n for n, v in s.items() if v.get("valid")} else None)(
        {s["metadata"]["name"]: s.get("status") or {} for s in get(k1, "svctmpl", "-n", "kcm-system")["items"]}),
        "1.10 ServiceTemplates valid")
    assert want <= set(sts)
    # the MultiClusterServices of kof-regional and kof-child, and the promxy config Secret
    mcs = {m["metadata"]["name"]: m for m in get(k1, "multiclusterservices")["items"]}
    reg = mcs["kof-regional-cluster"]
    assert reg["spec"]["clusterSelector"] == {
        "matchLabels": {"k0rdent.mirantis.com/kof-cluster-role": "regional"},
        "matchExpressions": [{"key": "k0rdent.mirantis.com/istio-role", "operator": "DoesNotExist"}]}
    assert [s["name"] for s in reg["spec"]["serviceSpec"]["services"]] == [
        "cert-manager", "envoy-gateway", "kof-operators", "victoria-metrics-operator", "kof-storage", "kof-collectors"]
    child = mcs["kof-child-cluster"]
    assert [s["name"] for s in child["spec"]["serviceSpec"]["services"]] == [
        "cert-manager", "kof-operators", "kof-collectors"]
    assert child["spec"]["serviceSpec"]["templateResourceRefs"][0]["identifier"] == "ChildConfig"
    assert "kof-storage-child-secret-propagation" in mcs
    get(k1, "secret", "-n", "kof", "kof-mothership-promxy-config")
    get(k1, "deploy", "-n", "kof", "kof-mothership-kof-operator")

    # a second helm upgrade with the same values: the kof chart stamps requestedAt == forceAt = now, so Flux
    # forces one upgrade of every release (helm-controller's force request); the values stay in sync
    before = revisions(items)
    time.sleep(1.1)  # a new `now | unixEpoch`
    install(k1)
    items = wait_for(lambda: (lambda i: i if i and all(revisions(i)[n] == before[n] + 1 for n in RELEASES) else None)(
        all_ready(k1)), "forced upgrades")
    assert cond(items["kof-regional"], "Ready")["reason"] == "UpgradeSucceeded"
    # without a new force token, a change of one release's values upgrades only that release
    before = revisions(items)
    kubectl(k1, "patch", "helmrelease", "-n", "kof", "kof-regional", "--type=merge",
            "-p", json.dumps({"spec": {"values": {"storage": {"global": {"storageClass": "gp3"}}}}}))
    items = wait_for(lambda: (lambda i: i if i and revisions(i)["kof-regional"] == before["kof-regional"] + 1
                              else None)(all_ready(k1)), "kof-regional upgraded")
    time.sleep(0.5)
    after = revisions(all_ready(k1))
    assert {n: after[n] - before[n] for n in RELEASES} == {n: int(n == "kof-regional") for n in RELEASES}
    mcs = get(k1, "multiclusterservice", "kof-regional-cluster")
    storage = next(s for s in mcs["spec"]["serviceSpec"]["services"] if s["name"] == "kof-storage")
    assert "storageClass: gp3" in storage["values"]
    # a requestedAt-only change (e.g. `flux reconcile`) reconciles without a new revision
    kubectl(k1, "annotate", "--overwrite", "helmrelease", "-n", "kof", "kof-child",
            "reconcile.fluxcd.io/requestedAt=manual-1")
    time.sleep(1.0)
    assert revisions(all_ready(k1))["kof-child"] == after["kof-child"]


def test_unknown_key_fails_release(k1):
    install(k1)
    wait_for(lambda: all_ready(k1), "every HelmRelease Ready", timeout=90)
    install(k1, "--set", "kof-mothership.values.kcm.notAKey=1")
    msg = wait_for(lambda: (lambda c: c.get("reason") == "UpgradeFailed" and c["message"])(
        cond(hrs(k1)["kof-mothership"], "Ready")), "kof-mothership UpgradeFailed")
    assert msg.startswith("Helm upgrade failed for release kof/kof-mothership with chart kof-mothership@1.10.0: "
                          "values don't meet the specifications of the schema(s) in the following chart(s):\n"
                          "kof-mothership:\n"), msg
    assert "notAKey" in msg
    assert cond(hrs(k1)["kof-mothership"], "Released")["status"] == "False"
    # the umbrella refuses keys it does not have itself (its own values schema)
    res = install(k1, "--set", "kof-mothership.notAKey=1", check=False)
    assert res.returncode != 0 and "notAKey" in res.stderr
    install(k1)
    wait_for(lambda: all_ready(k1), "Ready again")


def test_dependency_not_ready_and_scenario(k1):
    install(k1)
    wait_for(lambda: all_ready(k1), "every HelmRelease Ready", timeout=90)
    try:
        _dependency_not_ready(k1)
    except AssertionError:
        print(json.dumps({n: h.get("status") for n, h in hrs(k1).items()}, indent=1)[:6000])
        raise


def _dependency_not_ready(k1):
    k1.scenario(fail_helmrelease=["kof-operators"])
    # an out-of-sync release (changed values) keeps failing; an in-sync one whose forced upgrade failed is
    # Ready again on the next reconcile, as helm-controller restores Released/Ready for an in-sync release
    kubectl(k1, "patch", "helmrelease", "-n", "kof", "kof-operators", "--type=merge",
            "-p", json.dumps({"spec": {"values": {"opentelemetry-operator": {"manager": {"collectorImage": {"tag": "0.143.1"}}}}}}))
    op = wait_for(lambda: (lambda c: c if c.get("reason") == "UpgradeFailed" else None)(
        cond(hrs(k1)["kof-operators"], "Ready")), "kof-operators failed")
    assert "kofsim scenario fail_helmrelease" in op["message"]
    dep = wait_for(lambda: (lambda c: c if c.get("reason") == "DependencyNotReady" else None)(
        cond(hrs(k1)["victoria-metrics-operator"], "Ready")), "dependant waits", timeout=15)
    assert dep["message"] == "dependency 'kof/kof-operators' is not ready"
    k1.scenario(fail_helmrelease=[])
    wait_for(lambda: all_ready(k1), "Ready after the fault", timeout=60)


def test_uninstall_keeps_helmreleases(k1):
    install(k1)
    wait_for(lambda: all_ready(k1), "every HelmRelease Ready", timeout=90)
    helm(k1, 3, "uninstall", "-n", "kof", "kof")
    assert set(hrs(k1)) == set(RELEASES)  # helm.sh/resource-policy: keep
    kubectl(k1, "delete", "helmreleases", "-n", "kof", "kof-child", "--wait", "--timeout=30s")
    assert get(k1, "multiclusterservices", "--ignore-not-found")["items"] is not None
    names = {m["metadata"]["name"] for m in get(k1, "multiclusterservices")["items"]}
    assert "kof-child-cluster" not in names and "kof-regional-cluster" in names
