"""KOF 1.x's site.yml on a real kube-apiserver (`KOFSIM_KCM_API_VERSION=v1beta1 kofsim up --api real`: kcm
v1.10.0's upstream CRDs, Flux's HelmChart and HelmRepository, kofsim's HelmRelease, kcm's v1beta1 webhooks, and
kofsim's simulated kcm, Flux, Sveltos and kof-operator as `kofsim controllers`), from an inventory written here:
the management cluster, two regions, a child in each. The order a user lives it:

1. `site.yml --check` before anything is installed: it succeeds and the real server stores nothing (every object
   of every kind at the same resourceVersion, no object more or less);
2. `site.yml`: the umbrella `kof` chart installed with helm, every Flux HelmRelease Ready, the labelled and
   annotated v1beta1 ClusterDeployments admitted by kcm's webhook, the MultiClusterServices' ServiceSets and
   kof-operator's PromxyServerGroups stored by the real apiserver, verify green;
3. a second `site.yml`: changed=0 on every host and not one object written (management or workload clusters);
4. `site.yml --check` after it: changed=0, nothing written; the manual DNS records (dns_records.yml) are the
   addresses of the regional clusters' Gateways.

The emulator's version of this flow is tests/integration/kof1x/test_site_1x.py; here the real server is the oracle
(its validation of the upstream CRDs' schemas, admission, server-side dry-run, resourceVersions)."""
from __future__ import annotations

import base64
import json
import time

import pytest

from tests.helpers import ROOT
from tests.integration.e2e_real.conftest import NS, diff
from tests.integration.tiers.conftest import write_inventory

pytestmark = pytest.mark.slow

CHARTS_1X = ROOT / "kofsim" / "kofsim" / "charts-1.10"
P = "k0rdent.mirantis.com/"
MGMT, EU, US, EU_APP, US_APP = "hub", "eu-storage", "us-storage", "eu-app1", "us-app1"
HOSTS = {"all": {"children": {
    "kof_management": {"hosts": {MGMT: None}},
    "kof_regional": {"hosts": {
        EU: {"kof_regional_region": "eu-central-1", "kof_regional_domain": "obs-eu.acme.test"},
        US: {"kof_regional_region": "us-east-1", "kof_promxy_insecure_skip_verify": True}}},
    "kof_child": {"children": {
        "eu_apps": {"hosts": {EU_APP: None}, "vars": {"kof_regional": EU}},
        "us_apps": {"hosts": {US_APP: {"kof_child_collectors_values": {"opencost": {"enabled": True}}}},
                    "vars": {"kof_regional": US}}}}}}}
WORKLOAD = [EU, US, EU_APP, US_APP]
GROUP_VARS = {"kof_version": "1.10.0", "kof_chart_repository": str(CHARTS_1X), "kof_base_domain": "acme.test",
              "kof_admin_email": "sre@acme.test", "kof_dns_mode": "none", "kof_verify_timeout": 180,
              "kof_wait_timeout": 300}
HELMRELEASES = {"kof-operators", "victoria-metrics-operator", "kof-mothership", "kof-regional", "kof-child"}
SHARED: dict = {}


@pytest.fixture(scope="module")
def inv(fleet_1x):
    return write_inventory(fleet_1x.work / "inventory", json.loads(json.dumps(HOSTS)), GROUP_VARS)


def site(fleet, inv, *args, label):
    return fleet.play("site.yml", inv, *args, label=label)


def listing(fleet, group, plural, ns=None) -> dict:
    client = fleet.mgmt()
    res = client.resource(group, plural)
    return {o["metadata"]["name"]: o for o in (client.list(res, ns) if res else [])}


def wait_for(fn, what, timeout=60.0, interval=0.3):
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got or time.monotonic() > deadline:
            assert got, f"timed out waiting for {what}"
            return got
        time.sleep(interval)


def settled(fleet, timeout=60.0, quiet=2.0) -> dict:
    """A snapshot once nothing has been written for `quiet` seconds: right after `kofsim up` the simulated nodes
    are still starting the management cluster's pods (kcm, cert-manager: their status written as they run)."""
    deadline = time.monotonic() + timeout
    last = fleet.snapshot()
    while True:
        time.sleep(quiet)
        now = fleet.snapshot()
        if now == last:
            return now
        assert time.monotonic() < deadline, "the management cluster does not settle:\n" + "\n".join(diff(last, now))
        last = now


def assert_unchanged(fleet, before):
    changes = diff(before, fleet.snapshot())
    assert not changes, "the real server's objects changed:\n" + "\n".join(changes)


def test_1_check_before_the_first_run_stores_nothing(fleet_1x, inv):
    """Nothing of KOF installed yet: the preview succeeds and the real server's objects are untouched."""
    before = settled(fleet_1x)
    assert set(before) == {""}  # no workload cluster yet
    preview = site(fleet_1x, inv, "--check", label="site.yml --check (first)")
    assert preview.rc == 0, preview
    assert not preview.failed_hosts, preview.recap
    assert_unchanged(fleet_1x, before)
    assert listing(fleet_1x, "k0rdent.mirantis.com", "clusterdeployments", NS) == {}
    SHARED["preview"] = preview


def test_2_site_rolls_out_kof_1x(fleet_1x, inv):
    run = site(fleet_1x, inv, label="site.yml")
    assert run.rc == 0 and not run.failed_hosts, run
    assert set(run.recap) == {MGMT, *WORKLOAD}
    assert all(run.recap[h]["changed"] > 0 for h in run.recap), run.recap
    preview = SHARED.get("preview")
    if preview is not None:  # the preview predicted which hosts change
        assert {h for h, r in preview.recap.items() if r["changed"]} == set(run.recap), preview.recap
    SHARED["first"] = run

    # the umbrella chart's Flux HelmReleases, Ready
    releases = listing(fleet_1x, "helm.toolkit.fluxcd.io", "helmreleases", "kof")
    assert set(releases) >= HELMRELEASES, sorted(releases)
    for name, rel in releases.items():
        ready = [c for c in (rel.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True", (name, rel.get("status"))
    # helm's own release of the umbrella, stored as a Secret on the real server
    helm = listing(fleet_1x, "", "secrets", "kof")
    assert any(n.startswith("sh.helm.release.v1.kof.v") for n in helm), sorted(helm)

    # the ClusterDeployments: kcm v1beta1, labelled and annotated for KOF, Ready
    cds = listing(fleet_1x, "k0rdent.mirantis.com", "clusterdeployments", NS)
    assert sorted(cds) == sorted(WORKLOAD)
    for name, cd in cds.items():
        assert cd["apiVersion"] == "k0rdent.mirantis.com/v1beta1", name
        labels = cd["metadata"]["labels"]
        assert labels[P + "kof-version"] == "1.10.0", (name, labels)
        role = "regional" if name in (EU, US) else "child"
        assert labels[P + "kof-cluster-role"] == role, (name, labels)
        assert any(c["type"] == "Ready" and c["status"] == "True"
                   for c in (cd.get("status") or {}).get("conditions") or []), (name, cd.get("status"))
    eu_ann = cds[EU]["spec"]["config"]["clusterAnnotations"]
    assert eu_ann[P + "kof-regional-domain"] == "obs-eu.acme.test"
    assert eu_ann[P + "kof-cert-email"] == "sre@acme.test"
    assert cds[US]["spec"]["config"]["clusterAnnotations"][P + "kof-regional-domain"] == "us-storage.acme.test"
    assert json.loads(cds[US]["metadata"]["annotations"][P + "kof-http-config"]) == \
        {"tls_config": {"insecure_skip_verify": True}}
    assert cds[EU_APP]["metadata"]["labels"][P + "kof-regional-cluster-name"] == EU
    assert cds[US_APP]["metadata"]["labels"][P + "kof-regional-cluster-name"] == US
    assert cds[EU_APP]["spec"]["config"]["region"] == "eu-central-1"
    assert "opencost" in cds[US_APP]["spec"]["config"]["clusterAnnotations"][P + "kof-collectors-values"]

    # what the controllers made, as the real apiserver stored it: ServiceSets, PromxyServerGroups, promxy's config
    by_cluster: dict = {}
    for s in listing(fleet_1x, "k0rdent.mirantis.com", "servicesets", NS).values():
        by_cluster.setdefault(s["spec"]["cluster"], {})[s["spec"]["multiClusterService"]] = s
    assert set(by_cluster) == set(WORKLOAD), sorted(by_cluster)
    for name, mine in by_cluster.items():
        assert ("kof-regional-cluster" if name in (EU, US) else "kof-child-cluster") in mine, (name, list(mine))
        for mcs, s in mine.items():
            assert s["status"]["deployed"] is True, (name, mcs, s["status"])
            assert s["metadata"]["resourceVersion"]  # stored by etcd
    psgs = {p["spec"]["cluster_name"]: p
            for p in listing(fleet_1x, "kof.k0rdent.mirantis.com", "promxyservergroups", NS).values()}
    assert set(psgs) == {EU, US}, sorted(psgs)
    assert psgs[EU]["spec"]["targets"] == ["vmauth.obs-eu.acme.test:443"]
    assert psgs[US]["spec"]["targets"] == ["vmauth.us-storage.acme.test:443"]
    cfg = listing(fleet_1x, "", "configmaps", NS)[f"kof-cluster-config-{US_APP}"]["data"]
    assert cfg["regional_cluster_name"] == US
    assert cfg["write_metrics_endpoint"].startswith("https://vmauth.us-storage.acme.test/")

    def promxy():
        sec = listing(fleet_1x, "", "secrets", "kof").get("kof-mothership-promxy-config") or {}
        text = base64.b64decode((sec.get("data") or {}).get("config.yaml", "")).decode()
        return "vmauth.obs-eu.acme.test" in text and "vmauth.us-storage.acme.test" in text
    wait_for(promxy, "promxy's config to list both regions")

    # each ClusterDeployment is a kube-apiserver of its own, with KOF's services as helm releases
    assert sorted(fleet_1x.real.workload_clusters()) == sorted(f"{NS}/{n}" for n in WORKLOAD)
    for name in WORKLOAD:
        client = fleet_1x.workload(name)
        deployed = client.list(client.resource("", "secrets"), None, {"owner": "helm", "status": "deployed"})
        assert deployed, name

    # verify green
    report = json.loads((fleet_1x.out / "fleet-report.json").read_text())
    assert report["summary"]["ok"], report["summary"]
    assert {c["name"]: c["state"] for c in report["clusters"]} == {n: "healthy" for n in WORKLOAD}, report
    log = fleet_1x.real.log()
    assert "Traceback" not in log, log[log.index("Traceback") - 500:][:3000]


def test_3_a_second_run_changes_nothing_and_stores_nothing(fleet_1x, inv):
    if "first" not in SHARED:
        pytest.skip("the first rollout did not run")
    before = fleet_1x.snapshot()
    again = site(fleet_1x, inv, label="site.yml re-run")
    assert again.rc == 0, again
    assert {h: r["changed"] for h, r in again.recap.items()} == {h: 0 for h in SHARED["first"].recap}, again.recap
    assert_unchanged(fleet_1x, before)


def test_4_check_after_it_is_clean(fleet_1x, inv):
    if "first" not in SHARED:
        pytest.skip("the first rollout did not run")
    before = fleet_1x.snapshot()
    check = site(fleet_1x, inv, "--check", label="site.yml --check (after)")
    assert check.rc == 0, check
    assert {h: r["changed"] for h, r in check.recap.items()} == {h: 0 for h in SHARED["first"].recap}, check.recap
    assert_unchanged(fleet_1x, before)


def test_4b_manual_dns_records_are_the_gateways_addresses(fleet_1x, inv):
    """dns_records.yml (kof_dns_mode=manual, no Route53 zone: reported only) reads each regional cluster's Gateway
    through its kubeconfig Secret: the records name the address envoy-gateway's stand-in stored in the Gateway's
    status on that cluster's real kube-apiserver (the status subresource of the Gateway API CRD), and the run
    writes nothing anywhere."""
    if "first" not in SHARED:
        pytest.skip("the first rollout did not run")
    def address(client):
        res = client.resource("gateway.networking.k8s.io", "gateways")
        gw = (client.get(res, "kof", "gateway") if res else None) or {}
        return ((gw.get("status") or {}).get("addresses") or [{}])[0].get("value")
    gateways = {name: wait_for(lambda c=fleet_1x.workload(name): address(c), f"{name}'s Gateway to have an address")
                for name in (EU, US)}
    before = fleet_1x.snapshot()
    run = fleet_1x.play("dns_records.yml", inv, "-e", "kof_dns_mode=manual", label="dns_records.yml (manual)")
    assert run.rc == 0 and not run.failed_hosts, run  # (its report files are its only change)
    report = json.loads((fleet_1x.out / "dns-records.json").read_text())
    assert sorted((r["name"], r["type"], r["value"], r["status"]) for r in report["records"]) == [
        ("vmauth.obs-eu.acme.test", "CNAME", gateways[EU], "to create"),
        ("vmauth.us-storage.acme.test", "CNAME", gateways[US], "to create")], report
    assert_unchanged(fleet_1x, before)


def test_5_a_tenant_child_across_namespaces(fleet_1x, inv):
    """A child in namespace team-a writing to a regional cluster in kcm-system (kof_cross_namespace): the real
    server admits the tenant's ClusterDeployment, kof-operator's ConfigMap for it lands in team-a with the regional's
    endpoints, verify is green and a re-run stores nothing."""
    if "first" not in SHARED:
        pytest.skip("the first rollout did not run")
    client = fleet_1x.mgmt()
    tenant = "team-a"
    client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": tenant}})
    # the ClusterTemplate and Credential kcm's AccessManagement would copy into the tenant's namespace
    for plural in ("clustertemplates", "credentials"):
        for obj in client.list(client.resource("k0rdent.mirantis.com", plural), NS):
            made = client.create({"apiVersion": obj["apiVersion"], "kind": obj["kind"], "spec": obj["spec"],
                                  "metadata": {"name": obj["metadata"]["name"], "namespace": tenant}})
            client.set_status(made, obj["status"])
    hosts = json.loads(json.dumps(HOSTS))
    hosts["all"]["children"]["kof_child"]["children"]["eu_apps"]["hosts"]["team-a-app"] = {"kof_kcm_namespace": tenant}
    tenant_inv = write_inventory(fleet_1x.work / "inventory-tenant", hosts, dict(GROUP_VARS, kof_cross_namespace=True))
    run = site(fleet_1x, tenant_inv, label="site.yml (a tenant child, kof_cross_namespace)")
    assert run.rc == 0 and not run.failed_hosts, run
    assert run.recap["team-a-app"]["changed"] > 0 and run.recap[MGMT]["changed"] > 0, run.recap
    cd = listing(fleet_1x, "k0rdent.mirantis.com", "clusterdeployments", tenant)["team-a-app"]
    assert cd["metadata"]["labels"][P + "kof-regional-cluster-namespace"] == NS
    assert listing(fleet_1x, "k0rdent.mirantis.com", "clusterdeployments", NS)[EU_APP]["metadata"]["labels"][
        P + "kof-regional-cluster-namespace"] == NS
    cfg = wait_for(lambda: listing(fleet_1x, "", "configmaps", tenant).get("kof-cluster-config-team-a-app"),
                   "the tenant child's ConfigMap")["data"]
    assert cfg["regional_cluster_name"] == EU and cfg["regional_cluster_namespace"] == NS
    assert cfg["write_metrics_endpoint"].startswith("https://vmauth.obs-eu.acme.test/")
    report = json.loads((fleet_1x.out / "fleet-report.json").read_text())
    assert {c["name"]: c["state"] for c in report["clusters"]} == \
        {n: "healthy" for n in [*WORKLOAD, "team-a-app"]}, report
    before = fleet_1x.snapshot()
    again = site(fleet_1x, tenant_inv, label="site.yml re-run (tenant)")
    assert again.rc == 0 and again.changed == 0, again.recap
    assert_unchanged(fleet_1x, before)


def test_6_a_regional_that_is_only_a_configmap(fleet_1x, inv):
    """kof_regional_configmap_only (the docs' "Regional ConfigMap"): the real server stores the collection's
    ConfigMap kof-ap-hosted and no ClusterDeployment for it, kof-operator's PromxyServerGroup owned by it, verify is
    green and a re-run stores nothing; uninstall of that region deletes the ConfigMap and the real garbage collector
    takes the PromxyServerGroup along."""
    if "first" not in SHARED:
        pytest.skip("the first rollout did not run")
    hosted = "ap-hosted"
    hosts = json.loads(json.dumps(HOSTS))
    # the fleet as test 5 left it (its tenant child, kof_cross_namespace), plus the hosted region
    hosts["all"]["children"]["kof_child"]["children"]["eu_apps"]["hosts"]["team-a-app"] = {
        "kof_kcm_namespace": "team-a"}
    hosts["all"]["children"]["kof_regional"]["hosts"][hosted] = {
        "kof_regional_region": "ap-south-1", "kof_regional_configmap_only": True,
        "kof_regional_endpoints": {"metrics_read": "https://vm.ap.example.net/select/0/prometheus"}}
    cm_inv = write_inventory(fleet_1x.work / "inventory-configmap", hosts, dict(GROUP_VARS, kof_cross_namespace=True))
    run = site(fleet_1x, cm_inv, label="site.yml (a regional that is only a ConfigMap)")
    assert run.rc == 0 and not run.failed_hosts, run
    assert run.recap[hosted]["changed"] == 1 and run.changed == 1, run.recap
    assert hosted not in listing(fleet_1x, "k0rdent.mirantis.com", "clusterdeployments", NS)
    cm = listing(fleet_1x, "", "configmaps", NS)[f"kof-{hosted}"]
    assert cm["metadata"]["labels"][P + "kof-cluster-role"] == "regional"
    assert cm["data"]["read_metrics_endpoint"] == "https://vm.ap.example.net/select/0/prometheus"

    def psg():
        return next((p for p in listing(fleet_1x, "kof.k0rdent.mirantis.com", "promxyservergroups", NS).values()
                     if p["spec"]["cluster_name"] == hosted), None)
    assert [o["uid"] for o in psg()["metadata"]["ownerReferences"]] == [cm["metadata"]["uid"]]
    report = json.loads((fleet_1x.out / "fleet-report.json").read_text())
    assert {c["name"]: c["state"] for c in report["clusters"]}[hosted] == "healthy", report
    before = fleet_1x.snapshot()
    again = site(fleet_1x, cm_inv, label="site.yml re-run (regional ConfigMap)")
    assert again.rc == 0 and again.changed == 0, again.recap
    assert_unchanged(fleet_1x, before)
    gone = fleet_1x.play("uninstall.yml", cm_inv, "-e", "kof_uninstall_confirm=true", "-e",
                         "kof_backup_before_uninstall=false", "--limit", hosted,
                         label="uninstall.yml --limit ap-hosted")
    assert gone.rc == 0 and gone.recap[hosted]["changed"] == 1, gone
    assert f"kof-{hosted}" not in listing(fleet_1x, "", "configmaps", NS)
    wait_for(lambda: psg() is None, "the garbage collector removes the PromxyServerGroup")


def test_7_a_new_storage_class_recreates_the_storage_statefulsets_on_the_real_server(fleet_1x, inv):
    """The real kube-apiserver forbids the claim template change a new storage class makes in kof-storage's log
    and trace StatefulSets: refused before any write without kof_storage_recreate_confirm; with it the collection
    deletes them with propagationPolicy Orphan, the real garbage collector orphans their pods, Sveltos' upgrade
    re-creates them and the real statefulset controller adopts the pods; the volume claims (the data) are the
    same objects, and a re-run stores nothing."""
    if "first" not in SHARED:
        pytest.skip("the first rollout did not run")
    hosts = json.loads(json.dumps(HOSTS))
    # the fleet as tests 5 and 6 left it (the tenant child, kof_cross_namespace; the hosted region uninstalled)
    hosts["all"]["children"]["kof_child"]["children"]["eu_apps"]["hosts"]["team-a-app"] = {
        "kof_kcm_namespace": "team-a"}
    hosts["all"]["children"]["kof_regional"]["hosts"][US]["kof_regional_storage_class"] = "gp3-fast"
    sc_inv = write_inventory(fleet_1x.work / "inventory-storage-class", hosts,
                             dict(GROUP_VARS, kof_cross_namespace=True))
    us = fleet_1x.workload(US)
    sts_res, pvc_res = us.resource("apps", "statefulsets"), us.resource("", "persistentvolumeclaims")
    vl = "kof-storage-victoria-logs-cluster-vlstorage"
    claims = {c["metadata"]["name"]: c["metadata"]["uid"] for c in us.list(pvc_res, "kof")}
    assert f"vlstorage-volume-{vl}-0" in claims, sorted(claims)
    old_uid = us.get(sts_res, "kof", vl)["metadata"]["uid"]
    refused = site(fleet_1x, sc_inv, label="site.yml (new storage class, not confirmed)")
    assert refused.rc != 0
    assert "kof_storage_recreate_confirm=true" in " ".join(refused.stdout.split()), refused.stdout[-3000:]
    assert us.get(sts_res, "kof", vl)["metadata"]["uid"] == old_uid
    run = site(fleet_1x, sc_inv, "-e", "kof_storage_recreate_confirm=true",
               label="site.yml (new storage class, confirmed)")
    assert run.rc == 0 and not run.failed_hosts, run

    def recreated():
        sts = us.get(sts_res, "kof", vl)
        return sts if sts and sts["metadata"]["uid"] != old_uid else None
    sts = wait_for(recreated, "the log storage StatefulSet re-created")
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "gp3-fast"
    now = {c["metadata"]["name"]: c["metadata"]["uid"] for c in us.list(pvc_res, "kof")}
    assert all(now.get(n) == uid for n, uid in claims.items()), "a volume claim was replaced"
    pods = wait_for(lambda: [p for p in us.list(us.resource("", "pods"), "kof")
                             if p["metadata"]["name"].startswith(vl + "-")
                             and any(r["uid"] == sts["metadata"]["uid"]
                                     for r in p["metadata"].get("ownerReferences") or [])], "pods adopted")
    assert len(pods) == 2, [p["metadata"]["name"] for p in pods]
    before = settled(fleet_1x)  # the simulated kubelet may still be reporting the adopted pods
    again = site(fleet_1x, sc_inv, label="site.yml re-run (new storage class)")
    assert again.rc == 0 and again.changed == 0, again.recap
    assert_unchanged(fleet_1x, before)
