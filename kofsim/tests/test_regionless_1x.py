"""KOF 1.10's regionless mode on kofsim (kcm v1beta1 mode): the umbrella `kof` chart with `regionless.enabled`
turns kof-regional's MultiClusterService to the management cluster (selector `management-cluster: "true"`,
`provider.selfManagement`), kcm keeps one ServiceSet `management-<hash>` in kcm-system for it (owned by the
MultiClusterService, no cluster) and installs kof-storage on the management cluster itself; kof-operator starts
with the regionless ConfigMap `kof-<management cluster>` in kcm-system, children without a regional label take it,
and its PromxyServerGroup reads the storage inside the management cluster. Facts: kcm v1.10.0
internal/controller/multiclusterservice_controller.go, internal/serviceset/{util,builder}.go; k0rdent/kof v1.10.0
charts/kof/templates/helmreleases.yaml, kof-operator/internal/controller/regionless_configmap_bootstrap.go."""
from __future__ import annotations

import hashlib

import pytest

from kofsim_clients import kubectl
from test_cross_namespace_1x import tenant_namespace
from test_flux_1x import all_ready, install, kofsim_1x
from test_k0rdent import get, wait_for
from test_mcs_1x import CRED, NS, P, TEMPLATE, adler, all_deployed, apply, kubeconfig, mcs_services, releases

DOMAIN = "mgmt.example.com"
MGMT_SS = "management-" + hashlib.sha256(b"kof-regional-cluster").digest()[:4].hex()


@pytest.fixture(scope="module")
def rl(tmp_path_factory):
    gen = kofsim_1x(tmp_path_factory, "regionless-1x")
    k = next(gen)
    install(k, "--set", "regionless.enabled=true", "--set", f"regionless.domain={DOMAIN}",
            "--set", "regionless.clusterName=mothership", "--set", "regionless.certEmail=ops@example.com")
    wait_for(lambda: all_ready(k), "every HelmRelease Ready", timeout=90)
    yield k
    gen.close()


def child(name, ns=NS):
    return {"apiVersion": f"{P[:-1]}/v1beta1", "kind": "ClusterDeployment",
            "metadata": {"name": name, "namespace": ns, "labels": {P + "kof-cluster-role": "child"}},
            "spec": {"template": TEMPLATE, "credential": CRED, "config": {"region": "us-east-2"}}}


def mgmt_serviceset(k):
    """The management cluster's ServiceSet once every service of the MultiClusterService is in it and deployed
    (mcs_services)."""
    items = [s for s in get(k, "servicesets", "-n", NS)["items"] if s["metadata"]["name"] == MGMT_SS]
    st = (items[0].get("status") or {}) if items else {}
    want = mcs_services(k)["kof-regional-cluster"]
    done = st.get("deployed") and len(st.get("services") or []) == len(want) and \
        all(x["state"] == "Deployed" for x in st["services"])
    return items[0] if done else None


def test_storage_on_the_management_cluster(rl):
    mcs = get(rl, "multiclusterservice", "kof-regional-cluster")
    assert mcs["spec"]["clusterSelector"] == {"matchLabels": {P + "management-cluster": "true"}}
    assert mcs["spec"]["serviceSpec"]["provider"] == {"selfManagement": True}
    ss = wait_for(lambda: mgmt_serviceset(rl), "the management cluster's ServiceSet deployed", timeout=90)
    assert ss["spec"]["cluster"] == "" and ss["spec"]["provider"]["selfManagement"] is True
    assert [(o["kind"], o["name"]) for o in ss["metadata"]["ownerReferences"]] == \
        [("MultiClusterService", "kof-regional-cluster")]
    assert ss["status"]["cluster"] == {"apiVersion": "lib.projectsveltos.io/v1beta1", "kind": "SveltosCluster",
                                       "name": "mgmt", "namespace": "mgmt"}
    # the umbrella's regionless values: VM-operator, kof-operators and cert-manager come from the umbrella / kcm
    assert [s["name"] for s in ss["spec"]["services"]] == ["envoy-gateway", "kof-collectors", "kof-storage"]
    # installed on the management cluster itself, named after regionless.clusterName, vmauth.<regionless domain>
    rel = releases(rl, None)
    storage = rel["kof-storage"][1]
    assert storage["global"]["clusterName"] == "mothership"
    assert storage["gateway"]["spec"]["listeners"][1]["hostname"] == f"vmauth.{DOMAIN}"
    assert rel["kof-collectors"][1]["global"]["clusterName"] == "mothership"

    def counted():
        m = get(rl, "multiclusterservice", "kof-regional-cluster")
        ready = next((c for c in m["status"].get("conditions") or [] if c["type"] == "ClusterInReadyState"), {})
        return m if ready.get("message") == "1/1" and ready.get("status") == "True" else None
    m = wait_for(counted, "the MultiClusterService counts the management cluster")
    assert [(c["kind"], c["name"], c["deployed"], c["regional"]) for c in m["status"]["matchingClusters"]] == \
        [("SveltosCluster", "mgmt", True, False)]


def test_children_write_to_the_management_cluster(rl):
    cm = get(rl, "configmap", "-n", NS, "kof-mothership")
    labels = cm["metadata"]["labels"]
    assert labels[P + "kof-regionless"] == "true" and labels[P + "kof-cluster-role"] == "regional"
    assert not cm["metadata"].get("ownerReferences")
    assert cm["data"]["write_metrics_endpoint"] == f"https://vmauth.{DOMAIN}/vm/insert/0/prometheus/api/v1/write"
    apply(rl, child("c1"))
    wait_for(lambda: all_deployed(rl, "c1"), "the child's ServiceSets deployed", timeout=90)
    ccm = get(rl, "configmap", "-n", NS, "kof-cluster-config-c1")
    assert ccm["data"]["regional_cluster_name"] == "mothership"
    assert ccm["data"]["write_logs_endpoint"] == f"https://vmauth.{DOMAIN}/vli/insert/opentelemetry/v1/logs"
    secret = f"kof-vmuser-creds-{adler(f'kof-cluster-config-c1/{NS}')}"
    assert get(rl, "secret", "-n", "kof", secret, kubeconfig=kubeconfig(rl, "c1"))["data"]
    # promxy reads the regionless storage inside the management cluster (GetReadEndpoint), over plain HTTP
    [psg] = [p for p in get(rl, "promxyservergroups", "-n", NS)["items"] if p["spec"]["cluster_name"] == "mothership"]
    assert psg["spec"]["targets"] == ["vmauth-cluster:8427"] and psg["spec"]["scheme"] == "http"
    assert psg["spec"]["path_prefix"] == "/vm/select/0/prometheus"


def test_a_child_in_another_namespace_needs_cross_namespace(rl):
    """Without CROSS_NAMESPACE the operator looks for the regionless ConfigMap in the child's own namespace only."""
    tenant_namespace(rl, "team-a")
    apply(rl, child("c2", "team-a"))

    def operator_said():
        return next((e["message"] for e in get(rl, "events", "-n", "team-a")["items"]
                     if e["involvedObject"]["name"] == "c2"), None)
    assert wait_for(operator_said, "kof-operator's event on c2") == \
        "regionless is enabled but no regionless ConfigMap was found"
    install(rl, "--set", "regionless.enabled=true", "--set", f"regionless.domain={DOMAIN}",
            "--set", "regionless.clusterName=mothership", "--set", "regionless.certEmail=ops@example.com",
            "--set", "kof-mothership.values.kcm.kof.operator.crossNamespace=true")
    wait_for(lambda: all_ready(rl), "every HelmRelease Ready", timeout=90)
    cm = wait_for(lambda: next((c for c in get(rl, "configmaps", "-n", "team-a")["items"]
                                if c["metadata"]["name"] == "kof-cluster-config-c2"), None), "c2's ConfigMap")
    assert cm["data"]["regional_cluster_name"] == "mothership"
    assert cm["data"]["regional_cluster_namespace"] == NS
    wait_for(lambda: all_deployed(rl, "c2", "team-a"), "c2's ServiceSets deployed", timeout=90)
