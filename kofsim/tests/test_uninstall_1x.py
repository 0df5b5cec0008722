"""KOF 1.10 uninstalled the documented way (k0rdent docs, admin/kof kof-maintainence, KOF >= 1.8) on kofsim's kcm
v1beta1 mode, with real helm 3 and kubectl:

1. `kubectl delete --wait --cascade=foreground` the child ClusterDeployments, then the regional ones;
2. `helm uninstall --wait --cascade foreground -n kof kof`;
3. delete the HelmReleases left in `kof` (they carry helm.sh/resource-policy: keep) in the documented order;
4. `kubectl delete ns kof`.

First the trap (kof#615 / #642): a ServiceTemplate that a MultiClusterService references cannot be deleted: kcm
v1.10.0's validating webhook refuses it (internal/webhook/template_webhook.go)."""
from __future__ import annotations

import time
import zlib

import pytest

from kofsim_clients import helm, kubectl
from test_flux_1x import RELEASES, hrs, kofsim_1x
from test_k0rdent import get, wait_for
from test_mcs_1x import NS, P, all_deployed, apply, cd, kubeconfig, releases

ORDER = ["kof-collectors", "kof-storage", "kof-child", "kof-regional", "kof-mothership", "victoria-metrics-operator",
         "kof-operators"]
TEMPLATES = [f"kof-{s}-1-10-0" for s in ("operators", "collectors", "storage", "propagation")]


@pytest.fixture(scope="module")
def k1(tmp_path_factory):
    for k in kofsim_1x(tmp_path_factory, "uninstall-1x", installed=True):
        apply(k, cd("r1", {P + "kof-cluster-role": "regional"}, {P + "kof-regional-domain": "r1.example.com"}),
              cd("c1", {P + "kof-cluster-role": "child", P + "kof-regional-cluster-name": "r1"}))
        wait_for(lambda: all_deployed(k, "r1"), "regional ServiceSets deployed", timeout=60)
        wait_for(lambda: all_deployed(k, "c1"), "child ServiceSets deployed", timeout=60)
        yield k


def names(k, *args):
    return {o["metadata"]["name"] for o in get(k, *args)["items"]}


def adler(s):
    return str(zlib.adler32(s.encode()) & 0xffffffff)


def test_trap_servicetemplate_in_use(k1):
    """kcm v1.10.0 refuses the deletion: the template stays, nothing is stuck."""
    proc = kubectl(k1, "delete", "servicetemplate", "-n", NS, "kof-collectors-1-10-0", check=False)
    assert proc.returncode == 1
    assert ('admission webhook "validation.servicetemplate.k0rdent.mirantis.com" denied the request: '
            "template deletion is forbidden") in proc.stderr
    # the webhook's warning names one referencing MCS (kcm lists them with Limit(1))
    assert ("Warning: The kof-collectors-1-10-0 ServiceTemplate object can't be removed if MultiClusterService "
            "objects [kof-child-cluster] referencing it still exist") in proc.stderr
    st = get(k1, "servicetemplate", "-n", NS, "kof-collectors-1-10-0")
    assert not st["metadata"].get("deletionTimestamp") and st["status"]["valid"]
    # a dry run is refused the same way (sideEffects None)
    proc = kubectl(k1, "delete", "servicetemplate", "-n", NS, "kof-propagation-1-10-0", "--dry-run=server",
                   check=False)
    assert "[kof-storage-child-secret-propagation]" in proc.stderr and proc.returncode == 1


def test_documented_uninstall(k1):
    ckc = kubeconfig(k1, "c1")
    assert {"kof-collectors", "kof-vmuser-creds"} <= set(releases(k1, ckc))
    child_secret = f"kof-vmuser-creds-{adler(f'kof-cluster-config-c1/{NS}')}"
    assert get(k1, "secret", "-n", "kof", child_secret)

    # 1. the child ClusterDeployments, then the regional ones: kcm deletes their ServiceSets (the services are
    # uninstalled from the still running cluster) and requeues every 10 s until they are gone, then the cluster
    seen = {}
    for name in ("c1", "r1"):
        t0 = time.monotonic()
        kubectl(k1, "delete", "clusterdeployment", "-n", NS, name, "--wait", "--cascade=foreground",
                "--timeout=60s")
        seen[name] = time.monotonic() - t0
        assert name not in names(k1, "clusterdeployments", "-n", NS)
        assert not [s for s in get(k1, "servicesets", "-n", NS)["items"] if s["spec"]["cluster"] == name]
        assert f"{name}-kubeconfig" not in names(k1, "secrets", "-n", NS)
    # kcm requeues every 10 s while ServiceSets remain; with foreground deletion the garbage collector removes
    # them first, and kofsim's ServiceSet controller is quick, so kcm usually finds none left
    assert all(s < 30 for s in seen.values()), seen
    # kof-operator's objects: owned by the ClusterDeployment / the regional ConfigMap (garbage collector), the
    # regional's admin Secrets deleted by its ResourceCleanup; the child's copy in kof has no owner and stays
    wait_for(lambda: not [c for c in names(k1, "configmaps", "-n", NS) if c.startswith("kof-")],
             "kof-operator's ConfigMaps gone")
    wait_for(lambda: not [s for s in names(k1, "secrets", "-n", NS) if s.startswith("kof-vmuser-creds-")]
             and not names(k1, "promxyservergroups", "-n", NS), "VMUser Secrets and PromxyServerGroup gone")
    kof_secrets = names(k1, "secrets", "-n", "kof")
    assert child_secret in kof_secrets
    assert not [s for s in kof_secrets if s.startswith("kof-vmuser-creds-admin-")]
    for mcs in ("kof-regional-cluster", "kof-child-cluster", "kof-storage-child-secret-propagation"):
        assert not get(k1, "multiclusterservice", mcs)["status"].get("matchingClusters")

    # 2. the umbrella chart: its HelmReleases carry helm.sh/resource-policy: keep, its HelmCharts and
    # HelmRepositories do not
    helm(k1, 3, "uninstall", "--wait", "--cascade", "foreground", "-n", "kof", "kof")
    # (kof-collectors and kof-storage are off in global.components by default: the docs' list names them for
    # setups that enable them)
    assert set(hrs(k1)) == set(RELEASES)
    assert not names(k1, "helmcharts", "-n", NS)
    assert not {"kof-repo", "victoria-metrics"} & names(k1, "helmrepositories", "-n", NS)
    assert {"kof-mothership", "kof-regional", "kof-child"} <= {
        s["metadata"]["labels"]["name"] for s in get(k1, "secrets", "-n", "kof", "-l", "owner=helm")["items"]}

    # the trap is still there while the MCSs are: kof-regional / kof-child come before kof-mothership
    assert kubectl(k1, "delete", "servicetemplate", "-n", NS, "kof-storage-1-10-0", check=False).returncode == 1

    # 3. the HelmReleases in the documented order; helm-controller uninstalls each release and waits until its
    # objects are gone (an MCS until kcm removed its ServiceSets and finalizer)
    for name in ORDER:
        if name in hrs(k1):
            kubectl(k1, "delete", "helmrelease", "-n", "kof", name, "--wait", "--timeout=60s")
        assert name not in hrs(k1)
        if name == "kof-child":
            assert "kof-child-cluster" not in names(k1, "multiclusterservices")
        if name == "kof-regional":
            assert "kof-regional-cluster" not in names(k1, "multiclusterservices")
    assert not get(k1, "secrets", "-n", "kof", "-l", "owner=helm")["items"]
    assert not names(k1, "multiclusterservices")
    assert not names(k1, "servicesets", "-A")
    deps = names(k1, "deployments", "-n", "kof")
    assert not [d for d in deps if "promxy" in d or "kof-operator" in d or "operator" in d], deps
    assert not [s for s in names(k1, "secrets", "-n", "kof") if s.startswith("kof-mothership-promxy")]
    # kept by helm (helm.sh/resource-policy: keep, as in kof-mothership 1.10.0): the ServiceTemplates and
    # ServiceTemplateChains; with no MCS left they can now be deleted
    left = names(k1, "servicetemplates", "-n", NS)
    assert set(TEMPLATES) <= left
    assert set(TEMPLATES) <= names(k1, "servicetemplatechains", "-n", NS)
    for t in TEMPLATES:
        assert get(k1, "servicetemplate", "-n", NS, t)["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    kubectl(k1, "delete", "servicetemplate", "-n", NS, "kof-collectors-1-10-0", "--dry-run=server")

    # 4. the namespace
    kubectl(k1, "delete", "ns", "kof", "--wait", "--timeout=60s")
    assert "kof" not in names(k1, "namespaces")
    # CRDs stay (helm never deletes a chart's crds/, PromxyServerGroup's is annotated keep)
    crds = names(k1, "crds")
    assert "promxyservergroups.kof.k0rdent.mirantis.com" in crds
    assert "vmclusters.operator.victoriametrics.com" in crds
