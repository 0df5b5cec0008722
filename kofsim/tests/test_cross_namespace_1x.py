"""kof-operator 1.10's cross-namespace rule (ChildClusterRole.DiscoverRegionalClusterCmByLabel, env
CROSS_NAMESPACE from kof-mothership's `kcm.kof.operator.crossNamespace`): a child finds its regional cluster's
ConfigMap in its own namespace only; with crossNamespace on, in the namespace its
`kof-regional-cluster-namespace` label names, and that label is then required."""
from __future__ import annotations

import json

import pytest

from kofsim_clients import kubectl
from test_flux_1x import all_ready, install, kofsim_1x
from test_k0rdent import get, wait_for
from test_mcs_1x import CRED, P, TEMPLATE, adler, all_deployed, apply, cd

TENANT = "tenant-a"


def tenant_namespace(k, ns=TENANT):
    """A namespace with the ClusterTemplate and Credential kcm's AccessManagement would copy there."""
    kubectl(k, "create", "namespace", ns)
    for kind, name in (("clustertemplate", TEMPLATE), ("credential", CRED)):
        obj = get(k, kind, "-n", "kcm-system", name)
        status = obj.pop("status")
        obj["metadata"] = {"name": name, "namespace": ns}
        kubectl(k, "apply", "-f", "-", input=json.dumps(obj))
        kubectl(k, "patch", kind, "-n", ns, name, "--subresource=status", "--type=merge",
                "-p", json.dumps({"status": status}))


@pytest.fixture(scope="module")
def k1(tmp_path_factory):
    for k in kofsim_1x(tmp_path_factory, "xns-1x", installed=True):
        tenant_namespace(k)
        yield k


def child_config(k):
    return get(k, "configmaps", "-n", TENANT)["items"]


def operator_said(k, name):
    return [e["message"] for e in get(k, "events", "-n", TENANT)["items"]
            if e["involvedObject"]["name"] == name and e["source"].get("component") == "kof-operator"]


def test_cross_namespace(k1):
    apply(k1, cd("r1", {P + "kof-cluster-role": "regional"}, {P + "kof-regional-domain": "r1.example.com"}))
    wait_for(lambda: [c for c in get(k1, "configmaps", "-n", "kcm-system")["items"]
                      if c["metadata"]["name"] == "kof-r1"], "regional ConfigMap kof-r1")
    child = cd("c1", {P + "kof-cluster-role": "child", P + "kof-regional-cluster-name": "r1"})
    child["metadata"]["namespace"] = TENANT
    apply(k1, child)
    # crossNamespace off (the chart's default): the operator looks for kof-r1 in the child's namespace
    assert wait_for(lambda: operator_said(k1, "c1"), "the operator's error") == ['configmaps "kof-r1" not found']
    assert not [c for c in child_config(k1) if c["metadata"]["name"] == "kof-cluster-config-c1"]

    install(k1, "--set", "kof-mothership.values.kcm.kof.operator.crossNamespace=true")
    wait_for(lambda: all_ready(k1), "every HelmRelease Ready", timeout=90)
    env = {e["name"]: e["value"] for d in get(k1, "deployments", "-n", "kof")["items"]
           if d["metadata"]["name"].endswith("-kof-operator") for e in d["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["CROSS_NAMESPACE"] == "true"
    # on: the namespace label is required
    wait_for(lambda: f'"{P}kof-regional-cluster-namespace" label is required' in
             " ".join(m for e in get(k1, "events", "-n", TENANT)["items"] for m in [e["message"]]), "label required")
    kubectl(k1, "label", "clusterdeployment", "-n", TENANT, "c1", f"{P}kof-regional-cluster-namespace=kcm-system")
    cm = wait_for(lambda: next((c for c in child_config(k1) if c["metadata"]["name"] == "kof-cluster-config-c1"),
                               None), "the child's ConfigMap")
    assert cm["data"]["regional_cluster_name"] == "r1"
    assert cm["data"]["regional_cluster_namespace"] == "kcm-system"
    assert cm["data"]["write_metrics_endpoint"] == "https://vmauth.r1.example.com/vm/insert/0/prometheus/api/v1/write"
    # the child's credentials, in its own namespace, and its ServiceSets (the propagation MCS reads that Secret)
    secret = f"kof-vmuser-creds-{adler(f'kof-cluster-config-c1/{TENANT}')}"
    wait_for(lambda: [s for s in get(k1, "secrets", "-n", TENANT)["items"] if s["metadata"]["name"] == secret],
             "the child's credentials Secret")
    sets = wait_for(lambda: all_deployed(k1, "c1", TENANT), "the tenant child's ServiceSets deployed", timeout=60)
    assert set(sets) == {"kof-child-cluster", "kof-storage-child-secret-propagation"}
