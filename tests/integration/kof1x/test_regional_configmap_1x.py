"""KOF 1.10 with a regional cluster that is only a ConfigMap (k0rdent docs admin/kof kof-install, "Regional
ConfigMap": the storage runs somewhere the collection does not make, children still discover its endpoints), on
kofsim serving kcm 1.x. kof_regional_configmap_only: the collection writes the ConfigMap kof-<host> instead of a
ClusterDeployment; kof-operator registers it with promxy (PromxyServerGroup owned by the ConfigMap) and gives its
children its endpoints; verify judges it by that registration; a re-run changes nothing; --check --diff predicts
an endpoint change without a write; backup leaves it out; uninstall deletes the ConfigMap (and with it what
kof-operator made), and so does prune once it left the inventory; KOF 0.1.x refuses the setting before any write."""
from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
import yaml

from kofsim.testing import Kofsim
from tests.helpers import ROOT, ansible_playbook, tool_env
from tests.integration.kof1x import changes_nothing, flat, kubectl_json
from tests.integration.tiers.conftest import write_inventory

NS = "kcm-system"
ROLE = "k0rdent.mirantis.com/kof-cluster-role"
HOSTED = {"metrics_read": "https://vm.hosted.example.net/select/0/prometheus",
          "metrics_write": "https://vm.hosted.example.net/insert/0/prometheus/api/v1/write"}


def hosts(endpoints=None):
    return {"all": {"children": {
        "kof_management": {"hosts": {"ops": None}},
        "kof_regional": {"hosts": {
            "eu-store": {"kof_regional_region": "eu-west-1"},
            # a region whose storage is hosted elsewhere: only its ConfigMap, custom metrics endpoints
            "us-hosted": {"kof_regional_region": "us-east-1", "kof_regional_configmap_only": True,
                          "kof_regional_endpoints": endpoints or HOSTED}}},
        "kof_child": {"hosts": {"eu-web": {"kof_regional": "eu-store"}, "us-web": {"kof_regional": "us-hosted"}}}}}}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    k = Kofsim(tmp_path_factory.mktemp("kofsim-regional-cm"), ready_after=0.3, kcm_api_version="v1beta1")
    k.start()
    gv = {"kof_chart_repository": str(ROOT / "kofsim" / "kofsim" / "charts-1.10"),
          "kof_base_domain": "obs.example.net", "kof_admin_email": "noc@example.net", "kof_dns_mode": "none",
          "kof_verify_timeout": 90, "kof_wait_timeout": 300,
          "kof_report_dir": str(tmp_path_factory.mktemp("report")),
          "kof_backup_dir": str(tmp_path_factory.mktemp("backups"))}
    yield {"kofsim": k, "gv": gv, "inv": tmp_path_factory.mktemp("inventory"),
           "env": tool_env(home=tmp_path_factory.mktemp("home"), extra={"K8S_AUTH_KUBECONFIG": k.kubeconfig})}
    k.stop()


def play(fleet, playbook, *args, endpoints=None, **group_vars):
    inv = write_inventory(fleet["inv"], hosts(endpoints), dict(fleet["gv"], **group_vars))
    return ansible_playbook("-i", inv, f"playbooks/{playbook}", *args, env=fleet["env"])


def psgs(fleet):
    return {p["spec"]["cluster_name"]: p for p in kubectl_json(fleet, "get", "promxyservergroups", "-n", NS)["items"]}


def test_1_kof_0_1_refuses_it_before_any_write(fleet):
    k = fleet["kofsim"]
    seq = k.last_seq()
    run = play(fleet, "site.yml", kof_version="0.1.1")
    assert run.rc != 0, run
    assert ("kof_regional_configmap_only (host us-hosted) is for KOF 1.x, whose kof-operator registers a regional "
            "cluster from its ConfigMap") in flat(run.stdout), flat(run.stdout)[-2000:]
    assert k.writes(since=seq) == []


def test_2_site_announces_the_region_by_its_configmap(fleet):
    run = play(fleet, "site.yml")  # kof_version auto: 1.10.0 on kcm 1.x
    assert run.rc == 0 and not run.failed_hosts, run.stdout[-3000:]
    assert sorted(run.recap) == ["eu-store", "eu-web", "ops", "us-hosted", "us-web"]
    assert run.recap["us-hosted"]["changed"] == 1, run.recap
    cds = sorted(c["metadata"]["name"] for c in kubectl_json(fleet, "get", "clusterdeployments", "-n", NS)["items"])
    assert cds == ["eu-store", "eu-web", "us-web"], "no ClusterDeployment for a regional that is only a ConfigMap"
    cm = kubectl_json(fleet, "get", "configmap", "-n", NS, "kof-us-hosted")
    assert cm["metadata"]["labels"][ROLE] == "regional"
    data = cm["data"]
    assert data["regional_cluster_name"] == "us-hosted" and data["regional_cluster_namespace"] == NS
    assert data["aws_region"] == "us-east-1" and data["regional_cluster_cloud"] == "aws"
    assert data["read_metrics_endpoint"] == HOSTED["metrics_read"]
    assert data["write_metrics_endpoint"] == HOSTED["metrics_write"]
    # the endpoints not given are derived from the domain, as kof-operator derives them for a ClusterDeployment
    assert data["write_logs_endpoint"] == "https://vmauth.us-hosted.obs.example.net/vli/insert/opentelemetry/v1/logs"
    assert data["read_traces_endpoint"] == "https://vmauth.us-hosted.obs.example.net/vts"
    # kof-operator registered it with promxy (owned by the ConfigMap) ...
    psg = psgs(fleet)["us-hosted"]
    assert psg["spec"]["targets"] == ["vm.hosted.example.net:443"] and psg["spec"]["path_prefix"] == \
        "/select/0/prometheus", psg["spec"]
    assert [o["kind"] for o in psg["metadata"]["ownerReferences"]] == ["ConfigMap"]
    # ... and gave its child its endpoints
    child = kubectl_json(fleet, "get", "configmap", "-n", NS, "kof-cluster-config-us-web")["data"]
    assert child["regional_cluster_name"] == "us-hosted"
    assert child["write_metrics_endpoint"] == HOSTED["metrics_write"]
    report = json.loads((Path(fleet["gv"]["kof_report_dir"]) / "fleet-report.json").read_text())
    assert report["summary"]["ok"], report["summary"]
    hosted = next(c for c in report["clusters"] if c["name"] == "us-hosted")
    assert hosted["state"] == "healthy" and hosted["services"] == "none (regional ConfigMap)", hosted


def test_3_rerun_changes_nothing(fleet):
    changes_nothing(fleet, lambda: play(fleet, "site.yml"))
    # a run limited to the region and its child (no management host, whose play validates the inventory in a
    # full run) still knows the region is only a ConfigMap
    run = changes_nothing(fleet, lambda: play(fleet, "site.yml", "--limit", "us-hosted,us-web"))
    assert sorted(run.recap) == ["us-hosted", "us-web"], run.recap


def test_4_check_diff_predicts_an_endpoint_change_without_a_write(fleet):
    k = fleet["kofsim"]
    moved = dict(HOSTED, metrics_read="https://vm2.hosted.example.net/select/0/prometheus")
    seq = k.last_seq()
    run = play(fleet, "site.yml", "--check", "--diff", endpoints=moved)
    assert run.rc == 0, run.stdout[-3000:]
    assert k.writes(since=seq) == []
    assert run.recap["us-hosted"]["changed"] == 1 and run.changed == 1, run.recap
    out = run.stdout
    assert "-  read_metrics_endpoint: https://vm.hosted.example.net/select/0/prometheus" in out, out[-3000:]
    assert "+  read_metrics_endpoint: https://vm2.hosted.example.net/select/0/prometheus" in out, out[-3000:]
    # the real run does what the check said; kof-operator follows (PromxyServerGroup, the child's ConfigMap)
    run = play(fleet, "site.yml", endpoints=moved)
    assert run.rc == 0 and run.changed == 1 and run.recap["us-hosted"]["changed"] == 1, run.recap
    assert psgs(fleet)["us-hosted"]["spec"]["targets"] == ["vm2.hosted.example.net:443"]
    child = kubectl_json(fleet, "get", "configmap", "-n", NS, "kof-cluster-config-us-web")["data"]
    assert child["read_metrics_endpoint"] == moved["metrics_read"]
    play(fleet, "site.yml")  # back to the module's endpoints


def test_5_backup_leaves_it_out(fleet):
    run = play(fleet, "backup.yml")
    assert run.rc == 0, run.stdout[-3000:]
    [archive] = sorted(Path(fleet["gv"]["kof_backup_dir"]).glob("kof-backup-*.tar.gz"))
    with tarfile.open(archive, "r:gz") as tar:
        manifest = yaml.safe_load(tar.extractfile(next(m for m in tar.getmembers()
                                                      if m.name.endswith("/manifest.yaml"))).read())
    assert set(manifest["clusters"]) == {"management", "eu-store"}, manifest["clusters"]
    assert not manifest.get("skipped"), manifest.get("skipped")


def test_6_uninstall_of_the_region_deletes_its_configmap(fleet):
    k = fleet["kofsim"]
    args = ("-e", "kof_uninstall_confirm=true", "-e", "kof_backup_before_uninstall=false",
            "--limit", "us-hosted,us-web")
    seq = k.last_seq()
    check = play(fleet, "uninstall.yml", *args, "--check")
    assert check.rc == 0 and check.recap["us-hosted"]["changed"] == 1, check.recap
    assert k.writes(since=seq) == []
    run = play(fleet, "uninstall.yml", *args)
    assert run.rc == 0 and not run.failed_hosts, run.stdout[-3000:]
    assert run.recap["us-hosted"]["changed"] == 1, run.recap
    assert kubectl_json(fleet, "get", "configmap", "-n", NS, "kof-us-hosted", check=False) is None
    assert "us-hosted" not in psgs(fleet), "kof-operator's PromxyServerGroup goes with its ConfigMap"
    cds = sorted(c["metadata"]["name"] for c in kubectl_json(fleet, "get", "clusterdeployments", "-n", NS)["items"])
    assert cds == ["eu-store", "eu-web"]
    again = play(fleet, "uninstall.yml", *args)
    assert again.rc == 0 and again.changed == 0, again.recap


def test_7_prune_finds_a_regional_configmap_that_left_the_inventory(fleet):
    """Back again, then out of the inventory with its child: prune.yml reports both (the region by its cluster
    name), refuses while the child stays, deletes the child's ClusterDeployment and the region's ConfigMap."""
    run = play(fleet, "site.yml")
    assert run.rc == 0 and run.recap["us-hosted"]["changed"] == 1, run.recap
    k = fleet["kofsim"]

    def inventory(*gone):
        inv = hosts()
        for group in ("kof_regional", "kof_child"):
            for host in gone:
                inv["all"]["children"][group]["hosts"].pop(host, None)
        if "us-web" not in gone:  # moved to another region, not re-deployed yet: its label still says us-hosted
            inv["all"]["children"]["kof_child"]["hosts"]["us-web"]["kof_regional"] = "eu-store"
        return write_inventory(fleet["inv"], inv, fleet["gv"])
    seq = k.last_seq()
    blocked = ansible_playbook("-i", inventory("us-hosted"), "playbooks/prune.yml", "-e", "kof_prune_confirm=true",
                               env=fleet["env"])
    assert blocked.rc != 0 and ("child cluster(s) us-web stay but write to a regional cluster that left the "
                                "inventory (us-hosted)") in flat(blocked.stdout), blocked
    inv = inventory("us-hosted", "us-web")
    report = ansible_playbook("-i", inv, "playbooks/prune.yml", env=fleet["env"])
    assert report.rc == 0 and "Not in the inventory: us-web, us-hosted - set kof_prune_confirm=true" in \
        flat(report.stdout), flat(report.stdout)[-2000:]
    assert k.writes(since=seq) == []
    run = ansible_playbook("-i", inv, "playbooks/prune.yml", "-e", "kof_prune_confirm=true", env=fleet["env"])
    assert run.rc == 0, run
    assert [(w["method"], w["path"].rsplit("/", 1)[-1]) for w in k.writes(since=seq)] == \
        [("DELETE", "us-web"), ("DELETE", "kof-us-hosted")]
    assert kubectl_json(fleet, "get", "configmap", "-n", NS, "kof-us-hosted", check=False) is None
    again = ansible_playbook("-i", inv, "playbooks/prune.yml", "-e", "kof_prune_confirm=true", env=fleet["env"])
    assert again.rc == 0 and again.changed == 0 and "nothing to prune" in flat(again.stdout), again.recap
