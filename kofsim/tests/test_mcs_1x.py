"""KOF 1.10's regional and child tiers on kofsim (kcm v1beta1 mode): after the umbrella `kof` chart, labelled
ClusterDeployments get kcm's ServiceSets from every MultiClusterService that selects them (mcs.py), their services
installed on the workload clusters with the values Sveltos would render, and kof-operator's objects
(kofoperator.py): ConfigMaps, the child's VMUser credentials Secret propagated by kof-mothership's
`kof-storage-child-secret-propagation`, the PromxyServerGroup and promxy's config. An unlabelled cluster gets
nothing, a removed role label removes the services, a scripted failure shows up, deletion cleans up."""
from __future__ import annotations

import base64
import gzip
import json
import zlib

import pytest
import yaml

from kofsim_clients import kubectl
from test_flux_1x import kofsim_1x
from test_k0rdent import get, wait_for

NS = "kcm-system"
P = "k0rdent.mirantis.com/"
TEMPLATE = "aws-standalone-cp-1-0-28"
CRED = "aws-cluster-identity-cred"


@pytest.fixture(scope="module")
def k1(tmp_path_factory):
    yield from kofsim_1x(tmp_path_factory, "mcs-1x", installed=True)


def cd(name, labels, annotations=None):
    config = {"region": "us-east-2"}
    if annotations:
        config["clusterAnnotations"] = annotations
    return {"apiVersion": f"{P[:-1]}/v1beta1", "kind": "ClusterDeployment",
            "metadata": {"name": name, "namespace": NS, "labels": labels},
            "spec": {"template": TEMPLATE, "credential": CRED, "config": config}}


def apply(k, *objs):
    kubectl(k, "apply", "-f", "-", input="\n---\n".join(json.dumps(o) for o in objs))


def servicesets(k, cluster, ns=NS):
    return {s["spec"]["multiClusterService"]: s for s in get(k, "servicesets", "-n", ns)["items"]
            if s["spec"]["cluster"] == cluster and not s["metadata"].get("deletionTimestamp")}


def selecting(k, cluster, ns=NS):
    """The MultiClusterServices whose selector matches the ClusterDeployment's labels."""
    labels = get(k, "clusterdeployment", "-n", ns, cluster)["metadata"].get("labels") or {}
    out = set()
    for m in get(k, "multiclusterservices")["items"]:
        sel = m["spec"].get("clusterSelector") or {}
        ok = bool(sel.get("matchLabels") or sel.get("matchExpressions"))
        ok = ok and all(labels.get(a) == b for a, b in (sel.get("matchLabels") or {}).items())
        for e in sel.get("matchExpressions") or []:
            if e["operator"] == "DoesNotExist":
                ok = ok and e["key"] not in labels
            elif e["operator"] == "In":
                ok = ok and labels.get(e["key"]) in e["values"]
        if ok:
            out.add(m["metadata"]["name"])
    return out


def mcs_services(k):
    """{MultiClusterService: its services that are not disabled}: what each of its ServiceSets ends up with. kcm
    adds a service to a ServiceSet only once its dependsOn are deployed (kof-collectors after kof-storage), so a
    ServiceSet whose services are all Deployed may still be missing some."""
    return {m["metadata"]["name"]: [x for x in m["spec"].get("serviceSpec", {}).get("services") or []
                                    if not x.get("disable")] for m in get(k, "multiclusterservices")["items"]}


def all_deployed(k, cluster, ns=NS):
    want = selecting(k, cluster, ns)
    sets = servicesets(k, cluster, ns)
    if not want or set(sets) != want:
        return None
    mcs = mcs_services(k)
    for name, s in sets.items():
        st = s.get("status") or {}
        if not st.get("deployed") or not st.get("services") or \
                any(x["state"] != "Deployed" for x in st["services"]) or \
                len(st["services"]) != len(s["spec"].get("services") or []) or \
                len(st["services"]) != len(mcs.get(name) or []):
            return None
    return sets


def kubeconfig(k, cluster):
    sec = get(k, "secret", "-n", NS, f"{cluster}-kubeconfig")
    path = k.home / f"{cluster}.kubeconfig"
    path.write_bytes(base64.b64decode(sec["data"]["value"]))
    return path


def releases(k, kc, ns="kof"):
    """helm's deployed releases on a workload cluster: name -> (chart, values)."""
    out = {}
    for s in get(k, "secrets", "-n", ns, "-l", "owner=helm,status=deployed", kubeconfig=kc)["items"]:
        rel = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(s["data"]["release"]))))
        out[rel["name"]] = (rel["chart"]["metadata"]["name"], rel.get("config") or {})
    return out


def adler(s):
    return str(zlib.adler32(s.encode()) & 0xffffffff)


def test_regional_and_child(k1):
    domain = "r1.example.com"
    apply(k1, cd("r1", {P + "kof-cluster-role": "regional"},
                 {P + "kof-regional-domain": domain, P + "kof-cert-email": "ops@example.com",
                  P + "kof-storage-values": "victoriametrics:\n  vmcluster:\n    spec:\n      retentionPeriod: 7d\n"}),
          cd("c1", {P + "kof-cluster-role": "child", P + "kof-regional-cluster-name": "r1"}),
          cd("plain", {}))
    rsets = wait_for(lambda: all_deployed(k1, "r1"), "regional ServiceSets deployed", timeout=60)
    csets = wait_for(lambda: all_deployed(k1, "c1"), "child ServiceSets deployed", timeout=60)
    assert set(rsets) == {"kof-regional-cluster"}
    assert set(csets) == {"kof-child-cluster", "kof-storage-child-secret-propagation"}
    assert all(s["metadata"]["ownerReferences"][0]["name"] == "c1" for s in csets.values())
    # the services on the workload clusters, values as Sveltos renders them
    rkc, ckc = kubeconfig(k1, "r1"), kubeconfig(k1, "c1")
    for sets, kc in ((rsets, rkc), (csets, ckc)):
        by_ns: dict = {}
        for s in sets.values():
            for svc in s["spec"]["services"]:
                by_ns.setdefault(svc["namespace"], set()).add(svc["name"])
        for ns, names in by_ns.items():
            assert names <= set(releases(k1, kc, ns)), (ns, names)
    rrel = releases(k1, rkc)
    storage = rrel["kof-storage"][1]
    assert domain in json.dumps(storage)
    assert storage["victoriametrics"]["vmcluster"]["spec"]["retentionPeriod"] == "7d"  # annotation merged last
    crel = releases(k1, ckc)
    assert {"kof-operators", "kof-collectors", "kof-vmuser-creds"} <= set(crel)
    assert crel["kof-vmuser-creds"][0] == "kof-propagation"
    # kof-operator's objects
    rcm = get(k1, "configmap", "-n", NS, "kof-r1")
    assert rcm["data"]["read_metrics_endpoint"] == f"https://vmauth.{domain}/vm/select/0/prometheus"
    ccm = get(k1, "configmap", "-n", NS, "kof-cluster-config-c1")
    assert ccm["data"]["regional_cluster_name"] == "r1"
    assert ccm["data"]["write_metrics_endpoint"] == f"https://vmauth.{domain}/vm/insert/0/prometheus/api/v1/write"
    # the child's VMUser credentials: made by kof-operator, propagated into the child's kof namespace
    secret = f"kof-vmuser-creds-{adler(f'kof-cluster-config-c1/{NS}')}"
    src = get(k1, "secret", "-n", NS, secret)
    assert src["metadata"]["labels"][P + "kof-cluster-name"] == "c1"
    assert src["metadata"]["ownerReferences"][0]["name"] == "c1"
    assert get(k1, "secret", "-n", "kof", secret)["data"] == src["data"]
    there = get(k1, "secret", "-n", "kof", secret, kubeconfig=ckc)
    assert there["data"] == src["data"] and not there["metadata"].get("ownerReferences")
    assert crel["kof-vmuser-creds"][1]["propagation"]["enabled"] is True
    # MCS status
    prop = get(k1, "multiclusterservice", "kof-storage-child-secret-propagation")
    assert [(m["name"], m["deployed"]) for m in prop["status"]["matchingClusters"]] == [("c1", True)]
    assert {c["type"]: c["status"] for c in prop["status"]["conditions"]}["Ready"] == "True"
    reg = get(k1, "multiclusterservice", "kof-regional-cluster")
    assert [m["name"] for m in reg["status"]["matchingClusters"]] == ["r1"]
    assert next(c for c in reg["status"]["conditions"] if c["type"] == "ClusterInReadyState")["message"] == "1/1"
    # the PromxyServerGroup and promxy's config
    psgs = get(k1, "promxyservergroups", "-n", NS)["items"]
    assert [p["spec"]["cluster_name"] for p in psgs] == ["r1"]
    assert psgs[0]["metadata"]["labels"][P + "secret-name"] == "kof-mothership-promxy-config"

    def promxy():
        sec = get(k1, "secret", "-n", "kof", "kof-mothership-promxy-config")
        text = base64.b64decode(sec["data"].get("config.yaml", "")).decode()
        return text if f"vmauth.{domain}:443" in text else None
    cfg = yaml.safe_load(wait_for(promxy, "promxy config lists the regional"))
    assert cfg["promxy"]["server_groups"][0]["path_prefix"] == "/vm/select/0/prometheus"
    # envoy-gateway (gateway-helm) publishes kof-storage's Gateway through a LoadBalancer Service of its own: the
    # Gateway's address is that load balancer's (what the docs' manual DNS record points vmauth.<domain> to)

    def programmed():
        gw = get(k1, "gateway", "-n", "kof", "gateway", kubeconfig=rkc)
        st = gw.get("status") or {}
        return gw if any(c["type"] == "Programmed" and c["status"] == "True" for c in st.get("conditions") or []) \
            else None
    gw = wait_for(programmed, "the regional's Gateway Programmed", timeout=30)
    assert gw["spec"]["listeners"][1]["hostname"] == f"vmauth.{domain}"
    [proxy] = [x for x in get(k1, "services", "-A", "-l", "gateway.envoyproxy.io/owning-gateway-name=gateway",
                              kubeconfig=rkc)["items"]]
    # named by kof-regional's envoy-gateway values (envoyProxy...envoyService.name: gateway-<cluster>)
    assert proxy["spec"]["type"] == "LoadBalancer" and proxy["metadata"]["name"] == "gateway-r1"
    assert [p["port"] for p in proxy["spec"]["ports"]] == [80, 443]
    lb = proxy["status"]["loadBalancer"]["ingress"][0]["hostname"]
    assert lb.endswith(".us-east-2.elb.amazonaws.com")
    assert gw["status"]["addresses"] == [{"type": "Hostname", "value": lb}]
    assert [x["name"] for x in gw["status"]["listeners"]] == ["http", "https"]
    assert next(c for c in get(k1, "gatewayclass", "eg", kubeconfig=rkc)["status"]["conditions"]
                if c["type"] == "Accepted")["status"] == "True"
    # an unlabelled ClusterDeployment gets nothing
    assert servicesets(k1, "plain") == {}
    assert not [c for c in get(k1, "configmaps", "-n", NS)["items"] if c["metadata"]["name"].endswith("-plain")]


def test_a_deleted_gateway_takes_its_proxy_along(k1):
    """envoy-gateway removes the proxy it made for a Gateway (another namespace: no owner reference to collect)."""
    rkc = kubeconfig(k1, "r1")
    selector = "gateway.envoyproxy.io/owning-gateway-name=gateway"
    assert get(k1, "services", "-A", "-l", selector, kubeconfig=rkc)["items"]
    kubectl(k1, "--kubeconfig", str(rkc), "delete", "gateway", "-n", "kof", "gateway")
    wait_for(lambda: not get(k1, "services,deployments", "-A", "-l", selector, kubeconfig=rkc)["items"] or None,
             "the proxy Service and Deployment gone", timeout=30)


def test_child_waits_for_its_credentials(k1):
    """The propagation ServiceSet waits (Provisioning, not Failed) while the referenced Secret does not exist:
    kof-operator makes it only once the child's regional is found."""
    apply(k1, cd("c2", {P + "kof-cluster-role": "child", P + "kof-regional-cluster-name": "nowhere"}))

    def waiting():
        s = servicesets(k1, "c2").get("kof-storage-child-secret-propagation")
        states = [x["state"] for x in ((s or {}).get("status") or {}).get("services") or []]
        return states if states and s["status"].get("cluster") else None
    assert wait_for(waiting, "the propagation ServiceSet reports") == ["Provisioning"]
    kubectl(k1, "label", "clusterdeployment", "-n", NS, "c2", f"{P}kof-regional-cluster-name=r1", "--overwrite")
    wait_for(lambda: all_deployed(k1, "c2"), "c2 deployed once its Secret exists", timeout=60)
    secret = f"kof-vmuser-creds-{adler(f'kof-cluster-config-c2/{NS}')}"
    assert get(k1, "secret", "-n", "kof", secret, kubeconfig=kubeconfig(k1, "c2"))["data"]


def test_role_label_removed(k1):
    kubectl(k1, "label", "clusterdeployment", "-n", NS, "c2", f"{P}kof-cluster-role-")
    wait_for(lambda: not servicesets(k1, "c2"), "c2's ServiceSets gone")
    kc = kubeconfig(k1, "c2")
    wait_for(lambda: not releases(k1, kc), "c2's releases uninstalled")


def test_fail_service(k1):
    k1.scenario(fail_service={"c1": ["kof-collectors"]})

    def failed():
        s = servicesets(k1, "c1").get("kof-child-cluster") or {}
        return next((x for x in (s.get("status") or {}).get("services") or []
                     if x["name"] == "kof-collectors" and x["state"] == "Failed"), None)
    # an installed, unchanged release is in sync: make the values change so Sveltos upgrades
    kubectl(k1, "patch", "clusterdeployment", "-n", NS, "c1", "--type=merge", "-p",
            json.dumps({"spec": {"config": {"clusterAnnotations": {P + "kof-collectors-values": "global: {}\n"}}}}))
    st = wait_for(failed, "kof-collectors Failed")
    assert st["failureMessage"] == "context deadline exceeded (kofsim scenario fail_service)"
    s = servicesets(k1, "c1")["kof-child-cluster"]
    assert s["status"]["deployed"] is False
    k1.scenario(fail_service={})
    wait_for(lambda: all_deployed(k1, "c1"), "c1 deployed again", timeout=60)


def test_deletion_cleans_up(k1):
    secret = f"kof-vmuser-creds-{adler(f'kof-cluster-config-c1/{NS}')}"
    kubectl(k1, "delete", "clusterdeployment", "-n", NS, "c1", "r1", "c2", "plain", "--wait=true", "--timeout=60s")

    def clean():
        left = [s["metadata"]["name"] for s in get(k1, "servicesets", "-n", NS)["items"]]
        cms = [c["metadata"]["name"] for c in get(k1, "configmaps", "-n", NS)["items"]
               if c["metadata"]["name"].startswith("kof-")]
        secs = [s["metadata"]["name"] for s in get(k1, "secrets", "-n", NS)["items"]
                if s["metadata"]["name"].startswith("kof-vmuser-creds-")]
        psgs = get(k1, "promxyservergroups", "-n", NS)["items"]
        return True if not (left or cms or secs or psgs) else None
    wait_for(clean, "ServiceSets and kof-operator's objects gone", timeout=60)
    for name in ("kof-regional-cluster", "kof-child-cluster", "kof-storage-child-secret-propagation"):
        assert not get(k1, "multiclusterservice", name)["status"].get("matchingClusters")
    # the copy in kof has no owner: kof-operator v1.10.0 leaves a child's (its regional's admin copy goes)
    assert get(k1, "secret", "-n", "kof", secret)


def fnv(s):
    h = 0x811c9dc5
    for b in s.encode():
        h = ((h ^ b) * 0x01000193) & 0xffffffff
    return f"{h:x}"


def test_a_regional_that_is_only_a_configmap(k1):
    """The docs' "Regional ConfigMap" (kof-install), named after the cluster as there: kof-operator v1.10.0's
    RegionalClusterConfigMapReconciler registers it - PromxyServerGroup promxy-server-group-<fnv32a("<cm>/<ns>")>
    (GetPromxyServerGroupName of the ConfigMap's own name) owned by the ConfigMap, admin credentials from
    adler32("admin", "<cm>/<ns>") - and deleting the ConfigMap takes them along."""
    data = {"regional_cluster_name": "hosted", "regional_cluster_namespace": NS, "regional_cluster_cloud": "aws",
            "aws_region": "us-east-2", "istio_role": "", "kof_http_config": "",
            "read_metrics_endpoint": "https://vm.hosted.example/select/0/prometheus",
            "write_metrics_endpoint": "https://vm.hosted.example/insert/0/prometheus/api/v1/write"}
    apply(k1, {"apiVersion": "v1", "kind": "ConfigMap", "data": data,
               "metadata": {"name": "hosted", "namespace": NS, "labels": {P + "kof-cluster-role": "regional"}}})

    def registered():
        return next((p for p in get(k1, "promxyservergroups", "-n", NS)["items"]
                     if p["spec"]["cluster_name"] == "hosted"), None)
    psg = wait_for(registered, "the ConfigMap's PromxyServerGroup")
    assert psg["metadata"]["name"] == f"promxy-server-group-{fnv(f'hosted/{NS}')}"
    assert [(o["kind"], o["name"]) for o in psg["metadata"]["ownerReferences"]] == [("ConfigMap", "hosted")]
    assert psg["spec"]["targets"] == ["vm.hosted.example:443"] and psg["spec"]["path_prefix"] == "/select/0/prometheus"
    admin = f"kof-vmuser-creds-admin-{adler(f'hosted/{NS}')}"
    assert psg["spec"]["http_client"]["basic_auth"]["credentials_secret_name"] == admin
    assert get(k1, "secret", "-n", "kof", admin)["data"]["password"]
    kubectl(k1, "delete", "configmap", "-n", NS, "hosted", "--wait=true")
    wait_for(lambda: registered() is None or None, "the PromxyServerGroup goes with its ConfigMap", timeout=60)
    wait_for(lambda: not [s for s in get(k1, "secrets", "-n", "kof")["items"] if s["metadata"]["name"] == admin]
             or None, "the admin credentials go (ResourceCleanup)", timeout=60)


def test_a_claim_template_change_fails_until_the_statefulsets_are_recreated(k1):
    """kof-storage 1.10's log and trace storage are StatefulSets helm manages itself (victoria-logs-cluster 0.0.25,
    victoria-traces-cluster 0.1.1), their volume claim templates from the values: a new storage class is an update
    kube-apiserver forbids, so Sveltos' upgrade fails; once they are deleted with propagationPolicy Orphan, the
    upgrade re-creates them, the new ones adopt the running pods and keep their claims (the data)."""
    apply(k1, cd("r9", {P + "kof-cluster-role": "regional"}, {P + "kof-regional-domain": "r9.example.com"}))
    wait_for(lambda: all_deployed(k1, "r9"), "r9 deployed", timeout=60)
    kc = kubeconfig(k1, "r9")
    names = ("kof-storage-victoria-logs-cluster-vlstorage", "kof-storage-vt-cluster-vtstorage")

    def running(name):
        pods = [p for p in get(k1, "pods", "-n", "kof", kubeconfig=kc)["items"]
                if p["metadata"]["name"].startswith(name + "-") and p["status"].get("phase") == "Running"]
        return pods if len(pods) == 2 else None
    before = {}
    for name in names:
        sts = get(k1, "statefulset", "-n", "kof", name, kubeconfig=kc)
        [vct] = sts["spec"]["volumeClaimTemplates"]
        assert vct["spec"]["resources"]["requests"]["storage"] == "100Gi" and "storageClassName" not in vct["spec"]
        before[name] = {p["metadata"]["name"]: p["metadata"]["uid"] for p in wait_for(lambda: running(name), name)}
    claims = {c["metadata"]["name"]: c["metadata"]["uid"] for c in get(k1, "pvc", "-n", "kof", kubeconfig=kc)["items"]}
    assert {"vlstorage-volume-kof-storage-victoria-logs-cluster-vlstorage-0",
            "vtstorage-volume-kof-storage-vt-cluster-vtstorage-1"} <= set(claims)
    kubectl(k1, "patch", "clusterdeployment", "-n", NS, "r9", "--type=merge", "-p", json.dumps(
        {"spec": {"config": {"clusterAnnotations": {P + "kof-storage-class": "standard"}}}}))

    def failed():
        s = servicesets(k1, "r9").get("kof-regional-cluster") or {}
        return next((x for x in (s.get("status") or {}).get("services") or []
                     if x["name"] == "kof-storage" and x["state"] == "Failed"), None)
    st = wait_for(failed, "kof-storage Failed", timeout=60)
    assert "updates to statefulset spec for fields other than 'replicas'" in st["failureMessage"], st
    for name in names:
        kubectl(k1, "--kubeconfig", str(kc), "delete", "statefulset", "-n", "kof", name, "--cascade=orphan")
    wait_for(lambda: all_deployed(k1, "r9"), "r9 deployed again", timeout=90)
    for name in names:
        sts = get(k1, "statefulset", "-n", "kof", name, kubeconfig=kc)
        assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "standard"
        pods = wait_for(lambda: running(name), name)
        assert {p["metadata"]["name"]: p["metadata"]["uid"] for p in pods} == before[name]  # adopted, not new
        assert all(p["metadata"]["ownerReferences"][0]["uid"] == sts["metadata"]["uid"] for p in pods)
    after = {c["metadata"]["name"]: c["metadata"]["uid"] for c in get(k1, "pvc", "-n", "kof", kubeconfig=kc)["items"]}
    assert all(after[n] == uid for n, uid in claims.items())  # the same claims: the data is kept
    kubectl(k1, "delete", "clusterdeployment", "-n", NS, "r9", "--wait=true", "--timeout=60s")
