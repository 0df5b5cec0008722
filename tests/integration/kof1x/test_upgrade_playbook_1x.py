"""upgrade.yml on KOF 1.x (1.9 -> 1.10) on kofsim serving kcm 1.x: the preflight refuses a downgrade and the
documented "Upgrade to v1.10.0" trap (kof-storage / kof-collectors HelmReleases the 1.10 umbrella no longer manages)
before any write; --check writes nothing; the run backs up, upgrades the umbrella kof chart, takes the docs' step-2
collectors workaround out of kof-regional (step 9), then goes region by region (kof_upgrade_serial: 1, so two
batches): each batch's clusters run the 1.10 templates, carry the 1.10.0 kof-version label and are verified. A
re-run changes nothing. A region whose storage runs elsewhere (kof_regional_configmap_only) has nothing to upgrade
but its child, which moves in that region's batch. kofsim's 1.9.0 charts are its 1.10.0 stand-ins relabelled (catalog_1x.relabel)."""
from __future__ import annotations

import json
import re

import pytest

from tests.integration.kof1x import archives, flat, kubectl, kubectl_json, play, templates_by_cluster, upgrade_fleet

NS = "kcm-system"
HOSTS = {"all": {"children": {
    "kof_management": {"hosts": {"mgmt": None}},
    "kof_regional": {"hosts": {"emea": {"kof_regional_region": "eu-west-1"},
                               "apac": {"kof_regional_region": "ap-southeast-1"},
                               # storage run elsewhere: only its regional ConfigMap, nothing of it to upgrade
                               "latam": {"kof_regional_region": "sa-east-1", "kof_regional_configmap_only": True}}},
    "kof_child": {"hosts": {"emea-web": {"kof_regional": "emea"}, "apac-web": {"kof_regional": "apac"},
                            "latam-web": {"kof_regional": "latam"}}}}}}
CLUSTERS = {"emea", "apac", "emea-web", "apac-web", "latam-web"}  # the ClusterDeployments
# the docs' "Upgrade to v1.10.0" step 2, verbatim
WORKAROUND = {"spec": {"values": {"collectors": {"opentelemetry-kube-stack": {"collectors": {
    "target-allocator": {"volumes": [{"name": "fix", "emptyDir": {}}],
                         "volumeMounts": [{"name": "fix", "mountPath": "/tmp/fix"}]},
    "cluster": {"volumes": [{"name": "fix", "emptyDir": {}}],
                "volumeMounts": [{"name": "fix", "mountPath": "/tmp/fix"}]}}}}}}}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    for f in upgrade_fleet(tmp_path_factory, "kofsim-upgrade-playbook-1x", kof_upgrade_serial=1):
        f["charts"]["1.8.0"] = f["charts"]["1.9.0"]  # only named in a refused downgrade
        yield f


def upgrade(fleet, playbook, version, *args):
    return play(fleet, HOSTS, playbook, version, *args)


def kof_regional_collectors(fleet):
    hr = kubectl_json(fleet, "get", "helmrelease", "kof-regional", "-n", "kof")
    return (((hr["spec"].get("values") or {}).get("collectors") or {}).get("opentelemetry-kube-stack") or {}) \
        .get("collectors") or {}


def test_1_install_kof_1_9(fleet):
    run = upgrade(fleet, "site.yml", "1.9.0")
    assert run.rc == 0 and not run.failed_hosts, run
    assert set(templates_by_cluster(fleet)) == CLUSTERS


def test_2_downgrade_is_refused_before_any_write(fleet):
    k = fleet["kofsim"]
    seq = k.last_seq()
    run = upgrade(fleet, "upgrade.yml", "1.8.0")
    assert run.rc != 0
    assert "The fleet runs KOF 1.9.0, newer than kof_chart_version 1.8.0: set kof_upgrade_allow_downgrade=true" \
        in flat(run.stdout), run
    assert k.writes(since=seq) == []


def test_3_orphaned_m2m_helmreleases_are_refused_before_any_write(fleet):
    """KOF 1.9's management-to-management storage left HelmReleases kof-storage / kof-collectors that the 1.10
    umbrella no longer manages: the upgrade stops with the docs' steps, having written nothing."""
    orphan = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
              "metadata": {"name": "kof-collectors", "namespace": "kof",
                           "annotations": {"helm.sh/resource-policy": "keep"}},
              "spec": {"suspend": True, "interval": "10m", "releaseName": "kof-collectors", "targetNamespace": "kof",
                       "chart": {"spec": {"chart": "kof-collectors", "version": "1.9.0",
                                          "sourceRef": {"kind": "HelmRepository", "name": "kof-repo",
                                                        "namespace": NS}}}}}
    kubectl(fleet, "create", "-f", "-", input=json.dumps(orphan))
    k = fleet["kofsim"]
    seq = k.last_seq()
    try:
        run = upgrade(fleet, "upgrade.yml", "1.10.0")
        assert run.rc != 0
        out = flat(run.stdout)
        assert "KOF 1.9.0 stores management data with the HelmRelease(s) kof-collectors in namespace kof, which " \
            "KOF 1.10.0 no longer manages" in out, run
        assert "Nothing was changed" in out
        assert k.writes(since=seq) == []
        assert archives(fleet) == [], "a backup was written before the refusal"
    finally:
        kubectl(fleet, "delete", "helmrelease", "kof-collectors", "-n", "kof", "--wait", "--timeout=60s")


def test_4_check_mode_predicts_the_upgrade(fleet):
    # the docs' step 2, applied before the kcm upgrade: upgrade.yml removes it once 1.10 is installed (step 9)
    kubectl(fleet, "patch", "helmrelease", "kof-regional", "-n", "kof", "--type=merge", "-p", json.dumps(WORKAROUND))
    k = fleet["kofsim"]
    seq = k.last_seq()
    run = upgrade(fleet, "upgrade.yml", "1.10.0", "--check")
    assert run.rc == 0, run
    assert k.writes(since=seq) == [], "check mode wrote to the API"
    assert archives(fleet) == [], "check mode wrote the pre-upgrade backup"
    assert {h for h, r in run.recap.items() if r["changed"]} == {"mgmt"} | CLUSTERS, run.recap


def test_5_upgrade_region_by_region(fleet):
    run = upgrade(fleet, "upgrade.yml", "1.10.0")
    assert run.rc == 0 and not run.failed_hosts, run
    out = flat(run.stdout)
    assert "KOF 1.9.0 -> 1.10.0: management tier first, then 3 regional cluster(s) with their children, 1 region(s) " \
        "per batch" in out, run
    # serial: one region with its child per batch, in inventory order
    batches = re.findall(r"TASK \[Upgrade and verify this batch\].*?(?=TASK|\Z)", run.stdout, flags=re.S)
    assert len(batches) == 3, run.stdout
    assert "emea" in batches[0] and "apac" not in batches[0], batches[0]
    assert "apac" in batches[1] and "emea" not in batches[1], batches[1]
    assert "latam-web" in batches[2] and "apac" not in batches[2], batches[2]
    assert len(archives(fleet)) == 1, "no backup before the upgrade"
    for cluster, templates in templates_by_cluster(fleet).items():
        assert templates and all(t.endswith("-1-10-0") for t in templates), (cluster, templates)
    cds = kubectl_json(fleet, "get", "clusterdeployments", "-n", NS)["items"]
    assert {cd["metadata"]["labels"]["k0rdent.mirantis.com/kof-version"] for cd in cds} == {"1.10.0"}
    releases = {r["metadata"]["name"]: r for r in kubectl_json(fleet, "get", "helmreleases", "-n", "kof")["items"]}
    assert releases["kof-mothership"]["status"]["lastAttemptedRevision"] == "1.10.0"
    # step 9: the workaround is gone - removed by the collection (helm upgrade keeps what kubectl patched in)
    step9 = re.search(r"TASK \[k0rdent\.kof\.mothership : Remove the KOF 1\.10 upgrade.s collectors workaround.*?\n"
                      r"(.*?)\n", run.stdout)
    assert step9 and step9.group(1).startswith("changed: [mgmt]"), run.stdout
    collectors = kof_regional_collectors(fleet)
    assert "cluster" not in collectors and "volumes" not in collectors.get("target-allocator", {}), collectors
    # KOF 1.x keeps the previous templates (its chains name them as upgrade sources)
    names = {t["metadata"]["name"] for t in kubectl_json(fleet, "get", "servicetemplates", "-n", NS)["items"]}
    assert {"kof-storage-1-9-0", "kof-storage-1-10-0"} <= names


def test_6_rerun_changes_nothing(fleet):
    k = fleet["kofsim"]
    seq = k.last_seq()
    run = upgrade(fleet, "upgrade.yml", "1.10.0")
    assert run.rc == 0 and run.changed == 0, run.recap
    assert k.writes(since=seq) == []
    assert len(archives(fleet)) == 1, "a backup without an upgrade"
