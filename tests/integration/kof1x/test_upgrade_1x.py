"""KOF 1.9 -> 1.10 with site.yml on kofsim serving kcm 1.x: the same inventory, kof_version bumped. The umbrella kof
chart is upgraded once, Flux upgrades its HelmReleases, kof-mothership brings the 1.10 ServiceTemplates and the
MultiClusterServices move every cluster to them; the run is done only when each cluster's ServiceSets name the
1.10 templates and are deployed again (not when helm returns). The ClusterDeployments' kof-version label follows.
kofsim's 1.9.0 charts are its 1.10.0 stand-ins relabelled (catalog_1x.relabel): the values differences between
the two releases are not modelled here."""
from __future__ import annotations

import json
import tarfile

import pytest
import yaml

from tests.helpers import ROOT, ansible_playbook
from tests.integration.kof1x import archives, changes_nothing, kubectl_json, play, templates_by_cluster, upgrade_fleet
from tests.integration.tiers.conftest import write_inventory

NS = "kcm-system"
HOSTS = {"all": {"children": {
    "kof_management": {"hosts": {"mgmt": None}},
    "kof_regional": {"hosts": {"apac": {"kof_regional_region": "ap-southeast-1"}}},
    "kof_child": {"hosts": {"apac-web": {"kof_regional": "apac"}, "apac-db": {"kof_regional": "apac"}}}}}}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    yield from upgrade_fleet(tmp_path_factory, "kofsim-upgrade-1x")


def site(fleet, version, *args):
    return play(fleet, HOSTS, "site.yml", version, *args)


def test_1_install_kof_1_9(fleet):
    run = site(fleet, "1.9.0")
    assert run.rc == 0 and not run.failed_hosts, run
    for cluster, templates in templates_by_cluster(fleet).items():
        assert templates and all(t.endswith("-1-9-0") for t in templates), (cluster, templates)
    releases = kubectl_json(fleet, "get", "helmreleases", "-n", "kof")["items"]
    assert {r["metadata"]["name"]: r["status"]["lastAttemptedRevision"] for r in releases}["kof-mothership"] == "1.9.0"


def test_1b_kof_version_auto_keeps_the_installed_release(fleet):
    """Left at auto, kof_version is the installed 1.9.0 (not the newest 1.10.0 a new install would get): nothing is
    upgraded by omission."""
    k = fleet["kofsim"]
    gv = dict(fleet["gv"], kof_chart_repository=fleet["charts"]["1.9.0"])
    inv = write_inventory(fleet["inv"], json.loads(json.dumps(HOSTS)), gv)
    seq = k.last_seq()
    run = ansible_playbook("-i", inv, "playbooks/site.yml", env=fleet["env"])
    assert run.rc == 0 and run.changed == 0, run.recap
    assert "kof_version auto: KOF 1.9.0 - the installed release kof (chart version 1.9.0)" in \
        " ".join(run.stdout.split()), run
    assert k.writes(since=seq) == []


def test_2_check_mode_predicts_the_upgrade(fleet):
    k = fleet["kofsim"]
    seq = k.last_seq()
    run = site(fleet, "1.10.0", "--check")
    assert run.rc == 0, run
    assert k.writes(since=seq) == [], "check mode wrote to the API"
    assert archives(fleet) == [], "check mode wrote the pre-upgrade backup"
    assert "a backup would be written to" in run.stdout, run
    # the umbrella release, and every ClusterDeployment's kof-version label
    assert {h for h, r in run.recap.items() if r["changed"]} == {"mgmt", "apac", "apac-web", "apac-db"}, run.recap


def test_3_upgrade_to_1_10_waits_for_every_cluster(fleet):
    run = site(fleet, "1.10.0")
    assert run.rc == 0 and not run.failed_hosts, run
    # the backup came first, of what ran: KOF 1.9.0 and its releases' values (management and the regional cluster)
    [archive] = archives(fleet)
    with tarfile.open(archive, "r:gz") as tar:
        manifest = yaml.safe_load(next(tar.extractfile(m).read() for m in tar.getmembers()
                                       if m.name.endswith("/manifest.yaml")))
    assert manifest["kof_version"] == "1.9.0", manifest["kof_version"]
    mgmt = {r["name"]: r["version"] for r in manifest["clusters"]["management"]["helm_releases"]}
    assert mgmt["kof"] == "1.9.0" and mgmt["kof-mothership"] == "1.9.0", mgmt
    assert "apac" in manifest["clusters"], list(manifest["clusters"])
    releases = {r["metadata"]["name"]: r for r in kubectl_json(fleet, "get", "helmreleases", "-n", "kof")["items"]}
    for name in ("kof-operators", "kof-mothership", "kof-regional", "kof-child"):
        assert releases[name]["status"]["lastAttemptedRevision"] == "1.10.0", (name, releases[name]["status"])
    # the run returned only once kcm had moved every cluster to the 1.10 templates
    for cluster, templates in templates_by_cluster(fleet).items():
        assert templates and all(t.endswith("-1-10-0") for t in templates), (cluster, templates)
    cds = kubectl_json(fleet, "get", "clusterdeployments", "-n", NS)["items"]
    assert {cd["metadata"]["labels"]["k0rdent.mirantis.com/kof-version"] for cd in cds} == {"1.10.0"}
    names = {t["metadata"]["name"] for t in kubectl_json(fleet, "get", "servicetemplates", "-n", NS)["items"]}
    assert {"kof-storage-1-9-0", "kof-storage-1-10-0"} <= names  # templates are immutable and kept
    report = json.loads((ROOT / fleet["gv"]["kof_report_dir"] / "fleet-report.json").read_text())
    assert report["summary"]["ok"], report["summary"]


def test_4_rerun_after_the_upgrade_changes_nothing(fleet):
    changes_nothing(fleet, lambda: site(fleet, "1.10.0"))
    assert len(archives(fleet)) == 1, "a backup without an upgrade"
