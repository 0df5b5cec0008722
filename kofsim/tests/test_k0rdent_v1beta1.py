"""kofsim serving kcm 1.x (KOFSIM_KCM_API_VERSION=v1beta1): only k0rdent.mirantis.com/v1beta1, kcm 1.0's seed,
the stand-in charts following the cluster's generation (v1beta1 ServiceTemplates, the KOF 1.x PSG CRD),
kcm 1.x's ClusterDeployment status, and promxy-operator's 1.x rules (all namespaces, basic auth optional)."""
from __future__ import annotations


import pytest

from kofsim_clients import kubectl
from test_flux_1x import kofsim_1x
from test_k0rdent import (NS, apply, child_cd, get, install_management, promxy_config, ready, summaries,
                          wait_for)


@pytest.fixture(scope="module")
def k1(tmp_path_factory):
    yield from kofsim_1x(tmp_path_factory, "k0rdent-v1beta1")


def test_kcm_v1beta1_generation(k1, tmp_path):
    crd = get(k1, "crd", "clusterdeployments.k0rdent.mirantis.com")
    assert [(v["name"], v["storage"]) for v in crd["spec"]["versions"]] == [("v1beta1", True)]
    assert get(k1, "management", "kcm")["apiVersion"] == "k0rdent.mirantis.com/v1beta1"
    assert get(k1, "management", "kcm")["status"]["release"] == "kcm-1-0-0"
    res = apply(k1, child_cd("old-api"), check=False)  # a v1alpha1 object is refused: the version is not served
    assert res.returncode != 0 and "v1alpha1" in res.stderr

    install_management(k1, 4, tmp_path)
    sts = wait_for(lambda: [s for s in get(k1, "servicetemplates", "-n", NS)["items"]
                            if s["metadata"]["name"].startswith("kof-") and (s.get("status") or {}).get("valid")],
                   "kof ServiceTemplates valid")
    assert {s["apiVersion"] for s in sts} == {"k0rdent.mirantis.com/v1beta1"} and len(sts) == 3
    psg = get(k1, "crd", "promxyservergroups.kof.k0rdent.mirantis.com")
    assert [(v["name"], v["storage"]) for v in psg["spec"]["versions"]] == [("v1alpha1", False), ("v1beta1", True)]

    apply(k1, child_cd("c1", template="aws-standalone-cp-1-0-0", api="v1beta1"))
    wait_for(lambda: ready(k1, "c1") and summaries(k1).get("p--c1-capi-c1", {}).get("Helm", ("",))[0]
             == "Provisioned", "c1 Provisioned")
    cd = wait_for(lambda: (lambda c: c if len((c.get("status") or {}).get("services") or []) == 3 else None)(
        get(k1, "cld", "-n", NS, "c1")), "status.services")
    assert [(s["name"], s["namespace"], s["template"], s["state"]) for s in cd["status"]["services"]] == [
        ("cert-manager", "kof", "cert-manager-1-16-2", "Deployed"),
        ("kof-operators", "kof", "kof-operators-0-1-1", "Deployed"),
        ("kof-collectors", "kof", "kof-collectors-0-1-1", "Deployed")]
    ready_state = next(c for c in cd["status"]["conditions"] if c["type"] == "ServicesInReadyState")
    assert ready_state["message"] == "3/3"

    # KOF 1.x promxy rules: PSGs of every namespace, basic auth only when configured
    kubectl(k1, "create", "namespace", "team-a")
    psg_doc = {"apiVersion": "kof.k0rdent.mirantis.com/v1beta1", "kind": "PromxyServerGroup",
               "metadata": {"name": "r1-metrics", "namespace": "team-a",
                            "labels": {"k0rdent.mirantis.com/promxy-secret-name": "kof-mothership-promxy-config"}},
               "spec": {"cluster_name": "r1", "targets": ["vmauth.r1.example.com:443"], "scheme": "https",
                        "path_prefix": "/vm/select/0/prometheus/"}}
    apply(k1, psg_doc)
    groups = wait_for(lambda: promxy_config(k1).get("promxy", {}).get("server_groups"), "promxy config")
    assert groups[0]["labels"] == {"promxyCluster": "r1", "promxyClusterNamespace": "team-a"}
    assert "basic_auth" not in groups[0]["http_client"] and groups[0]["ignore_error"] is True
