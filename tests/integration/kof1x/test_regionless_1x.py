"""KOF 1.10's regionless mode (the umbrella chart's `regionless.*` in kof_values; k0rdent/kof v1.10.0 charts/kof)
through site.yml, on kofsim serving kcm 1.x: no regional clusters - kof-regional's MultiClusterService installs
kof-storage on the management cluster itself (kcm's self-management ServiceSet), kof-operator's regionless ConfigMap
`kof-<regionless.clusterName>` in kcm-system is every child's regional, the children carry no regional label.
What regionless mode cannot work with is refused before any write, all at once; the rollout waits for the
management cluster's storage, the fleet report draws the children under the management cluster, a re-run and
--check change nothing."""
from __future__ import annotations

import json
import re
import time

import pytest

from kofsim.testing import Kofsim
from tests.helpers import ROOT, ansible_playbook, tool_env
from tests.integration.kof1x import changes_nothing, flat, kubectl, kubectl_json, tenant_namespace
from tests.integration.tiers.conftest import write_inventory

CHARTS_1X = ROOT / "kofsim" / "kofsim" / "charts-1.10"
NS, TEAM = "kcm-system", "team-r"
P = "k0rdent.mirantis.com/"
DOMAIN = "hub.acme.test"

HOSTS = {"all": {"children": {
    "kof_management": {"hosts": {"hub": None}},
    "kof_child": {"hosts": {"app-1": None, "app-2": {"kof_kcm_namespace": TEAM}}}}}}

GROUP_VARS = {"kof_version": "1.10.0", "kof_chart_repository": str(CHARTS_1X), "kof_base_domain": "acme.test",
              "kof_admin_email": "sre@acme.test", "kof_dns_mode": "none", "kof_verify_timeout": 90,
              "kof_wait_timeout": 120, "kof_cross_namespace": True,
              "kof_values": {"regionless": {"enabled": True, "domain": DOMAIN}}}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    # a management cluster in a cloud: its LoadBalancer Services get addresses (the regionless Gateway's, test 4)
    k = Kofsim(tmp_path_factory.mktemp("kofsim-regionless"), ready_after=0.3, kcm_api_version="v1beta1",
               extra_args=["--lb-domain", "us-east-2.elb.amazonaws.com"])
    k.start()
    fleet = {"kofsim": k, "env": tool_env(home=tmp_path_factory.mktemp("home"),
                                           extra={"K8S_AUTH_KUBECONFIG": k.kubeconfig}),
             "inv": tmp_path_factory.mktemp("inventory"),
             "gv": dict(GROUP_VARS, kof_report_dir=str(tmp_path_factory.mktemp("report")))}
    tenant_namespace(fleet, TEAM)
    yield fleet
    k.stop()


def site(fleet, *args, hosts=None, playbook="site.yml", **group_vars):
    inv = write_inventory(fleet["inv"], json.loads(json.dumps(hosts or HOSTS)), dict(fleet["gv"], **group_vars))
    return ansible_playbook("-i", inv, f"playbooks/{playbook}", *args, env=fleet["env"])


def test_1_what_regionless_cannot_do_is_refused_before_any_write(fleet):
    k = fleet["kofsim"]
    seq = k.last_seq()
    hosts = {"all": {"children": {
        "kof_management": {"hosts": {"hub": None}},
        "kof_regional": {"hosts": {"eu-storage": None}},
        "kof_child": {"hosts": {"app-1": {"kof_regional": "eu-storage"}, "app-2": {"kof_kcm_namespace": TEAM}}}}}}
    run = site(fleet, hosts=hosts, kof_cross_namespace=False,
               kof_values={"regionless": {"enabled": True, "certEmail": "not-an-address"}})
    assert run.rc != 0, run
    out = flat(run.stdout)
    for msg in ("regionless mode (kof_values.regionless.enabled) has no regional clusters: the kof-regional "
                "MultiClusterService then selects only the management cluster, so eu-storage would get no storage",
                "host app-1: kof_regional eu-storage is set, but in regionless mode children write to the "
                "management cluster: unset kof_regional",
                "kof_values.regionless.domain None is not a valid DNS domain",
                "kof_values.regionless.certEmail not-an-address is not a valid e-mail address",
                # (flat drops quotes)
                "1 child cluster is outside namespace kcm-system (app-2 (team-r)): in regionless mode kof-operator "
                "finds the management cluster s ConfigMap in kcm-system"):
        assert msg in out, (msg, out[out.find("the KOF inventory has"):][:3000])
    assert k.writes(since=seq) == []


def test_2_storage_on_the_management_cluster_children_write_there(fleet):
    run = site(fleet)
    assert run.rc == 0, run.stdout[-3000:]
    assert sorted(run.recap) == ["app-1", "app-2", "hub"]
    # the rollout waited for the management cluster's storage (kcm's self-management ServiceSet, kof-operator's
    # regionless ConfigMap and PromxyServerGroup)
    assert re.search(r"TASK \[k0rdent\.kof\.mothership : Wait until KOF has deployed kof-storage to the management "
                     r"cluster \(regionless mode\) and registered it\] \*+ ok: \[hub\]", flat(run.stdout))
    values = {n: kubectl_json(fleet, "get", "helmrelease", "-n", "kof", n)["spec"]["values"]
              for n in ("kof-mothership", "kof-regional")}
    # the umbrella's regionless values; cert-manager's account is kof_admin_email
    assert values["kof-mothership"]["regionless"] == {"enabled": True, "domain": DOMAIN}
    assert values["kof-regional"]["regionless"] == {"enabled": True, "clusterName": "mothership", "domain": DOMAIN,
                                                    "certEmail": "sre@acme.test"}
    mcs = kubectl_json(fleet, "get", "multiclusterservice", "kof-regional-cluster")
    assert [(c["kind"], c["name"], c["deployed"]) for c in mcs["status"]["matchingClusters"]] == \
        [("SveltosCluster", "mgmt", True)]
    for ns, name in ((NS, "app-1"), (TEAM, "app-2")):
        labels = kubectl_json(fleet, "get", "clusterdeployment", "-n", ns, name)["metadata"]["labels"]
        assert labels[P + "kof-cluster-role"] == "child"
        assert P + "kof-regional-cluster-name" not in labels and P + "kof-regional-cluster-namespace" not in labels
        config = kubectl_json(fleet, "get", "configmap", "-n", ns, f"kof-cluster-config-{name}")["data"]
        assert config["regional_cluster_name"] == "mothership" and config["regional_cluster_namespace"] == NS
        assert config["write_metrics_endpoint"] == f"https://vmauth.{DOMAIN}/vm/insert/0/prometheus/api/v1/write"
    report = json.loads((ROOT / fleet["gv"]["kof_report_dir"] / "fleet-report.json").read_text())
    assert report["summary"]["ok"], report["summary"]
    # the management cluster's storage has a row of its own (kof-regional's ServiceSet, the PromxyServerGroup,
    # the pods of kof there), listed first; the children are drawn in its box of the HTML report
    assert [(c["name"], c["tier"], c["region"]) for c in report["clusters"]] == \
        [("mothership", "management", "mothership"), ("app-1", "child", "mothership"),
         ("app-2", "child", "mothership")]
    storage = report["clusters"][0]
    assert storage["state"] == "healthy" and storage["services"] == "Deployed", storage
    assert storage["pods"]["kof"].split("/")[0] == storage["pods"]["kof"].split("/")[1] != "0", storage
    page = (ROOT / fleet["gv"]["kof_report_dir"] / "fleet-report.html").read_text()
    assert "Region mothership" in page and "not in inventory" not in page


def test_3_rerun_and_check_change_nothing(fleet):
    changes_nothing(fleet, lambda: site(fleet))
    changes_nothing(fleet, lambda: site(fleet, "--check"))


def test_4_manual_dns_points_the_regionless_domain_at_the_management_gateway(fleet):
    """dns_records.yml (kof_dns_mode manual): vmauth.<regionless.domain> -> the address envoy-gateway gave the
    Gateway kof-storage made on the management cluster, read there (no kubeconfig Secret)."""
    inv = write_inventory(fleet["inv"], json.loads(json.dumps(HOSTS)),
                          dict(fleet["gv"], kof_dns_mode="manual", kof_dns_address_timeout=60))
    run = ansible_playbook("-i", inv, "playbooks/dns_records.yml", env=fleet["env"])
    assert run.rc == 0 and sorted(run.recap) == ["hub"], run.stdout[-3000:]
    gw = kubectl_json(fleet, "get", "gateway", "-n", "kof", "gateway")
    address = gw["status"]["addresses"][0]["value"]
    assert address.endswith(".us-east-2.elb.amazonaws.com"), address
    report = json.loads((ROOT / fleet["gv"]["kof_report_dir"] / "dns-records.json").read_text())
    assert [(r["cluster"], r["name"], r["value"]) for r in report["records"]] == [("hub", f"vmauth.{DOMAIN}", address)]
    # the report files were written; again, nothing changes
    changes_nothing(fleet, lambda: ansible_playbook("-i", inv, "playbooks/dns_records.yml", env=fleet["env"]))


def test_4b_unhealthy_management_storage_fails_the_management_host(fleet):
    """A pod of kof on the management cluster that cannot start (its Secret is missing) makes the storage's row
    unhealthy: verify.yml fails the management host with what is wrong, the children stay healthy."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "vlogs-stuck", "namespace": "kof"},
           "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}],
                    "volumes": [{"name": "creds", "secret": {"secretName": "no-such-secret"}}]}}
    kubectl(fleet, "apply", "-f", "-", input=json.dumps(pod))
    try:
        run = site(fleet, playbook="verify.yml", kof_verify_timeout=3, kof_verify_interval=1)
        assert run.rc != 0 and run.failed_hosts == ["hub"], run.recap
        assert "1 of 3 clusters unhealthy: mothership: kof: pod vlogs-stuck" in flat(run.stdout), \
            flat(run.stdout)[-3000:]
        report = json.loads((ROOT / fleet["gv"]["kof_report_dir"] / "fleet-report.json").read_text())
        assert [(c["name"], c["state"]) for c in report["clusters"]] == \
            [("mothership", "unhealthy"), ("app-1", "healthy"), ("app-2", "healthy")]
    finally:
        kubectl(fleet, "delete", "pod", "-n", "kof", "vlogs-stuck", "--wait=true")
    run = site(fleet, playbook="verify.yml")
    assert run.rc == 0 and not run.failed_hosts, run.stdout[-3000:]


def test_4c_static_credentials_turn_external_dns_on_for_the_management_storage(fleet):
    """kof_dns_mode static_credentials after the install: kof-regional 1.10 looks for an external-dns* Secret only
    when Flux renders it, which a Secret made later does not cause - so the management tier says
    storage.external-dns.enabled in kof-regional's values. external-dns then runs beside the storage on the
    management cluster, mounting the Secret dns.yml keeps in kof (made here by hand: dns.yml needs AWS)."""
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "external-dns-aws-credentials",
                                                               "namespace": "kof"},
              "stringData": {"external-dns-aws-credentials": "[default]\naws_access_key_id = AKIAEXAMPLE\n"}}
    kubectl(fleet, "apply", "-f", "-", input=json.dumps(secret))
    try:
        run = site(fleet, playbook="mothership.yml", kof_dns_mode="static_credentials")
        assert run.rc == 0 and not run.failed_hosts, run.stdout[-3000:]
        values = kubectl_json(fleet, "get", "helmrelease", "-n", "kof", "kof-regional")["spec"]["values"]
        assert values["storage"]["external-dns"] == {"enabled": True}, values.get("storage")
        deadline = time.time() + 90
        while True:
            dep = kubectl_json(fleet, "get", "deployment", "-n", "kof", "kof-storage-external-dns", check=False)
            if dep or time.time() > deadline:
                break
            time.sleep(1)
        assert dep, "no external-dns Deployment on the management cluster"
        pod = dep["spec"]["template"]["spec"]
        assert [v["secret"]["secretName"] for v in pod["volumes"]] == ["external-dns-aws-credentials"]
        run = site(fleet, playbook="verify.yml", kof_dns_mode="static_credentials")
        assert run.rc == 0 and not run.failed_hosts, run.stdout[-3000:]
        changes_nothing(fleet, lambda: site(fleet, playbook="mothership.yml", kof_dns_mode="static_credentials"))
    finally:
        # back to kof_dns_mode none: external-dns goes with the Secret
        kubectl(fleet, "delete", "secret", "-n", "kof", "external-dns-aws-credentials")
        run = site(fleet, playbook="mothership.yml")
        assert run.rc == 0 and not run.failed_hosts, run.stdout[-3000:]


def test_5_switching_regionless_on_or_off_is_refused_while_storage_would_go(fleet):
    """kof-regional's MultiClusterService follows the mode: switched off, kof-storage would leave the management
    cluster; switched on beside a live regional ClusterDeployment, it would leave that cluster - data lost either
    way, so the mothership preflight refuses before any write."""
    k = fleet["kofsim"]
    seq = k.last_seq()
    # back to regional clusters: a valid inventory of the other mode
    regional_fleet = {"all": {"children": {
        "kof_management": {"hosts": {"hub": None}},
        "kof_regional": {"hosts": {"eu-storage": None}},
        "kof_child": {"hosts": {"app-1": None, "app-2": {"kof_kcm_namespace": TEAM}},
                      "vars": {"kof_regional": "eu-storage"}}}}}
    off = site(fleet, hosts=regional_fleet, kof_values={})
    assert off.rc != 0 and off.failed_hosts == ["hub"], off.recap
    assert "KOF runs in regionless mode (MultiClusterService kof-regional-cluster deploys to the management " \
           "cluster), but kof_values does not turn it on" in flat(off.stdout), flat(off.stdout)[-3000:]
    assert k.writes(since=seq) == []
    regional = {"apiVersion": "k0rdent.mirantis.com/v1beta1", "kind": "ClusterDeployment",
                "metadata": {"name": "old-region", "namespace": NS,
                             "labels": {P + "kof-cluster-role": "regional"}},
                "spec": {"template": "aws-standalone-cp-1-0-28", "credential": "aws-cluster-identity-cred",
                         "config": {"region": "us-east-2",
                                    "clusterAnnotations": {P + "kof-regional-domain": "old.acme.test"}}}}
    kubectl(fleet, "apply", "-f", "-", input=json.dumps(regional))
    seq = k.last_seq()
    on = site(fleet)
    assert on.rc != 0 and on.failed_hosts == ["hub"], on.recap
    assert "kof_values turns regionless mode on, but 1 regional ClusterDeployment(s) still run kof-storage " \
           "(old-region)" in flat(on.stdout), flat(on.stdout)[-3000:]
    assert k.writes(since=seq) == []
    kubectl(fleet, "delete", "clusterdeployment", "-n", NS, "old-region", "--wait=true")


def test_6_uninstall_leaves_no_regionless_object(fleet):
    """uninstall.yml in the documented order, plus what regionless mode leaves otherwise: kof-operator's regionless
    ConfigMap has no owner, so it is deleted while kof-operator still runs (its ResourceCleanup takes the admin
    credentials, ownerReferences the PromxyServerGroup and the record-vmrules ConfigMap)."""
    run = site(fleet, "-e", "kof_uninstall_confirm=true", "-e", "kof_backup_before_uninstall=false",
               playbook="uninstall.yml")
    assert run.rc == 0 and not run.failed_hosts, run.stdout[-3000:]

    def left():
        cms = [c["metadata"]["name"] for c in kubectl_json(fleet, "get", "configmaps", "-n", NS)["items"]
               if c["metadata"]["name"].startswith("kof-")]
        secrets = [s["metadata"]["name"] for s in kubectl_json(fleet, "get", "secrets", "-n", NS)["items"]
                   if s["metadata"]["name"].startswith("kof-vmuser-creds-admin-")]
        psgs = kubectl_json(fleet, "get", "promxyservergroups", "-A", check=False)
        sets = kubectl_json(fleet, "get", "servicesets", "-A")["items"]
        return cms + secrets + [p["metadata"]["name"] for p in (psgs or {}).get("items", [])] + \
            [s["metadata"]["name"] for s in sets]
    deadline = time.monotonic() + 30  # garbage collection of the owned objects runs after the delete
    while left() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert left() == []
    assert kubectl_json(fleet, "get", "clusterdeployments", "-A")["items"] == []
    assert kubectl_json(fleet, "get", "multiclusterservices")["items"] == []
