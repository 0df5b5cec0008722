"""KOF 1.x on the real backend: `KOFSIM_KCM_API_VERSION=v1beta1 kofsim up --api real` runs kofsim's simulated
k0rdent in kcm v1beta1 mode against the real kube-apiserver (v1.36.3), as the emulator does (test_flux_1x.py,
test_mcs_1x.py): kcm 1.x's CRDs (kcm v1.10.0's upstream CRDs of the kinds kofsim serves, Flux's HelmChart and
HelmRepository from source-controller v1.8.5, kofsim's HelmRelease), the v1beta1 seed, kcm's
ValidatingWebhookConfiguration for v1beta1; then the documented `helm upgrade -i --reset-values -n kof kof` of the
umbrella chart with helm 3, every HelmRelease Ready through Flux's stand-in, and a labelled regional and child
ClusterDeployment whose ServiceSets deploy onto their own real kube-apiservers, with kof-operator's ConfigMaps,
credentials and PromxyServerGroup."""
from __future__ import annotations

import base64
import json
import os
import time

import pytest

from kofsim import realapi
from kofsim.testing import RealKube
from kofsim_clients import kubectl
from test_flux_1x import RELEASES, all_ready, install
from test_k0rdent import get, wait_for
from test_mcs_1x import NS, P, adler, all_deployed, apply, cd, kubeconfig, releases

MISSING = realapi.missing()
pytestmark = pytest.mark.skipif(bool(MISSING) and not os.environ.get("KOFSIM_REQUIRE_REAL"),
                                reason=f"real control plane not built: {MISSING}")


@pytest.fixture(scope="module")
def real1x(tmp_path_factory):
    k = RealKube(tmp_path_factory.mktemp("real-1x"), k0rdent=True, ready_after=0.3, kcm_api_version="v1beta1")
    t0 = time.monotonic()
    k.start()
    k.up_seconds = time.monotonic() - t0
    k.home = tmp_path_factory.mktemp("home")
    yield k
    k.stop()


def complete(k, cluster):
    """The cluster's ServiceSets deployed with every service of their MultiClusterService (kcm adds a service whose
    dependsOn are not deployed yet only later: test_mcs_1x.all_deployed alone may see the first ones only)."""
    sets = all_deployed(k, cluster)
    if not sets:
        return None
    for name, s in sets.items():
        mcs = get(k, "multiclusterservice", name)
        if len(s["spec"]["services"]) != len(mcs["spec"]["serviceSpec"]["services"]):
            return None
    return sets


def test_kcm_v1beta1_management_cluster(real1x):
    k = real1x
    assert json.loads((k.dir / "controllers.json").read_text())["kcm_version"] == "v1beta1"
    crd = get(k, "crd", "clusterdeployments.k0rdent.mirantis.com")
    assert [v["name"] for v in crd["spec"]["versions"]] == ["v1beta1"]
    names = {c["metadata"]["name"] for c in get(k, "crd")["items"]}
    # the kcm 1.x kinds kofsim serves, Flux's three, no KOF CRD before its charts
    assert {"servicesets.k0rdent.mirantis.com", "multiclusterservices.k0rdent.mirantis.com",
            "helmreleases.helm.toolkit.fluxcd.io", "helmcharts.source.toolkit.fluxcd.io",
            "helmrepositories.source.toolkit.fluxcd.io"} <= names
    assert "promxyservergroups.kof.k0rdent.mirantis.com" not in names
    if (realapi.kube_dir() / "crds" / "kcm-1.10").is_dir():  # the upstream CRDs, not kofsim's transcriptions
        for name in ("servicesets.k0rdent.mirantis.com", "helmcharts.source.toolkit.fluxcd.io"):
            assert "controller-gen.kubebuilder.io/version" in get(k, "crd", name)["metadata"]["annotations"]
    mgmt = get(k, "management", "kcm")
    assert mgmt["apiVersion"] == f"{P[:-1]}/v1beta1" and mgmt["spec"]["release"] == "kcm-1-0-0"
    hooks = get(k, "validatingwebhookconfiguration", "kcm-validating-webhook-configuration")["webhooks"]
    assert {tuple(h["rules"][0]["apiVersions"]) for h in hooks} == {("v1beta1",)}
    assert all("-v1beta1-" in h["clientConfig"]["url"] for h in hooks)
    # kube-apiserver calls kcm's webhook for a v1beta1 ClusterDeployment: an unknown template is denied
    bad = cd("no-template", {})
    bad["spec"]["template"] = "no-such-template"
    out = kubectl(k, "apply", "-f", "-", input=json.dumps(bad), check=False)
    assert out.returncode != 0 and 'admission webhook "' in out.stderr and "denied the request" in out.stderr


def test_kof_1x_umbrella_regional_and_child(real1x):
    k = real1x
    t0 = time.monotonic()
    install(k)
    items = wait_for(lambda: all_ready(k), "every HelmRelease Ready", timeout=90)
    assert set(items) == set(RELEASES)
    t_ready = time.monotonic() - t0
    domain = "r1.example.com"
    apply(k, cd("r1", {P + "kof-cluster-role": "regional"}, {P + "kof-regional-domain": domain}),
          cd("c1", {P + "kof-cluster-role": "child", P + "kof-regional-cluster-name": "r1"}))
    rsets = wait_for(lambda: complete(k, "r1"), "regional ServiceSets deployed", timeout=120)
    csets = wait_for(lambda: complete(k, "c1"), "child ServiceSets deployed", timeout=90)
    t_deployed = time.monotonic() - t0
    assert set(rsets) == {"kof-regional-cluster"}
    assert set(csets) == {"kof-child-cluster", "kof-storage-child-secret-propagation"}
    # each workload cluster is a kube-apiserver of its own; the services are helm releases there
    rkc, ckc = kubeconfig(k, "r1"), kubeconfig(k, "c1")
    for sets, kc in ((rsets, rkc), (csets, ckc)):
        by_ns: dict = {}
        for s in sets.values():
            for svc in s["spec"]["services"]:
                by_ns.setdefault(svc["namespace"], set()).add(svc["name"])
        for ns, names in by_ns.items():
            assert names <= set(releases(k, kc, ns)), (ns, names)
    svc = next(x for x in rsets["kof-regional-cluster"]["spec"]["services"]
               if x["template"].startswith("kof-storage"))
    assert domain in json.dumps(releases(k, rkc, svc["namespace"])[svc["name"]][1])  # Sveltos' values
    # kof-operator's objects on the management cluster
    rcm = get(k, "configmap", "-n", NS, "kof-r1")
    assert rcm["data"]["read_metrics_endpoint"] == f"https://vmauth.{domain}/vm/select/0/prometheus"
    ccm = get(k, "configmap", "-n", NS, "kof-cluster-config-c1")
    assert ccm["data"]["regional_cluster_name"] == "r1"
    secret = f"kof-vmuser-creds-{adler(f'kof-cluster-config-c1/{NS}')}"
    src = get(k, "secret", "-n", NS, secret)
    assert get(k, "secret", "-n", "kof", secret, kubeconfig=ckc)["data"] == src["data"]
    psgs = wait_for(lambda: get(k, "promxyservergroups", "-n", NS)["items"], "the PromxyServerGroup")
    assert [p["spec"]["cluster_name"] for p in psgs] == ["r1"]

    def promxy():
        sec = get(k, "secret", "-n", "kof", "kof-mothership-promxy-config")
        return f"vmauth.{domain}:443" in base64.b64decode(sec["data"].get("config.yaml", "")).decode()
    wait_for(promxy, "promxy's config lists the regional")
    log = k.log("kofsim-controllers")
    assert "Traceback" not in log, log[log.index("Traceback") - 500:][:3000]
    print(f"\nreal backend, kcm v1beta1: up {k.up_seconds:.1f} s, HelmReleases Ready {t_ready:.1f} s, "
          f"regional and child deployed {t_deployed:.1f} s")


def test_regionless_mode_on_the_real_kube_apiserver(real1x):
    """The same fleet switched to KOF 1.10's regionless mode (test_regionless_1x.py on the emulator): the real
    kube-apiserver, with kcm v1.10.0's ServiceSet CRD, takes kcm's self-management ServiceSet (`spec.cluster: ""`,
    owned by the MultiClusterService, its status naming the SveltosCluster mgmt/mgmt); kof-storage moves onto the
    management cluster, the regional cluster's ServiceSet goes (its selector no longer matches), kof-operator makes
    the regionless ConfigMap and an unlabelled child takes it."""
    k = real1x
    install(k, "--set", "regionless.enabled=true", "--set", "regionless.domain=mgmt.example.com")
    wait_for(lambda: all_ready(k), "every HelmRelease Ready", timeout=90)

    def mgmt_deployed():
        sets = [s for s in get(k, "servicesets", "-n", NS)["items"] if s["spec"]["cluster"] == ""]
        st = (sets[0].get("status") or {}) if sets else {}
        return sets[0] if st.get("deployed") and all(x["state"] == "Deployed" for x in st["services"]) else None
    ss = wait_for(mgmt_deployed, "the management cluster's ServiceSet deployed", timeout=120)
    assert ss["spec"]["provider"]["selfManagement"] is True
    assert [(o["kind"], o["name"]) for o in ss["metadata"]["ownerReferences"]] == \
        [("MultiClusterService", "kof-regional-cluster")]
    assert (ss["status"]["cluster"]["kind"], ss["status"]["cluster"]["name"]) == ("SveltosCluster", "mgmt")
    assert releases(k, None)["kof-storage"][1]["global"]["clusterName"] == "mothership"
    wait_for(lambda: not [s for s in get(k, "servicesets", "-n", NS)["items"] if s["spec"]["cluster"] == "r1"],
             "the regional cluster's ServiceSet gone", timeout=60)
    cm = get(k, "configmap", "-n", NS, "kof-mothership")
    assert cm["metadata"]["labels"][P + "kof-regionless"] == "true"
    apply(k, cd("c2", {P + "kof-cluster-role": "child"}))
    ccm = wait_for(lambda: next((c for c in get(k, "configmaps", "-n", NS)["items"]
                                 if c["metadata"]["name"] == "kof-cluster-config-c2"), None), "c2's ConfigMap")
    assert ccm["data"]["regional_cluster_name"] == "mothership"
    log = k.log("kofsim-controllers")
    assert "Traceback" not in log, log[log.index("Traceback") - 500:][:3000]
