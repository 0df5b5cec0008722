"""KOF 1.10 end to end on kofsim serving kcm 1.x (KOFSIM_KCM_API_VERSION=v1beta1), from an inventory written here
(not inventories/local): its own host names, domains, regions, a storage class and storage values, collectors
values and a price book, promxy TLS verification off for one region. The order a user lives it: preview with
--check (nothing written, predicts the first run), first run (the umbrella kof chart, every Flux HelmRelease Ready,
labelled v1beta1 ClusterDeployments, kof-operator's objects and the MultiClusterServices' ServiceSets waited for,
verify green), a no-op re-run (changed=0, not one write), --diff of one child's values, a failing service on its
own host, and a bad kof-mothership value that Flux refuses, reported from the HelmRelease's status."""
from __future__ import annotations

import base64
import json
import subprocess

import pytest
import yaml

from kofsim.testing import Kofsim
from tests.helpers import ROOT, ansible_playbook, tool_env
from tests.integration.kof1x import flat, kubectl_json
from tests.integration.tiers.conftest import write_inventory

CHARTS_1X = ROOT / "kofsim" / "kofsim" / "charts-1.10"
NS = "kcm-system"

LOGS_WRITE = "https://logs-in.acme.test/vli/insert/opentelemetry/v1/logs"
HOSTS = {"all": {"children": {
    "kof_management": {"hosts": {"hub": None}},
    "kof_regional": {"hosts": {
        "eu-storage": {"kof_regional_region": "eu-central-1", "kof_regional_domain": "obs-eu.acme.test",
                       # logs ingested behind the user's own load balancer; the other endpoints from the domain
                       "kof_regional_endpoints": {"logs_write": LOGS_WRITE},
                       "kof_regional_storage_values": {"victoriametrics": {"vmcluster": {"spec": {
                           "retentionPeriod": "90d"}}}}},
        "us-storage": {"kof_regional_region": "us-east-1", "kof_regional_storage_class": "ebs-csi-default-sc",
                       "kof_promxy_insecure_skip_verify": True}}},
    "kof_child": {"children": {
        "eu_apps": {"hosts": {"eu-app1": None,
                              "eu-app2": {"kof_child_collectors_values": {"opencost": {"enabled": True}}}},
                    "vars": {"kof_regional": "eu-storage"}},
        "us_apps": {"hosts": {"us-app1": None}, "vars": {"kof_regional": "us-storage"}}}}}}}

GROUP_VARS = {"kof_version": "1.10.0", "kof_chart_repository": str(CHARTS_1X), "kof_base_domain": "acme.test",
              "kof_admin_email": "sre@acme.test", "kof_dns_mode": "none", "kof_verify_timeout": 90,
              "kof_wait_timeout": 300, "kof_cost_prices": {"cpu": 0.031, "ram": 0.004, "gpu": 0.9, "storage": 0.0001}}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    k = Kofsim(tmp_path_factory.mktemp("kofsim-1x"), ready_after=0.3, kcm_api_version="v1beta1")
    k.start()
    env = tool_env(home=tmp_path_factory.mktemp("home"), extra={"K8S_AUTH_KUBECONFIG": k.kubeconfig})
    gv = dict(GROUP_VARS, kof_report_dir=str(tmp_path_factory.mktemp("report")))
    inv = write_inventory(tmp_path_factory.mktemp("inventory"), json.loads(json.dumps(HOSTS)), gv)
    yield {"kofsim": k, "env": env, "inv": inv, "gv": gv}
    k.stop()


def site(fleet, *args, inv=None):
    return ansible_playbook("-i", inv or fleet["inv"], "playbooks/site.yml", *args, env=fleet["env"])


def changed_by_host(run):
    return {h: r["changed"] for h, r in run.recap.items()}


def test_1_check_mode_writes_nothing_and_predicts_the_first_run(fleet):
    k = fleet["kofsim"]
    seq = k.last_seq()
    preview = site(fleet, "--check")
    assert preview.rc == 0, preview
    assert k.writes(since=seq) == [], "check mode wrote to the API"

    first = site(fleet)
    assert first.rc == 0 and not first.failed_hosts, first
    assert changed_by_host(preview) == changed_by_host(first), (preview.recap, first.recap)
    assert all(first.recap[h]["changed"] > 0 for h in ("hub", "eu-storage", "us-storage", "eu-app1", "us-app1"))


def test_2_the_umbrella_chart_and_its_helmreleases(fleet):
    releases = {r["metadata"]["name"]: r for r in kubectl_json(fleet, "get", "helmreleases", "-n", "kof")["items"]}
    assert set(releases) >= {"kof-operators", "victoria-metrics-operator", "kof-mothership", "kof-regional",
                             "kof-child"}
    for name, rel in releases.items():
        ready = [c for c in rel["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True", (name, rel["status"])
    mothership = releases["kof-mothership"]["spec"]["values"]
    assert mothership["kcm"]["namespace"] == NS
    helm = subprocess.run([str(ROOT / ".tools" / "bin" / "helm"), "list", "-n", "kof", "-o", "json"],
                          capture_output=True, text=True, check=True,
                          env=fleet["env"] | {"KUBECONFIG": fleet["kofsim"].kubeconfig})
    # the collection ran helm once (the umbrella); Flux installed the components as helm releases of their own
    deployed = {r["name"]: (r["chart"], r["revision"]) for r in json.loads(helm.stdout)}
    assert deployed["kof"] == ("kof-1.10.0", "1"), deployed
    assert deployed["kof-mothership"] == ("kof-mothership-1.10.0", "1"), deployed


def test_3_clusterdeployments_carry_labels_and_annotations(fleet):
    cds = {cd["metadata"]["name"]: cd for cd in kubectl_json(fleet, "get", "clusterdeployments", "-n", NS)["items"]}
    assert sorted(cds) == ["eu-app1", "eu-app2", "eu-storage", "us-app1", "us-storage"]
    eu = cds["eu-storage"]
    assert eu["apiVersion"] == "k0rdent.mirantis.com/v1beta1"
    assert eu["metadata"]["labels"]["k0rdent.mirantis.com/kof-cluster-role"] == "regional"
    assert eu["metadata"]["labels"]["k0rdent.mirantis.com/kof-version"] == "1.10.0"
    assert "serviceSpec" not in eu["spec"] or not eu["spec"]["serviceSpec"].get("services")
    ann = eu["spec"]["config"]["clusterAnnotations"]
    assert ann["k0rdent.mirantis.com/kof-regional-domain"] == "obs-eu.acme.test"
    assert ann["k0rdent.mirantis.com/kof-cert-email"] == "sre@acme.test"
    assert ann["k0rdent.mirantis.com/kof-write-logs-endpoint"] == LOGS_WRITE
    assert not [k for k in ann if k.endswith("-endpoint") and "write-logs" not in k], ann
    assert yaml.safe_load(ann["k0rdent.mirantis.com/kof-storage-values"])["victoriametrics"]["vmcluster"]["spec"][
        "retentionPeriod"] == "90d"
    us = cds["us-storage"]
    assert us["spec"]["config"]["clusterAnnotations"]["k0rdent.mirantis.com/kof-regional-domain"] == \
        "us-storage.acme.test"
    assert us["spec"]["config"]["clusterAnnotations"]["k0rdent.mirantis.com/kof-storage-class"] == "ebs-csi-default-sc"
    assert json.loads(us["metadata"]["annotations"]["k0rdent.mirantis.com/kof-http-config"]) == \
        {"tls_config": {"insecure_skip_verify": True}}
    child = cds["eu-app2"]
    assert child["metadata"]["labels"]["k0rdent.mirantis.com/kof-cluster-role"] == "child"
    assert child["metadata"]["labels"]["k0rdent.mirantis.com/kof-regional-cluster-name"] == "eu-storage"
    collectors = yaml.safe_load(child["spec"]["config"]["clusterAnnotations"][
        "k0rdent.mirantis.com/kof-collectors-values"])
    assert collectors["opencost"]["enabled"] is True
    assert collectors["opencost"]["opencost"]["customPricing"]["costModel"]["CPU"] == 0.031
    assert child["spec"]["config"]["region"] == "eu-central-1"  # a child inherits its region's cloud region


def test_4_kof_operator_and_the_multiclusterservices_did_their_part(fleet):
    sets = kubectl_json(fleet, "get", "servicesets", "-n", NS)["items"]
    by_cluster = {}
    for s in sets:
        by_cluster.setdefault(s["spec"]["cluster"], {})[s["spec"]["multiClusterService"]] = s
    assert set(by_cluster) == {"eu-app1", "eu-app2", "eu-storage", "us-app1", "us-storage"}
    for name, mine in by_cluster.items():
        assert ("kof-regional-cluster" if "storage" in name else "kof-child-cluster") in mine, (name, list(mine))
        for mcs, s in mine.items():
            assert s["status"]["deployed"] is True, (name, mcs, s["status"])
    assert {s["name"] for s in by_cluster["eu-storage"]["kof-regional-cluster"]["status"]["services"]} >= \
        {"kof-storage", "kof-collectors"}
    psgs = {p["spec"]["cluster_name"]: p for p in kubectl_json(fleet, "get", "promxyservergroups", "-n", NS)["items"]}
    assert set(psgs) == {"eu-storage", "us-storage"}
    assert psgs["eu-storage"]["metadata"]["labels"]["k0rdent.mirantis.com/secret-name"] == \
        "kof-mothership-promxy-config"
    assert psgs["eu-storage"]["spec"]["targets"] == ["vmauth.obs-eu.acme.test:443"]
    eu = kubectl_json(fleet, "get", "configmap", "-n", NS, "kof-cluster-config-eu-app1")["data"]
    assert eu["write_logs_endpoint"] == LOGS_WRITE  # kof-operator took the annotation
    assert eu["write_metrics_endpoint"] == "https://vmauth.obs-eu.acme.test/vm/insert/0/prometheus/api/v1/write"
    config = kubectl_json(fleet, "get", "configmap", "-n", NS, "kof-cluster-config-us-app1")["data"]
    assert config["regional_cluster_name"] == "us-storage"
    assert config["write_metrics_endpoint"].startswith("https://vmauth.us-storage.acme.test/")
    secret = kubectl_json(fleet, "get", "secret", "-n", "kof", "kof-mothership-promxy-config")
    promxy = base64.b64decode(secret["data"]["config.yaml"]).decode()
    assert "vmauth.obs-eu.acme.test" in promxy and "vmauth.us-storage.acme.test" in promxy, promxy
    report = json.loads((ROOT / fleet["gv"]["kof_report_dir"] / "fleet-report.json").read_text())
    assert report["summary"]["ok"] and len(report["clusters"]) == 5, report["summary"]


def test_5_rerun_changes_nothing_and_writes_nothing(fleet):
    k = fleet["kofsim"]
    seq = k.last_seq()
    again = site(fleet)
    assert again.rc == 0, again
    assert again.changed == 0, again.recap
    assert k.writes(since=seq) == [], "a no-op re-run sent writes"
    check = site(fleet, "--check")
    assert check.rc == 0 and check.changed == 0, check.recap


def test_6_diff_shows_one_childs_values(fleet):
    hosts = json.loads(json.dumps(HOSTS))
    hosts["all"]["children"]["kof_child"]["children"]["eu_apps"]["hosts"]["eu-app2"] = {
        "kof_child_collectors_values": {"opencost": {"enabled": False}}}
    inv = write_inventory(fleet["inv"], hosts, fleet["gv"])
    k = fleet["kofsim"]
    seq = k.last_seq()
    run = site(fleet, "--diff", inv=inv)
    assert run.rc == 0, run
    assert {h for h, r in run.recap.items() if r["changed"]} == {"eu-app2"}, run.recap
    assert "enabled: false" in run.stdout and "kof-collectors-values" in run.stdout
    assert [w["path"].rsplit("/", 1)[-1] for w in k.writes(since=seq)
            if "/clusterdeployments/" in w["path"]] == ["eu-app2"]


def test_7_a_failed_service_fails_its_own_host(fleet):
    k = fleet["kofsim"]
    k.scenario(fail_service={"us-app1": ["kof-collectors"]})
    try:
        hosts = json.loads(json.dumps(HOSTS))
        hosts["all"]["children"]["kof_child"]["children"]["us_apps"]["hosts"]["us-app1"] = {
            "kof_child_collectors_values": {"opencost": {"enabled": True}}}  # a change, so kcm redeploys
        run = site(fleet, inv=write_inventory(fleet["inv"], hosts, fleet["gv"]))
    finally:
        k.scenario(fail_service={})
    assert run.rc != 0
    assert run.failed_hosts == ["us-app1"], run.recap
    assert "KOF's services on ClusterDeployment kcm-system/us-app1: ServiceSet us-app1-" in run.stdout
    assert "(MultiClusterService kof-child-cluster): service kof/kof-collectors failed" in run.stdout


def test_8_a_value_flux_refuses_is_reported_from_the_helmrelease(fleet):
    gv = dict(fleet["gv"], kof_values={"kof-mothership": {"values": {"kcm": {"bogusKey": True}}}},
              kof_wait_timeout=60)
    run = site(fleet, "--limit", "hub", inv=write_inventory(fleet["inv"], json.loads(json.dumps(HOSTS)), gv))
    assert run.rc != 0
    assert "kof-mothership" in run.stdout and "bogusKey" in run.stdout, run.stdout[-3000:]


def _on(fleet, cluster, *args):
    """`kubectl <args> -o json` on a regional cluster itself, through its kubeconfig Secret."""
    path = fleet["inv"].parent / f"{cluster}.kubeconfig"
    if not path.exists():
        secret = kubectl_json(fleet, "get", "secret", "-n", NS, f"{cluster}-kubeconfig")
        path.write_bytes(base64.b64decode(secret["data"]["value"]))
    return kubectl_json(fleet, "--kubeconfig", str(path), *args)


def _on_us_storage(fleet, *args):
    return _on(fleet, "us-storage", *args)


def test_9_a_new_storage_class_recreates_the_storage_statefulsets_only_when_confirmed(fleet):
    """kof-regional passes the storage class into the claim templates of kof-storage's log and trace storage,
    StatefulSets helm manages itself: Kubernetes forbids that update, so the upgrade would fail. Without
    kof_storage_recreate_confirm the regional tier refuses before any write; --check with it warns; with it the
    StatefulSets are deleted with propagationPolicy Orphan and re-created by the upgrade, adopting the running pods
    and their volumes (the data), verify green, and a re-run changes nothing."""
    k = fleet["kofsim"]
    vl = "kof-storage-victoria-logs-cluster-vlstorage"
    hosts = json.loads(json.dumps(HOSTS))
    hosts["all"]["children"]["kof_regional"]["hosts"]["us-storage"]["kof_regional_storage_class"] = "gp3-fast"
    inv = write_inventory(fleet["inv"], hosts, fleet["gv"])
    pods = {p["metadata"]["name"]: p["metadata"]["uid"]
            for p in _on_us_storage(fleet, "get", "pods", "-n", "kof", "-l", "app=vlstorage")["items"]}
    claims = {c["metadata"]["name"]: c["metadata"]["uid"] for c in _on_us_storage(fleet, "get", "pvc", "-n", "kof")["items"]}
    assert len(pods) == 2 and f"vlstorage-volume-{vl}-0" in claims
    seq = k.last_seq()
    refused = site(fleet, inv=inv)
    assert refused.rc != 0
    text = flat(refused.stdout)
    assert "would change storage that Kubernetes does not let an update change" in text, refused.stdout[-3000:]
    assert "StatefulSets have volume claim templates an update may not change" in text
    assert "grafana-vm-pvc" not in text  # KOF 1.x: no Grafana in kof-storage by default, no global class there
    assert f"host us-storage (ClusterDeployment {NS}/us-storage): {vl}, kof-storage-vt-cluster-vtstorage" in text
    assert "kof_storage_recreate_confirm=true" in text
    # (the management tier before it puts kof-mothership's values back after test 8: its writes are its own)
    assert not [w for w in k.writes(since=seq) if "/clusterdeployments" in w["path"] or "/statefulsets" in w["path"]]
    seq = k.last_seq()
    check = site(fleet, "--check", "-e", "kof_storage_recreate_confirm=true", inv=inv)
    assert check.rc == 0, check
    # (children: us-app1 goes back to the inventory's values after test 7; the regional tier is what matters)
    assert {h for h, r in check.recap.items() if r["changed"] and h.endswith("-storage")} == {"us-storage"}
    assert "check mode: the run would delete kof-storage StatefulSet(s)" in flat(check.stderr)
    assert k.writes(since=seq) == [], "check mode wrote"
    run = site(fleet, "-e", "kof_storage_recreate_confirm=true", inv=inv)
    assert run.rc == 0, run
    assert {h for h, r in run.recap.items() if r["changed"] and h.endswith("-storage")} == {"us-storage"}
    sts = _on_us_storage(fleet, "get", "statefulset", "-n", "kof", vl)
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "gp3-fast"
    adopted = _on_us_storage(fleet, "get", "pods", "-n", "kof", "-l", "app=vlstorage")["items"]
    assert {p["metadata"]["name"]: p["metadata"]["uid"] for p in adopted} == pods  # the same pods, adopted
    assert {p["metadata"]["ownerReferences"][0]["uid"] for p in adopted} == {sts["metadata"]["uid"]}
    after = {c["metadata"]["name"]: c["metadata"]["uid"] for c in _on_us_storage(fleet, "get", "pvc", "-n", "kof")["items"]}
    assert all(after.get(n) == uid for n, uid in claims.items()), "a volume claim was replaced"
    # the VictoriaMetrics operator re-creates its own vmstorage StatefulSet the same way (recreateSTSIfNeed)
    vmstorage = _on_us_storage(fleet, "get", "statefulset", "-n", "kof", "vmstorage-cluster")
    assert vmstorage["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "gp3-fast"
    again = site(fleet, inv=inv)
    assert again.rc == 0 and again.changed == 0, again.recap


def test_10_kof_regional_storage_values_recreate_the_storage_statefulsets_only_when_confirmed(fleet):
    """kof-regional merges its own storage values (kof_values) into every regional's kof-storage, beneath the
    cluster's annotations: a bigger log volume there changes the claim template of the log storage on every
    regional (k0rdent/kof#1119). The management tier refuses before any write, naming each cluster; --check with
    kof_storage_recreate_confirm predicts the run; with it the StatefulSets are deleted with propagationPolicy Orphan
    before the umbrella upgrade, which re-creates them with the new template adopting the running pods and their
    volumes; a re-run changes nothing."""
    k = fleet["kofsim"]
    vl = "kof-storage-victoria-logs-cluster-vlstorage"
    hosts = json.loads(json.dumps(HOSTS))  # with test 9's storage class, which the regional tier has applied
    hosts["all"]["children"]["kof_regional"]["hosts"]["us-storage"]["kof_regional_storage_class"] = "gp3-fast"
    gv = dict(fleet["gv"], kof_values={"kof-regional": {"values": {"storage": {"victoria-logs-cluster": {
        "vlstorage": {"persistentVolume": {"size": "150Gi"}}}}}}})
    inv = write_inventory(fleet["inv"], hosts, gv)
    before = {c: {"pods": {p["metadata"]["name"]: p["metadata"]["uid"]
                           for p in _on(fleet, c, "get", "pods", "-n", "kof", "-l", "app=vlstorage")["items"]},
                  "claims": {x["metadata"]["name"]: x["metadata"]["uid"]
                             for x in _on(fleet, c, "get", "pvc", "-n", "kof")["items"]},
                  "sts": _on(fleet, c, "get", "statefulset", "-n", "kof", vl)["metadata"]["uid"]}
              for c in ("eu-storage", "us-storage")}
    assert all(b["pods"] for b in before.values())
    seq = k.last_seq()
    refused = site(fleet, inv=inv)
    assert refused.rc != 0 and "hub" in refused.failed_hosts, refused.recap
    text = flat(refused.stdout)
    assert "storage values (kof_values kof-regional.values.storage) would change the volume claim templates" in text
    assert f"on 2 cluster(s): {NS}/eu-storage ({vl}); {NS}/us-storage ({vl})" in text, refused.stdout[-3000:]
    assert "kof_storage_recreate_confirm=true" in text and "Nothing was changed" in text
    assert k.writes(since=seq) == [], "the refusal wrote"
    seq = k.last_seq()
    check = site(fleet, "--check", "-e", "kof_storage_recreate_confirm=true", inv=inv)
    assert check.rc == 0, check
    assert k.writes(since=seq) == [], "check mode wrote"
    run = site(fleet, "-e", "kof_storage_recreate_confirm=true", inv=inv)
    assert run.rc == 0, run
    assert check.recap["hub"]["changed"] == run.recap["hub"]["changed"], (check.recap["hub"], run.recap["hub"])
    for c, b in before.items():
        sts = _on(fleet, c, "get", "statefulset", "-n", "kof", vl)
        assert sts["metadata"]["uid"] != b["sts"], f"{c}: the StatefulSet was not re-created"
        assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "150Gi", c
        pods = _on(fleet, c, "get", "pods", "-n", "kof", "-l", "app=vlstorage")["items"]
        assert {p["metadata"]["name"]: p["metadata"]["uid"] for p in pods} == b["pods"], f"{c}: pods replaced"
        assert {p["metadata"]["ownerReferences"][0]["uid"] for p in pods} == {sts["metadata"]["uid"]}
        claims = {x["metadata"]["name"]: x["metadata"]["uid"] for x in _on(fleet, c, "get", "pvc", "-n", "kof")["items"]}
        assert all(claims.get(n) == uid for n, uid in b["claims"].items()), f"{c}: a volume claim was replaced"
    again = site(fleet, inv=inv)
    assert again.rc == 0 and again.changed == 0, again.recap
