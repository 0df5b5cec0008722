"""kofsim's simulated k0rdent (kofsim/K0RDENT.md) driven by real kubectl and helm 3/4, following the KOF 0.1.1
guide: the seeded management cluster, kcm's webhooks, ClusterDeployments -> virtual clusters -> Sveltos
services, KOF's operators, the scripted faults, and the four stand-in KOF charts (consistent with what Sveltos
puts on the virtual clusters). One kofsim for the module (conftest's `k0rdent`, --ready-after 0.5), reset
between tests. The guide's objects and the helpers below are shared with test_k0rdent_v1beta1.py.

The same tests run on both backends (`k` is parametrized where a test is marked so): the emulator, where kofsim's
k0rdent controllers run in process, and the real one (`kofsim up --api real`: kube-apiserver v1.36.3 with the
same controllers as the `kofsim controllers` process, kcm's webhooks behind a real ValidatingWebhookConfiguration,
a real kube-apiserver per workload cluster), one fresh real backend per test. What only the emulator has (the
control API: scenarios, reset, stats) stays emulator-only."""
from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path

import pytest
import yaml

from kofsim import realapi
from kofsim.testing import RealKube
from kofsim_clients import helm, kubectl

CHARTS = Path(__file__).resolve().parents[1] / "kofsim" / "charts"
NS = "kcm-system"


def regional_cd(name, *, template="aws-standalone-cp-0-1-0", labels=None, services=None, api="v1alpha1",
                domain=None) -> dict:
    """The guide's regional ClusterDeployment (Regional Cluster, step 3), without the guide's
    victoriametrics.security, a key kof-storage 0.1.1 lacks (the stand-in refuses it: kofsim/CHARTS.md)."""
    domain = domain or f"{name}.kof.example.com"
    storage_values = {
        "external-dns": {"enabled": True},
        "victoriametrics": {"vmauth": {"ingress": {"host": f"vmauth.{domain}"}}},
        "grafana": {"ingress": {"host": f"grafana.{domain}"},
                    "security": {"credentials_secret_name": "grafana-admin-credentials"}},
        "cert-manager": {"email": "admin@example.com"}}
    if services is None:
        services = [{"name": "ingress-nginx", "namespace": "ingress-nginx", "template": "ingress-nginx-4-11-3"},
                    {"name": "cert-manager", "namespace": "cert-manager", "template": "cert-manager-1-16-2",
                     "values": "cert-manager:\n  crds:\n    enabled: true\n"},
                    {"name": "kof-storage", "namespace": "kof", "template": "kof-storage-0-1-1",
                     "values": yaml.safe_dump(storage_values)}]
    return {"apiVersion": f"k0rdent.mirantis.com/{api}", "kind": "ClusterDeployment",
            "metadata": {"name": name, "namespace": NS, "labels": {"kof": "storage"}},
            "spec": {"template": template, "credential": "aws-cluster-identity-cred",
                     "config": {"clusterIdentity": {"name": "aws-cluster-identity", "namespace": NS},
                                "controlPlane": {"instanceType": "t3.large"}, "controlPlaneNumber": 1,
                                "publicIP": False, "region": "us-east-2", "worker": {"instanceType": "t3.medium"},
                                "workersNumber": 3,
                                "clusterLabels": {"k0rdent.mirantis.com/kof-storage-secrets": "true",
                                                  "k0rdent.mirantis.com/kof-aws-dns-secrets": "true"}
                                if labels is None else labels},
                     "serviceSpec": {"priority": 100, "services": services}}}


def collectors_values(name, domain) -> dict:
    vmauth = f"https://vmauth.{domain}"
    cred = {"username_key": "username", "password_key": "password",
            "credentials_secret_name": "storage-vmuser-credentials"}
    return {"global": {"clusterName": name},
            "opencost": {"enabled": True, "opencost": {
                "prometheus": {"username_key": "username", "password_key": "password",
                               "existingSecretName": "storage-vmuser-credentials",
                               "external": {"url": f"{vmauth}/vm/select/0/prometheus"}},
                "exporter": {"defaultClusterId": name}}},
            "kof": {"logs": dict(cred, endpoint=f"{vmauth}/vls/insert/opentelemetry/v1/logs"),
                    "metrics": dict(cred, endpoint=f"{vmauth}/vm/insert/0/prometheus/api/v1/write")}}


def child_cd(name, regional="cloud1-region1", *, template="aws-standalone-cp-0-1-0", labels=None, services=None,
             api="v1alpha1") -> dict:
    """The guide's child ClusterDeployment (Child Cluster, step 3)."""
    domain = f"{regional}.kof.example.com"
    if services is None:
        services = [{"name": "cert-manager", "namespace": "kof", "template": "cert-manager-1-16-2",
                     "values": "cert-manager:\n  crds:\n    enabled: true\n"},
                    {"name": "kof-operators", "namespace": "kof", "template": "kof-operators-0-1-1"},
                    {"name": "kof-collectors", "namespace": "kof", "template": "kof-collectors-0-1-1",
                     "values": yaml.safe_dump(collectors_values(name, domain))}]
    return {"apiVersion": f"k0rdent.mirantis.com/{api}", "kind": "ClusterDeployment",
            "metadata": {"name": name, "namespace": NS, "labels": {"kof": "collector"}},
            "spec": {"template": template, "credential": "aws-cluster-identity-cred",
                     "config": {"clusterIdentity": {"name": "aws-cluster-identity", "namespace": NS},
                                "controlPlane": {"instanceType": "t3.large"}, "controlPlaneNumber": 1,
                                "publicIP": False, "region": "us-east-2", "worker": {"instanceType": "t3.small"},
                                "workersNumber": 3,
                                "clusterLabels": {"k0rdent.mirantis.com/kof-storage-secrets": "true"}
                                if labels is None else labels},
                     "serviceSpec": {"priority": 100, "services": services}}}


MOTHERSHIP_VALUES = {"kcm": {"installTemplates": True, "kof": {"clusterProfiles": {"kof-aws-dns-secrets": {
    "matchLabels": {"k0rdent.mirantis.com/kof-aws-dns-secrets": "true"},
    "secrets": ["external-dns-aws-credentials"]}}}}}

DNS_SECRET = ("[default]\naws_access_key_id = AKIAKOFSIMEXAMPLE\n"
              "aws_secret_access_key = kofsim/example/secret/key\n")


def apply(k, *docs, args=(), check=True):
    return kubectl(k, "apply", *args, "-f", "-", input=yaml.safe_dump_all(list(docs)), check=check)


def get(k, *args, kubeconfig=None):
    extra = ["--kubeconfig", str(kubeconfig)] if kubeconfig else []
    return json.loads(kubectl(k, *extra, "get", *args, "-o", "json").stdout)


def wait_for(fn, what, timeout=40.0, interval=0.2):
    """Poll fn until it returns something truthy (no timing margin: only an upper bound for failure)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def install_management(k, v, values_dir, *, extra=()):
    """The guide's Management Cluster steps: the DNS secret, kof-operators, kof-mothership."""
    kubectl(k, "create", "namespace", "kof")
    kubectl(k, "create", "secret", "generic", "-n", "kof", "external-dns-aws-credentials",
            "--from-literal", f"external-dns-aws-credentials={DNS_SECRET}")
    helm(k, v, "install", "--wait", "-n", "kof", "kof-operators", str(CHARTS / "kof-operators"))
    vf = Path(values_dir) / "mothership-values.yaml"
    vf.write_text(yaml.safe_dump(MOTHERSHIP_VALUES))
    helm(k, v, "install", "--wait", "-f", str(vf), "-n", "kof", "kof-mothership", str(CHARTS / "kof-mothership"),
         *extra)


def kubeconfig_of(k, name, directory) -> Path:
    sec = get(k, "secret", "-n", NS, f"{name}-kubeconfig")
    path = Path(directory) / f"{name}.kubeconfig"
    path.write_bytes(base64.b64decode(sec["data"]["value"]))
    return path


def ready(k, *names):
    items = {c["metadata"]["name"]: c for c in get(k, "clusterdeployments", "-n", NS)["items"]}
    return all(any(c["type"] == "Ready" and c["status"] == "True"
                   for c in (items.get(n, {}).get("status") or {}).get("conditions") or []) for n in names)


def summaries(k) -> dict:
    """ClusterSummary name -> {featureID: (status, failureMessage)}."""
    return {s["metadata"]["name"]: {f["featureID"]: (f["status"], f.get("failureMessage", ""))
                                    for f in (s.get("status") or {}).get("featureSummaries") or []}
            for s in get(k, "clustersummaries", "-n", NS)["items"]}


def pods_by_namespace(k, kubeconfig) -> dict:
    out: dict = {}
    for p in get(k, "pods", "-A", kubeconfig=kubeconfig)["items"]:
        out.setdefault(p["metadata"]["namespace"], {})[p["metadata"]["name"]] = (p.get("status") or {}).get("phase")
    return out


def ids(objs) -> set:
    return {(o["apiVersion"], o["kind"], o["metadata"].get("namespace") or "", o["metadata"]["name"]) for o in objs}


def guide_psg(regional, labels=None, secret="storage-vmuser-credentials", name=None):
    return {"apiVersion": "kof.k0rdent.mirantis.com/v1alpha1", "kind": "PromxyServerGroup",
            "metadata": {"name": name or f"{regional}-metrics", "namespace": "kof",
                         "labels": {"app.kubernetes.io/name": "promxy-operator",
                                    "k0rdent.mirantis.com/promxy-secret-name": "kof-mothership-promxy-config"}
                         if labels is None else labels},
            "spec": {"cluster_name": regional, "targets": [f"vmauth.{regional}.kof.example.com:443"],
                     "path_prefix": "/vm/select/0/prometheus/", "scheme": "https",
                     "http_client": {"dial_timeout": "5s", "tls_config": {"insecure_skip_verify": True},
                                     "basic_auth": {"credentials_secret_name": secret, "username_key": "username",
                                                    "password_key": "password"}}}}


def guide_datasource(regional):
    return {"apiVersion": "grafana.integreatly.org/v1beta1", "kind": "GrafanaDatasource",
            "metadata": {"name": f"{regional}-logs", "namespace": "kof"},
            "spec": {"valuesFrom": [
                {"targetPath": "basicAuthUser",
                 "valueFrom": {"secretKeyRef": {"key": "username", "name": "storage-vmuser-credentials"}}},
                {"targetPath": "secureJsonData.basicAuthPassword",
                 "valueFrom": {"secretKeyRef": {"key": "password", "name": "storage-vmuser-credentials"}}}],
                "datasource": {"name": regional, "url": f"https://vmauth.{regional}.kof.example.com/vls",
                               "access": "proxy", "isDefault": False, "type": "victoriametrics-logs-datasource",
                               "basicAuth": True, "basicAuthUser": "${username}",
                               "secureJsonData": {"basicAuthPassword": "${password}"}},
                "instanceSelector": {"matchLabels": {"dashboards": "grafana"}}, "resyncPeriod": "5m"}}


def promxy_config(k) -> dict:
    sec = get(k, "secret", "-n", "kof", "kof-mothership-promxy-config")
    return yaml.safe_load(base64.b64decode(sec["data"]["config.yaml"]) or b"") or {}


def stats(k) -> dict:
    """What would show any write (the emulator's per-cluster resourceVersion; on the real backend, the
    resourceVersions of the management cluster's k0rdent, Sveltos and KOF objects and of every workload cluster's
    objects, read through kubectl)."""
    if k.api == "emulator":
        return k.call("GET", "/kofsim/stats")
    kinds = ("clusterdeployments,clustersummaries,profiles,servicetemplates,secrets,configmaps,deployments,"
             "statefulsets,pods,grafanas,grafanadatasources,vmclusters,promxyservergroups")
    out = {"": {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o["metadata"]["resourceVersion"]
                for o in get(k, kinds, "-A")["items"]}}
    for sec in get(k, "secrets", "-n", NS)["items"]:
        if sec["metadata"]["name"].endswith("-kubeconfig"):
            kc = Path(k.home) / sec["metadata"]["name"]
            kc.write_bytes(base64.b64decode(sec["data"]["value"]))
            out[sec["metadata"]["name"]] = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]):
                                            o["metadata"]["resourceVersion"]
                                            for o in get(k, "all,secrets,configmaps", "-A", kubeconfig=kc)["items"]}
    return out


def workload_clusters(k) -> list[str]:
    if k.api == "emulator":
        return [c["id"] for c in k.call("GET", "/kofsim/clusters")["clusters"] if c["id"]]
    return sorted(k.workload_clusters())


BACKENDS = pytest.mark.parametrize("k", ["emulator", "real"], indirect=True)


@pytest.fixture
def k(request, k0rdent, tmp_path_factory):
    """The emulator (reset), or, for a test parametrized with "real", a fresh real backend with the simulated
    k0rdent (kofsim controllers)."""
    api = getattr(request, "param", "emulator")
    if api == "emulator":
        k0rdent.reset()
        k0rdent.api = "emulator"
        yield k0rdent
        return
    reason = realapi.missing()
    if reason and not os.environ.get("KOFSIM_REQUIRE_REAL"):
        pytest.skip(f"the real API backend is not built: {reason}")
    real = RealKube(tmp_path_factory.mktemp("real"), k0rdent=True, ready_after=0.5)
    real.start()
    real.home = tmp_path_factory.mktemp("home")
    real.api = "real"
    try:
        yield real
    finally:
        real.stop()


# ------------------------------------------------------------------------------------------ tests
@BACKENDS
def test_seeded_management_cluster_and_kcm_webhooks(k):
    nss = {n["metadata"]["name"] for n in get(k, "namespaces")["items"]}
    assert {"kcm-system", "projectsveltos"} <= nss
    crds = {c["metadata"]["name"]: c for c in get(k, "crds")["items"]}
    for name in ("clusterdeployments", "clustertemplates", "servicetemplates", "credentials",
                 "multiclusterservices", "managements"):
        crd = crds[f"{name}.k0rdent.mirantis.com"]
        # kcm 0.1.x serves v1alpha1 only
        assert [v["name"] for v in crd["spec"]["versions"]] == ["v1alpha1"], name
    assert {"clusterprofiles.config.projectsveltos.io", "clustersummaries.config.projectsveltos.io",
            "profiles.config.projectsveltos.io"} <= set(crds)
    mgmt = get(k, "management", "kcm")
    assert mgmt["status"]["release"] == "kcm-0-1-0"
    templates = {t["metadata"]["name"] for t in get(k, "clustertemplates", "-n", NS)["items"]}
    assert {"aws-standalone-cp-0-1-0", "aws-standalone-cp-0-1-1"} <= templates
    cred = get(k, "credential", "-n", NS, "aws-cluster-identity-cred")
    assert cred["status"]["ready"] is True
    # kcm's own ServiceTemplates for the guide's services, validated by the ServiceTemplate controller
    valid = wait_for(lambda: {s["metadata"]["name"]: (s.get("status") or {}).get("valid")
                              for s in get(k, "servicetemplates", "-n", NS)["items"]}, "kcm's ServiceTemplates")
    assert valid == {"cert-manager-1-16-2": True, "ingress-nginx-4-11-3": True}

    # the ClusterDeployment webhook (kcm v0.1.0's rules and messages), dry run included; nothing is stored
    hook = 'admission webhook "validation.clusterdeployment.k0rdent.mirantis.com" denied the request: ' \
           "the ClusterDeployment is invalid: "
    cases = [
        (regional_cd("r1", template="aws-standalone-cp-9-9-9"),
         'clustertemplates.k0rdent.mirantis.com "aws-standalone-cp-9-9-9" not found'),
        (dict(regional_cd("r2"), spec=dict(regional_cd("r2")["spec"], credential="nope")),
         'credentials.k0rdent.mirantis.com "nope" not found'),
        # the Credential's identity kind must be one the template's infrastructure provider takes
        (dict(regional_cd("r4"), spec=dict(regional_cd("r4")["spec"], template="adopted-cluster-0-1-0")),
         'wrong kind of the ClusterIdentity "AWSClusterStaticIdentity" for provider "infrastructure-internal"'),
        # before kof-mothership created its templates (kof#57)
        (regional_cd("r3"), 'servicetemplates.k0rdent.mirantis.com "kof-storage-0-1-1" not found'),
    ]
    for cd, why in cases:
        for args in (["--dry-run=server"], []):
            res = apply(k, cd, args=args, check=False)
            assert res.returncode != 0 and hook + why in res.stderr, (args, res.stderr)
    # a ServiceTemplate whose chart kofsim cannot serve is not valid, and the webhook says so
    apply(k, {"apiVersion": "k0rdent.mirantis.com/v1alpha1", "kind": "ServiceTemplate",
              "metadata": {"name": "mystery-1-0-0", "namespace": NS},
              "spec": {"helm": {"chartSpec": {"chart": "mystery", "version": "1.0.0", "interval": "10m0s",
                                              "sourceRef": {"kind": "HelmRepository", "name": "kcm-templates"}}}}})
    st = wait_for(lambda: (get(k, "servicetemplate", "-n", NS, "mystery-1-0-0").get("status") or {})
                  .get("validationError"), "validationError")
    assert st == "chart mystery not found in repository kcm-templates"
    res = apply(k, child_cd("c1", services=[{"name": "m", "namespace": "m", "template": "mystery-1-0-0"}]),
                check=False)
    assert hook + "the template is not valid: chart mystery not found in repository kcm-templates" in res.stderr
    assert get(k, "clusterdeployments", "-n", NS)["items"] == []


@BACKENDS
def test_template_change_only_to_an_available_upgrade(k):
    """kcm v0.1.0: a ClusterDeployment's spec.template changes only to one of its status.availableUpgrades,
    which kcm's controller takes from the namespace's ClusterTemplateChains."""
    apply(k, child_cd("u1", services=[]))
    wait_for(lambda: ready(k, "u1"), "u1 Ready")
    assert "availableUpgrades" not in get(k, "clusterdeployment", "-n", NS, "u1")["status"]
    moved = child_cd("u1", template="aws-standalone-cp-0-1-1", services=[])
    for args in (["--dry-run=server"], []):
        res = apply(k, moved, args=args, check=False)
        assert res.returncode != 0 and 'admission webhook "validation.clusterdeployment.k0rdent.mirantis.com" ' \
            "denied the request: cluster upgrade is forbidden" in res.stderr, res.stderr
        assert "Cluster can't be upgraded from aws-standalone-cp-0-1-0 to aws-standalone-cp-0-1-1. This upgrade " \
            "sequence is not allowed" in res.stderr  # kcm's warning
    apply(k, {"apiVersion": "k0rdent.mirantis.com/v1alpha1", "kind": "ClusterTemplateChain",
              "metadata": {"name": "aws-standalone-cp", "namespace": NS},
              "spec": {"supportedTemplates": [
                  {"name": "aws-standalone-cp-0-1-0", "availableUpgrades": [{"name": "aws-standalone-cp-0-1-1"}]},
                  {"name": "aws-standalone-cp-0-1-1"}]}})
    wait_for(lambda: get(k, "clusterdeployment", "-n", NS, "u1")["status"].get("availableUpgrades")
             == ["aws-standalone-cp-0-1-1"], "availableUpgrades from the chain")
    apply(k, moved)
    assert get(k, "clusterdeployment", "-n", NS, "u1")["spec"]["template"] == "aws-standalone-cp-0-1-1"
    # and nowhere back: 0-1-1 offers no upgrade
    wait_for(lambda: "availableUpgrades" not in get(k, "clusterdeployment", "-n", NS, "u1")["status"],
             "no upgrade from 0-1-1")
    res = apply(k, child_cd("u1", services=[]), check=False)
    assert res.returncode != 0 and "cluster upgrade is forbidden" in res.stderr


@BACKENDS
def test_guide_rollout_virtual_clusters_services_operators_and_deletion(k, tmp_path):
    install_management(k, 3, tmp_path)
    # kof-mothership: templates next to kcm's, the two credentials Secrets, Services, the promxy Secret, CRDs
    sts = wait_for(lambda: {s["metadata"]["name"]: s for s in get(k, "servicetemplates", "-n", NS)["items"]
                            if (s.get("status") or {}).get("valid")}, "5 valid templates")
    assert set(sts) == {"cert-manager-1-16-2", "ingress-nginx-4-11-3", "kof-operators-0-1-1",
                        "kof-collectors-0-1-1", "kof-storage-0-1-1"}
    release_of = {n: s["metadata"].get("annotations", {}).get("meta.helm.sh/release-name") for n, s in sts.items()}
    assert release_of["kof-storage-0-1-1"] == "kof-mothership" and release_of["cert-manager-1-16-2"] == "kcm-templates"
    secrets = {s["metadata"]["name"]: s for s in get(k, "secrets", "-n", "kof")["items"]}
    vmuser = {key: base64.b64decode(v).decode() for key, v in secrets["storage-vmuser-credentials"]["data"].items()}
    assert len(vmuser["username"]) == 8 and vmuser["username"].islower() and len(vmuser["password"]) == 12
    assert set(secrets["grafana-admin-credentials"]["data"]) == {"GF_SECURITY_ADMIN_USER",
                                                                 "GF_SECURITY_ADMIN_PASSWORD"}
    assert secrets["kof-mothership-promxy-config"]["data"]["config.yaml"] == ""
    # grafana-vm-service comes from grafana-operator (the Grafana resource), dashboard from the chart
    wait_for(lambda: {"grafana-vm-service", "dashboard"} <= {s["metadata"]["name"] for s in get(
        k, "services", "-n", "kof")["items"]}, "grafana-vm-service and dashboard")
    psg_crd = get(k, "crd", "promxyservergroups.kof.k0rdent.mirantis.com")
    assert [v["name"] for v in psg_crd["spec"]["versions"]] == ["v1alpha1"]

    reg, child = "cloud1-region1", "cloud1-region1-child1"
    assert "created" in apply(k, regional_cd(reg), child_cd(child, reg)).stdout
    wait_for(lambda: ready(k, reg, child), "Ready")
    want = {f"p--{reg}-capi-{reg}": "Helm", f"p--{child}-capi-{child}": "Helm",
            f"kof-storage-secrets-capi-{reg}": "Resources", f"kof-storage-secrets-capi-{child}": "Resources",
            f"kof-aws-dns-secrets-capi-{reg}": "Resources"}
    got = wait_for(lambda: (lambda s: s if all(s.get(n, {}).get(f, ("",))[0] == "Provisioned"
                                               for n, f in want.items()) else None)(summaries(k)),
                   "ClusterSummaries Provisioned")
    assert f"kof-aws-dns-secrets-capi-{child}" not in got  # the child is not labelled for the DNS secret
    cs = get(k, "clustersummary", "-n", NS, f"p--{child}-capi-{child}")
    assert [(h["releaseName"], h["releaseNamespace"], h["status"]) for h in cs["status"]["helmReleaseSummaries"]] \
        == [("cert-manager", "kof", "Managing"), ("kof-operators", "kof", "Managing"),
            ("kof-collectors", "kof", "Managing")]
    out = kubectl(k, "get", "clustersummaries", "-n", NS, "-o", "wide").stdout
    # Sveltos v0.45.0's printer columns: HELMCHARTS, KUSTOMIZEREFS, POLICYREFS; one feature each here
    assert out.split()[:5] == ["NAME", "AGE", "HELMCHARTS", "KUSTOMIZEREFS", "POLICYREFS"], out
    assert all(line.split()[2:5].count("Provisioned") == 1 for line in out.splitlines()[1:]), out

    rkc, ckc = kubeconfig_of(k, reg, tmp_path), kubeconfig_of(k, child, tmp_path)
    server = yaml.safe_load(rkc.read_text())["clusters"][0]["cluster"]["server"]
    if k.api == "emulator":  # a virtual cluster of the emulator's process
        assert server.endswith(f"/clusters/{NS}/{reg}")
    else:  # a kube-apiserver of its own
        assert server.startswith("https://127.0.0.1:") and server != k.url

    def all_running(kc, namespaces):
        pods = pods_by_namespace(k, kc)
        ok = set(pods) == namespaces and all(ph == "Running" for ns in pods.values() for ph in ns.values())
        return pods if ok else None
    rpods = wait_for(lambda: all_running(rkc, {"cert-manager", "ingress-nginx", "kof", "kube-system",
                                               "projectsveltos"}), "regional pods Running")
    cpods = wait_for(lambda: all_running(ckc, {"kof", "kube-system", "projectsveltos"}), "child pods Running")
    for name in ("vmauth-cluster", "vminsert-cluster", "grafana-vm-deployment", "kof-storage-grafana-operator",
                 "kof-storage-victoria-metrics-operator", "kof-storage-external-dns", "vmalert-cluster"):
        assert any(p.startswith(name + "-") for p in rpods["kof"]), (name, rpods["kof"])
    for name in ("vmselect-cluster-0", "vmstorage-cluster-0", "vmalertmanager-cluster-0",
                 "kof-storage-victoria-logs-single-server-0"):
        assert name in rpods["kof"], (name, rpods["kof"])
    # grafana-operator v5.15.1 updates its Grafana's data claim in place: a new class is refused (a claim's spec is
    # immutable), and the operator stops at its pvc stage with the server's message; deleted, the claim goes once
    # no pod on a node holds it (the Deployment's new pod waits unscheduled) and the operator creates it anew
    # Sveltos installs kof-storage with helm's SDK: every object of the release carries helm's managed-by label and
    # release annotations (setMetadataVisitor), which the collection's backup and restore read
    grafana_meta = get(k, "grafanas.grafana.integreatly.org", "-n", "kof", "grafana-vm", kubeconfig=rkc)["metadata"]
    assert grafana_meta["labels"]["app.kubernetes.io/managed-by"] == "Helm", grafana_meta
    assert {a: grafana_meta["annotations"].get(a) for a in ("meta.helm.sh/release-name",
                                                            "meta.helm.sh/release-namespace")} == {
        "meta.helm.sh/release-name": "kof-storage", "meta.helm.sh/release-namespace": "kof"}, grafana_meta
    grafana_claim = get(k, "pvc", "-n", "kof", "grafana-vm-pvc", kubeconfig=rkc)
    kubectl(k, "--kubeconfig", str(rkc), "apply", "-f", "-", input=yaml.safe_dump(
        {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "fast"},
         "provisioner": "ebs.csi.aws.com"}))
    kubectl(k, "--kubeconfig", str(rkc), "patch", "grafanas.grafana.integreatly.org", "-n", "kof", "grafana-vm",
            "--type=merge", "-p", '{"spec": {"persistentVolumeClaim": {"spec": {"storageClassName": "fast"}}}}')

    def grafana_status(stage_status):
        st = get(k, "grafanas.grafana.integreatly.org", "-n", "kof", "grafana-vm", kubeconfig=rkc).get("status") or {}
        return st if st.get("stageStatus") == stage_status else None
    st = wait_for(lambda: grafana_status("failed"), "Grafana stage pvc failed")
    assert st["stage"] == "pvc" and st["lastMessage"].startswith(
        'PersistentVolumeClaim "grafana-vm-pvc" is invalid: spec: Forbidden: spec is immutable after creation'), st
    kubectl(k, "--kubeconfig", str(rkc), "delete", "pvc", "-n", "kof", "grafana-vm-pvc", "--wait=false")
    kubectl(k, "--kubeconfig", str(rkc), "delete", "pod", "-n", "kof", "-l", "app=grafana-vm", "--wait=false")
    new_claim = wait_for(lambda: next((c for c in get(k, "pvc", "-n", "kof", kubeconfig=rkc)["items"]
                                       if c["metadata"]["name"] == "grafana-vm-pvc"
                                       and c["metadata"]["uid"] != grafana_claim["metadata"]["uid"]), None),
                         "a new grafana-vm-pvc", timeout=60)
    assert new_claim["spec"]["storageClassName"] == "fast"
    wait_for(lambda: grafana_status("success"), "Grafana through its stages", timeout=30)
    wait_for(lambda: all_running(rkc, {"cert-manager", "ingress-nginx", "kof", "kube-system", "projectsveltos"}),
             "regional pods Running again")
    for name in ("kof-collectors-k8s-cluster-collector", "kof-collectors-node-exporter-collector",
                 "kof-collectors-opencost", "kof-collectors-kube-state-metrics",
                 "kof-collectors-prometheus-node-exporter", "kof-operators-opentelemetry-operator", "cert-manager"):
        assert any(p.startswith(name + "-") for p in cpods["kof"]), (name, cpods["kof"])
    svc = get(k, "svc", "-n", "ingress-nginx", "ingress-nginx-controller", kubeconfig=rkc)
    assert svc["status"]["loadBalancer"]["ingress"][0]["hostname"].endswith(".us-east-2.elb.amazonaws.com")
    ing = get(k, "ingress", "-n", "kof", "vmauth-cluster", kubeconfig=rkc)
    assert ing["spec"]["rules"][0]["host"] == f"vmauth.{reg}.kof.example.com"
    assert ing["spec"]["tls"][0]["secretName"] == "vmauth-tls"
    # Sveltos copied the Secrets the ClusterProfiles name into the matching clusters only
    for kc in (rkc, ckc):
        copy = get(k, "secret", "-n", "kof", "storage-vmuser-credentials", kubeconfig=kc)
        assert copy["data"] == secrets["storage-vmuser-credentials"]["data"]
    assert "external-dns-aws-credentials" in {s["metadata"]["name"] for s in get(
        k, "secrets", "-n", "kof", kubeconfig=rkc)["items"]}
    assert "external-dns-aws-credentials" not in {s["metadata"]["name"] for s in get(
        k, "secrets", "-n", "kof", kubeconfig=ckc)["items"]}
    # the releases Sveltos installed, as helm sees them on the child
    rels = json.loads(helm(k, 3, "list", "-A", "-o", "json", "--kubeconfig", str(ckc)).stdout)
    assert {(r["name"], r["namespace"], r["status"]) for r in rels} == {
        ("cert-manager", "kof", "deployed"), ("kof-operators", "kof", "deployed"),
        ("kof-collectors", "kof", "deployed")}
    manifest = [d for d in yaml.safe_load_all(helm(k, 3, "get", "manifest", "-n", "kof", "kof-collectors",
                                                   "--kubeconfig", str(ckc)).stdout) if d]
    assert ("OpenTelemetryCollector", "kof-collectors-k8s-cluster") in {(d["kind"], d["metadata"]["name"])
                                                                         for d in manifest}
    cols = {c["metadata"]["name"]: c for c in get(k, "opentelemetrycollectors", "-n", "kof", kubeconfig=ckc)["items"]}
    assert wait_for(lambda: all((c.get("status") or {}).get("scale", {}).get("statusReplicas") == "1/1" for c in
                                get(k, "opentelemetrycollectors", "-n", "kof", kubeconfig=ckc)["items"]),
                    "collectors 1/1")
    exporters = cols["kof-collectors-k8s-cluster"]["spec"]["config"]["exporters"]
    assert exporters["prometheusremotewrite"]["endpoint"] == \
        f"https://vmauth.{reg}.kof.example.com/vm/insert/0/prometheus/api/v1/write"
    assert cols["kof-collectors-k8s-cluster"]["spec"]["config"]["extensions"]["basicauth/metrics"][
        "client_auth"]["username"] == vmuser["username"]
    # kcm's status: the conditions and the Sveltos state of each service
    cd = get(k, "cld", "-n", NS, child)
    assert {c["type"] for c in cd["status"]["conditions"]} >= {"TemplateReady", "HelmChartReady",
                                                               "SveltosProfileReady", "Ready"}
    conds = {c["type"]: c for c in cd["status"]["services"][0]["conditions"]}
    assert conds["Helm"]["reason"] == "Provisioned"
    assert conds["kof.kof-collectors/SveltosHelmReleaseReady"]["reason"] == "Managing"
    profile = get(k, "profile", "-n", NS, child)
    assert [c["releaseName"] for c in profile["spec"]["helmCharts"]] == ["cert-manager", "kof-operators",
                                                                         "kof-collectors"]

    # steady state: applying the same objects again changes nothing, and nothing runs on its own
    assert "unchanged" in apply(k, regional_cd(reg)).stdout
    before = stats(k)
    time.sleep(1.0)
    assert stats(k) == before

    # the guide's PromxyServerGroup and GrafanaDatasource -> promxy-operator and grafana-operator
    apply(k, guide_psg(reg), guide_datasource(reg))
    groups = wait_for(lambda: promxy_config(k).get("promxy", {}).get("server_groups"), "promxy config")
    assert groups == [{"static_configs": [{"targets": [f"vmauth.{reg}.kof.example.com:443"]}],
                       "path_prefix": "/vm/select/0/prometheus/", "scheme": "https",
                       "http_client": {"dial_timeout": "5s", "tls_config": {"insecure_skip_verify": True},
                                       "basic_auth": vmuser}, "labels": {"promxyCluster": reg}}]
    ds = wait_for(lambda: get(k, "grafanadatasource", "-n", "kof", f"{reg}-logs").get("status"), "datasource status")
    # grafana-operator v5.13.0's status: no conditions, NoMatchingInstances false (omitted), hash, uid, lastResync
    assert set(ds) == {"hash", "uid", "lastResync"} and len(ds["hash"]) == 64
    # 0.1.x: a PSG without the secret-name label is skipped; one whose credentials Secret is missing stops the
    # whole render (the good PSG's change is not rendered either) until it is fixed
    good = guide_psg(reg)
    good["spec"]["targets"] = [f"vmauth2.{reg}.kof.example.com:443"]
    apply(k, guide_psg("unlabelled", labels={}), guide_psg("broken", secret="missing-secret"), good)
    time.sleep(1.0)
    assert [g["labels"]["promxyCluster"] for g in promxy_config(k)["promxy"]["server_groups"]] == [reg]
    assert promxy_config(k)["promxy"]["server_groups"][0]["static_configs"][0]["targets"][0].startswith("vmauth.")
    kubectl(k, "delete", "promxyservergroup", "-n", "kof", "broken-metrics")
    wait_for(lambda: promxy_config(k)["promxy"]["server_groups"][0]["static_configs"][0]["targets"]
             == [f"vmauth2.{reg}.kof.example.com:443"], "re-render without the broken PSG")
    assert [g["labels"]["promxyCluster"] for g in promxy_config(k)["promxy"]["server_groups"]] == [reg]
    nomatch = guide_datasource("other")
    nomatch["spec"]["instanceSelector"] = {"matchLabels": {"dashboards": "elsewhere"}}
    apply(k, nomatch)
    assert wait_for(lambda: (get(k, "grafanadatasource", "-n", "kof", "other-logs").get("status") or {})
                    .get("NoMatchingInstances"), "NoMatchingInstances")

    # a template in use cannot be deleted (kof#615); deleting the child tears its cluster down
    res = kubectl(k, "delete", "servicetemplate", "-n", NS, "kof-collectors-0-1-1", check=False)
    assert res.returncode != 0 and 'admission webhook "validation.servicetemplate.k0rdent.mirantis.com" denied the ' \
        "request: template deletion is forbidden" in res.stderr
    assert "The ServiceTemplate object can't be removed if ClusterDeployment objects referencing it still exist" \
        in res.stderr  # kcm's warning
    kubectl(k, "delete", "--wait", "--cascade=foreground", "clusterdeployment", "-n", NS, child, "--timeout=30s")
    assert child not in {c["metadata"]["name"] for c in get(k, "cld", "-n", NS)["items"]}
    assert not any(child in n for n in summaries(k))
    assert f"{child}-kubeconfig" not in {s["metadata"]["name"] for s in get(k, "secrets", "-n", NS)["items"]}
    gone = kubectl(k, "--kubeconfig", str(ckc), "get", "pods", "-A", check=False)
    assert gone.returncode != 0
    assert workload_clusters(k) == [f"{NS}/{reg}"]


def test_scripted_faults_and_render_time_dependencies(k, tmp_path):
    install_management(k, 4, tmp_path)
    k.scenario(never_ready=["nr"], no_kubeconfig=["nk"], fail_service={"fs": ["kof-collectors"]},
               crashloop={"cl": ["kof/kof-collectors-opencost"]})
    no_operators = child_cd("noop")
    no_operators["spec"]["serviceSpec"]["services"] = [s for s in no_operators["spec"]["serviceSpec"]["services"]
                                                       if s["name"] != "kof-operators"]
    apply(k, child_cd("nr"), child_cd("nk"), child_cd("fs"), child_cd("cl"), no_operators,
          regional_cd("nolabel", labels={}))
    wait_for(lambda: ready(k, "nk", "fs", "cl", "noop", "nolabel"), "Ready")

    def failed(name):
        f = summaries(k).get(f"p--{name}-capi-{name}", {}).get("Helm")
        return f[1] if f and f[0] == "Failed" else None
    # a service that fails to install, visibly, and recovers when the fault is gone
    assert "kof-collectors: context deadline exceeded (kofsim scenario fail_service)" in \
        wait_for(lambda: failed("fs"), "fs Failed")
    # kof-storage `lookup`s the credentials Secret at render time: without the kof-storage-secrets label it
    # is not on the cluster, and helm fails as the real chart does
    assert 'kof-storage: Error: template: kof-storage/templates/victoriametrics.yaml: executing ' \
           '"kof-storage/templates/victoriametrics.yaml" at <index $secret.data $cred.username_key>: error calling ' \
           'index: index of untyped nil' in wait_for(lambda: failed("nolabel"), "nolabel Failed")
    # kof-collectors' OpenTelemetryCollectors need kof-operators' CRDs
    assert 'no matches for kind "OpenTelemetryCollector" in version "opentelemetry.io/v1beta1"\nensure CRDs are ' \
           'installed first' in wait_for(lambda: failed("noop"), "noop Failed")
    cd = get(k, "cld", "-n", NS, "nolabel")
    helm_cond = next(c for c in cd["status"]["services"][0]["conditions"] if c["type"] == "Helm")
    assert helm_cond["status"] == "False" and "index of untyped nil" in helm_cond["message"]
    assert wait_for(lambda: not summaries(k).get("p--nr-capi-nr"), "no summary for a cluster that is not ready")
    nr = get(k, "cld", "-n", NS, "nr")
    assert next(c for c in nr["status"]["conditions"] if c["type"] == "Ready")["reason"] == "Provisioning"
    kubeconfigs = {s["metadata"]["name"] for s in get(k, "secrets", "-n", NS)["items"]}
    assert "nr-kubeconfig" not in kubeconfigs and "nk-kubeconfig" not in kubeconfigs and "cl-kubeconfig" in kubeconfigs
    # a crash-looping pod in a virtual cluster
    ckc = kubeconfig_of(k, "cl", tmp_path)

    def crashing():
        pods = get(k, "pods", "-n", "kof", kubeconfig=ckc)["items"]
        return [p["metadata"]["name"] for p in pods if any(
            (cs.get("state") or {}).get("waiting", {}).get("reason") == "CrashLoopBackOff"
            for cs in (p.get("status") or {}).get("containerStatuses") or [])]
    assert all(n.startswith("kof-collectors-opencost-") for n in wait_for(crashing, "CrashLoopBackOff"))
    assert "CrashLoopBackOff" in kubectl(k, "--kubeconfig", str(ckc), "get", "pods", "-n", "kof").stdout

    # fixing the causes: the label (Sveltos copies the Secret, then kof-storage renders), the scenario
    kubectl(k, "patch", "cld", "-n", NS, "nolabel", "--type", "merge", "-p",
            json.dumps({"spec": {"config": {"clusterLabels": {"k0rdent.mirantis.com/kof-storage-secrets": "true"}}}}))
    k.scenario(fail_service={}, never_ready=[])
    for name in ("nolabel", "fs", "nr"):
        wait_for(lambda: summaries(k).get(f"p--{name}-capi-{name}", {}).get("Helm", ("",))[0] == "Provisioned",
                 f"{name} Provisioned")
    assert ready(k, "nr")

    # a cluster that stops matching a ClusterProfile loses what the profile deployed, and its summary
    kubectl(k, "patch", "cld", "-n", NS, "nolabel", "--type", "json", "-p", json.dumps(
        [{"op": "remove", "path": "/spec/config/clusterLabels/k0rdent.mirantis.com~1kof-storage-secrets"}]))
    wait_for(lambda: "kof-storage-secrets-capi-nolabel" not in summaries(k), "summary withdrawn")
    nkc = kubeconfig_of(k, "nolabel", tmp_path)
    assert "storage-vmuser-credentials" not in {s["metadata"]["name"] for s in get(
        k, "secrets", "-n", "kof", kubeconfig=nkc)["items"]}
    # services taken off the list are uninstalled; no services, no Profile and no summary
    kubectl(k, "patch", "cld", "-n", NS, "fs", "--type", "merge", "-p", '{"spec":{"serviceSpec":{"services":[]}}}')
    wait_for(lambda: "p--fs-capi-fs" not in summaries(k), "services summary removed")
    fkc = kubeconfig_of(k, "fs", tmp_path)
    assert json.loads(helm(k, 4, "list", "-A", "-o", "json", "--kubeconfig", str(fkc)).stdout) == []
    wait_for(lambda: "fs" not in {p["metadata"]["name"] for p in get(k, "profiles", "-n", NS)["items"]},
             "Profile removed")


def catalog_ids(chart, release, ns, values, vmuser):
    from kofsim.k0rdent import catalog

    def lookup(_api, kind, _ns, name):
        if kind == "Secret" and name == "storage-vmuser-credentials":
            return {"data": {k: base64.b64encode(v.encode()).decode() for k, v in vmuser.items()}}
        return None
    return ids(catalog.objects_for(chart, release, ns, values, lookup)[1])


@pytest.mark.parametrize("k,v", [("emulator", 3), ("emulator", 4), ("real", 3)], indirect=["k"])
def test_stand_in_charts_with_helm(k, tmp_path, v):
    install_management(k, v, tmp_path)
    secrets = {s["metadata"]["name"]: s for s in get(k, "secrets", "-n", "kof")["items"]}
    assert {"storage-vmuser-credentials", "grafana-admin-credentials", "kof-mothership-promxy-config"} <= set(secrets)
    if v == 4:  # (chart behaviour, not helm's: once is enough; helm 3's --wait polls every 2 s)
        # the random credentials survive an upgrade (lookup), as in the real chart
        helm(k, v, "upgrade", "--wait", "-f", str(tmp_path / "mothership-values.yaml"), "-n", "kof",
             "kof-mothership", str(CHARTS / "kof-mothership"))
        after = {s["metadata"]["name"]: s for s in get(k, "secrets", "-n", "kof")["items"]}
        for name in ("storage-vmuser-credentials", "grafana-admin-credentials"):
            assert after[name]["data"] == secrets[name]["data"]
    wait_for(lambda: {"grafana-vm-service", "dashboard", "kof-mothership-promxy", "vmselect-cluster"} <= {
        s["metadata"]["name"] for s in get(k, "services", "-n", "kof")["items"]}, "management Services")
    crds = {c["metadata"]["name"] for c in get(k, "crds")["items"]}
    assert {"promxyservergroups.kof.k0rdent.mirantis.com", "grafanadatasources.grafana.integreatly.org",
            "grafanas.grafana.integreatly.org", "vmclusters.operator.victoriametrics.com",
            "vmusers.operator.victoriametrics.com", "opentelemetrycollectors.opentelemetry.io",
            "servicemonitors.monitoring.coreos.com"} <= crds

    # kof-storage and kof-collectors by hand on a regional cluster that has only cert-manager
    cm = [{"name": "cert-manager", "namespace": "cert-manager", "template": "cert-manager-1-16-2",
           "values": "cert-manager:\n  crds:\n    enabled: true\n"}]
    apply(k, regional_cd("byhand", services=cm))
    wait_for(lambda: ready(k, "byhand") and summaries(k).get("p--byhand-capi-byhand", {}).get("Helm", ("",))[0]
             == "Provisioned", "byhand Provisioned")
    kc = kubeconfig_of(k, "byhand", tmp_path)
    wait_for(lambda: "storage-vmuser-credentials" in {s["metadata"]["name"] for s in get(
        k, "secrets", "-n", "kof", kubeconfig=kc)["items"]}, "credentials copied")
    vmuser = {key: base64.b64decode(val).decode() for key, val in secrets["storage-vmuser-credentials"]["data"].items()}
    storage_values = yaml.safe_load(regional_cd("byhand")["spec"]["serviceSpec"]["services"][2]["values"])
    coll_values = collectors_values("byhand", "byhand.kof.example.com")
    for name, values in (("kof-operators", {}), ("kof-storage", storage_values), ("kof-collectors", coll_values)):
        vf = tmp_path / f"{name}.yaml"
        vf.write_text(yaml.safe_dump(values))
        helm(k, v, "install", *(["--wait"] if v == 4 else []), "--kubeconfig", str(kc), "-n", "kof", name,
             str(CHARTS / name), "-f", str(vf))
        manifest = [d for d in yaml.safe_load_all(helm(k, v, "get", "manifest", "--kubeconfig", str(kc), "-n", "kof",
                                                         name).stdout) if d]
        # what Sveltos would have put there for the same service (catalog.py) is what the chart renders
        assert ids(manifest) == catalog_ids(name, name, "kof", values, vmuser), name
    wait_for(lambda: {"grafana-vm-service", "vmauth-cluster", "vmselect-cluster", "vminsert-cluster",
                      "kof-storage-victoria-logs-single-server", "kof-collectors-opencost"} <= {
        s["metadata"]["name"] for s in get(k, "services", "-n", "kof", kubeconfig=kc)["items"]},
        "regional Services")
    pods = wait_for(lambda: (lambda p: p if p and all(ph == "Running" for ph in p.values()) else None)(
        pods_by_namespace(k, kc).get("kof")), "kof pods Running")
    assert any(n.startswith("kof-storage-external-dns-") for n in pods)  # with the DNS Secret Sveltos copied
    user = get(k, "vmuser", "-n", "kof", "vmuser-select", kubeconfig=kc)
    assert user["spec"]["username"] == vmuser["username"]
    issuer = get(k, "clusterissuer", "letsencrypt-prod", kubeconfig=kc)
    assert issuer["spec"]["acme"]["email"] == ""  # the 0.1.1 chart's bug, reproduced
    # without the credentials Secret in its namespace, kof-storage does not render
    res = helm(k, v, "install", "--kubeconfig", str(kc), "--create-namespace", "-n", "elsewhere", "kof-storage",
               str(CHARTS / "kof-storage"), "--set", "cert-manager.enabled=false", check=False)
    assert res.returncode != 0 and "index of untyped nil" in res.stderr


def test_chart_crds_are_the_ones_kofsim_installs():
    """The stand-in charts' crds/ are kofsim's data/crds (what Sveltos installs on virtual clusters)."""
    from kofsim.k0rdent import catalog
    data = CHARTS.parent / "data" / "crds"
    groups = {"kof-mothership": ["grafana", "victoriametrics"]}
    groups.update({name: crds for name, (_, crds) in catalog.KOF_CHARTS.items()})
    for chart, dirs in groups.items():
        shipped = {p.name: p.read_bytes() for p in (CHARTS / chart / "crds").glob("*.yaml")}
        expected = {p.name: p.read_bytes() for d in dirs for p in (data / d).glob("*.yaml")}
        assert shipped == expected, chart


def test_work_that_fails_unexpectedly_is_requeued_not_dropped():
    """Both backends' runtimes: work whose run raised something that is not an API error (an answer the controller
    did not expect, a bug) is retried with a back-off, as controller-runtime requeues every error a reconcile
    returns; dropped, the object's reconcile would be lost for good (a Sveltos sync that no later event schedules:
    a ClusterDeployment whose ClusterSummary never comes)."""
    import threading  # noqa: WPS433

    from kofsim.k0rdent import api  # noqa: WPS433
    from kofsim.k0rdent.rest import ThreadRuntime  # noqa: WPS433

    def flaky(calls, done):
        calls.append(1)
        if len(calls) == 1:
            raise KeyError("spec")
        done.set()
    err = api.Runtime().run_once(flaky, ([], threading.Event()))  # the emulator's runtime: retried by _submit
    assert isinstance(err, KeyError) and api.retry_delay(err, 0) is not None
    assert api.retry_delay(err, 20) <= 30.0
    rt = ThreadRuntime()
    rt.start()
    try:
        calls, done = [], threading.Event()
        rt.schedule(("", "sveltos", NS, "x"), flaky, calls, done)
        assert done.wait(10), calls
        assert len(calls) == 2
    finally:
        rt.stop()
