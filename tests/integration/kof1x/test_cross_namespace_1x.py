"""KOF 1.10 with a child cluster in another namespace than its regional cluster (k0rdent docs kof-install,
"crossNamespace"; k0rdent/kof#253), on kofsim serving kcm 1.x. kof-operator finds a child's regional cluster in
the child's own namespace only, unless kof-mothership's `kcm.kof.operator.crossNamespace` is on - and then every
child needs the `kof-regional-cluster-namespace` label. Without kof_cross_namespace the run is refused before any
write (kof_version auto: the check after the version is read); with it the mothership gets crossNamespace, every
child the label, the tenant's child its endpoints from the regional cluster in kcm-system; a re-run changes
nothing; backup.yml reaches the tenant's regional cluster in its namespace."""
from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
import yaml

from kofsim.testing import Kofsim
from tests.helpers import ROOT, ansible_playbook, tool_env
from tests.integration.kof1x import kubectl_json, tenant_namespace
from tests.integration.tiers.conftest import write_inventory

CHARTS_1X = ROOT / "kofsim" / "kofsim" / "charts-1.10"
NS, TENANT = "kcm-system", "team-a"
P = "k0rdent.mirantis.com/"

HOSTS = {"all": {"children": {
    "kof_management": {"hosts": {"hub": None}},
    "kof_regional": {"hosts": {"eu-storage": {"kof_regional_region": "eu-central-1"},
                               # a tenant's own region, with its own child: one namespace, no crossNamespace needed
                               "team-a-storage": {"kof_regional_region": "eu-central-1", "kof_kcm_namespace": TENANT}}},
    "kof_child": {"hosts": {"eu-app": None, "team-a-app": {"kof_kcm_namespace": TENANT},
                            "team-a-app2": {"kof_kcm_namespace": TENANT, "kof_regional": "team-a-storage"}},
                  "vars": {"kof_regional": "eu-storage"}}}}}

GROUP_VARS = {"kof_chart_repository": str(CHARTS_1X), "kof_base_domain": "acme.test",
              "kof_admin_email": "sre@acme.test", "kof_dns_mode": "none", "kof_verify_timeout": 90,
              "kof_wait_timeout": 120}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    k = Kofsim(tmp_path_factory.mktemp("kofsim-xns"), ready_after=0.3, kcm_api_version="v1beta1")
    k.start()
    fleet = {"kofsim": k, "env": tool_env(home=tmp_path_factory.mktemp("home"),
                                           extra={"K8S_AUTH_KUBECONFIG": k.kubeconfig}),
             "inv": tmp_path_factory.mktemp("inventory"),
             "gv": dict(GROUP_VARS, kof_report_dir=str(tmp_path_factory.mktemp("report")),
                        kof_backup_dir=str(tmp_path_factory.mktemp("backups")))}
    tenant_namespace(fleet, TENANT)
    yield fleet
    k.stop()


def site(fleet, *args, **group_vars):
    inv = write_inventory(fleet["inv"], json.loads(json.dumps(HOSTS)), dict(fleet["gv"], **group_vars))
    return ansible_playbook("-i", inv, "playbooks/site.yml", *args, env=fleet["env"])


def test_1_refused_without_kof_cross_namespace_before_any_write(fleet):
    k = fleet["kofsim"]
    seq = k.last_seq()
    run = site(fleet)  # kof_version auto: 1.10.0 on kcm 1.x, checked once it is known
    assert run.rc != 0, run
    out = " ".join(run.stdout.split())
    assert "kof_version auto: KOF 1.10.0" in out, out[-2000:]
    assert ("1 child cluster is in another namespace than its regional cluster (team-a-app (team-a) -> eu-storage "
            "(kcm-system)): KOF 1.x's kof-operator looks for a child's regional cluster in the child's own namespace "
            "only; set kof_cross_namespace: true") in out, out[-2000:]
    assert k.writes(since=seq) == []


def test_2_kof_cross_namespace_connects_the_tenant_child(fleet):
    run = site(fleet, kof_cross_namespace=True)
    assert run.rc == 0, run.stdout[-3000:]
    assert sorted(run.recap) == ["eu-app", "eu-storage", "hub", "team-a-app", "team-a-app2", "team-a-storage"]
    hr = kubectl_json(fleet, "get", "helmrelease", "-n", "kof", "kof-mothership")
    assert hr["spec"]["values"]["kcm"]["kof"]["operator"]["crossNamespace"] is True
    for ns, name in ((NS, "eu-app"), (TENANT, "team-a-app")):
        labels = kubectl_json(fleet, "get", "clusterdeployment", "-n", ns, name)["metadata"]["labels"]
        assert labels[P + "kof-regional-cluster-name"] == "eu-storage"
        assert labels[P + "kof-regional-cluster-namespace"] == NS, (name, labels)
    config = kubectl_json(fleet, "get", "configmap", "-n", TENANT, "kof-cluster-config-team-a-app")["data"]
    assert config["regional_cluster_name"] == "eu-storage"
    assert config["regional_cluster_namespace"] == NS
    assert config["write_metrics_endpoint"] == \
        "https://vmauth.eu-storage.acme.test/vm/insert/0/prometheus/api/v1/write"
    sets = [s for s in kubectl_json(fleet, "get", "servicesets", "-n", TENANT)["items"]
            if s["spec"]["cluster"] == "team-a-app"]
    assert sets and all(s["status"]["deployed"] for s in sets), [s.get("status") for s in sets]
    report = json.loads((ROOT / fleet["gv"]["kof_report_dir"] / "fleet-report.json").read_text())
    assert report["summary"]["ok"] and len(report["clusters"]) == 5, report["summary"]
    # the tenant's own region: its child's ConfigMap from the regional ConfigMap in team-a, its PromxyServerGroup there
    config = kubectl_json(fleet, "get", "configmap", "-n", TENANT, "kof-cluster-config-team-a-app2")["data"]
    assert config["regional_cluster_name"] == "team-a-storage" and config["regional_cluster_namespace"] == TENANT
    assert [p["spec"]["cluster_name"] for p in kubectl_json(fleet, "get", "promxyservergroups", "-n", TENANT)[
        "items"]] == ["team-a-storage"]


def test_3_rerun_changes_nothing(fleet):
    k = fleet["kofsim"]
    seq = k.last_seq()
    run = site(fleet, kof_cross_namespace=True)
    assert run.rc == 0 and run.changed == 0, run.recap
    assert k.writes(since=seq) == []
    # limited to the tenant's child: the inventory is validated in the child play then, and its label still names
    # its regional cluster's namespace
    run = site(fleet, "--limit", "team-a-app", kof_cross_namespace=True)
    assert run.rc == 0 and run.changed == 0 and list(run.recap) == ["team-a-app"], run.recap
    assert k.writes(since=seq) == []


def test_4_backup_reaches_the_tenant_region(fleet):
    run = ansible_playbook("-i", fleet["inv"], "playbooks/backup.yml", env=fleet["env"])
    assert run.rc == 0, run.stdout[-3000:]
    [archive] = sorted(Path(fleet["gv"]["kof_backup_dir"]).glob("kof-backup-*.tar.gz"))
    with tarfile.open(archive, "r:gz") as tar:
        manifest = yaml.safe_load(tar.extractfile(next(m for m in tar.getmembers()
                                                       if m.name.endswith("/manifest.yaml"))).read())
    assert set(manifest["clusters"]) == {"management", "eu-storage", "team-a-storage"}, manifest["clusters"]
    assert not manifest.get("skipped"), manifest.get("skipped")


def test_5_turning_it_off_again_is_refused(fleet):
    """The fleet still has a child across namespaces: switching kof_cross_namespace off would cut it off."""
    k = fleet["kofsim"]
    seq = k.last_seq()
    run = site(fleet, "--check", kof_version="1.10.0")
    assert run.rc != 0 and "set kof_cross_namespace: true" in " ".join(run.stdout.split())
    assert k.writes(since=seq) == []
    assert yaml.safe_load(json.dumps(kubectl_json(fleet, "get", "helmrelease", "-n", "kof", "kof-mothership")[
        "spec"]["values"]))["kcm"]["kof"]["operator"]["crossNamespace"] is True
