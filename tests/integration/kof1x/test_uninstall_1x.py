"""uninstall.yml on a KOF 1.10 fleet (kofsim serving kcm 1.x), in the order of the 1.x docs (admin/kof,
kof-maintainence): the child ClusterDeployments, then the regional ones (foreground, waited for), then
`helm uninstall kof` (the umbrella chart), then the Flux HelmReleases it keeps (helm.sh/resource-policy: keep) one
by one - kof-regional and kof-child before kof-mothership, whose ServiceTemplates their MultiClusterServices
reference (k0rdent/kof#615, #642) - and the kof namespace. Before that: the confirmation, the region-with-children
refusal, --check that writes nothing, a --limit that removes one child only, and the backup taken first; after: a
second uninstall with nothing to do."""
from __future__ import annotations

import json
import subprocess
import tarfile

import pytest
import yaml

from kofsim.testing import Kofsim
from tests.helpers import ROOT, ansible_playbook, tool_env
from tests.integration.kof1x import flat, kubectl_json
from tests.integration.tiers.conftest import write_inventory

NS = "kcm-system"
CONFIRM = ("-e", "kof_uninstall_confirm=true")
HOSTS = {"all": {"children": {
    "kof_management": {"hosts": {"core": None}},
    "kof_regional": {"hosts": {"emea": {"kof_regional_region": "eu-west-1"}}},
    "kof_child": {"hosts": {"emea-shop": {"kof_regional": "emea"}, "emea-erp": {"kof_regional": "emea"},
                            "emea-crm": {"kof_regional": "emea"}}}}}}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    k = Kofsim(tmp_path_factory.mktemp("kofsim-uninstall-1x"), ready_after=0.3, kcm_api_version="v1beta1")
    k.start()
    backups = tmp_path_factory.mktemp("backups")
    gv = {"kof_version": "1.10.0", "kof_chart_repository": str(ROOT / "kofsim" / "kofsim" / "charts-1.10"),
          "kof_base_domain": "obs.example.org", "kof_admin_email": "ops@example.org", "kof_dns_mode": "none",
          "kof_verify_timeout": 90, "kof_wait_timeout": 300, "kof_backup_dir": str(backups),
          "kof_report_dir": str(tmp_path_factory.mktemp("report"))}
    inv = write_inventory(tmp_path_factory.mktemp("inventory"), json.loads(json.dumps(HOSTS)), gv)
    env = tool_env(home=tmp_path_factory.mktemp("home"), extra={"K8S_AUTH_KUBECONFIG": k.kubeconfig})
    yield {"kofsim": k, "env": env, "inv": inv, "backups": backups, "gv": gv, "tmp": tmp_path_factory}
    k.stop()


def play(fleet, playbook, *args, inv=None):
    return ansible_playbook("-i", inv or fleet["inv"], f"playbooks/{playbook}", *args, env=fleet["env"])


def names(fleet, *args):
    found = kubectl_json(fleet, "get", *args, check=False)
    return sorted(i["metadata"]["name"] for i in (found or {}).get("items", []))


def test_1_install(fleet):
    run = play(fleet, "site.yml")
    assert run.rc == 0 and not run.failed_hosts, run
    assert names(fleet, "clusterdeployments", "-n", NS) == ["emea", "emea-crm", "emea-erp", "emea-shop"]
    assert "kof-regional" in names(fleet, "helmreleases", "-n", "kof")


RULE = {"apiVersion": "operator.victoriametrics.com/v1beta1", "kind": "VMRule",
        "metadata": {"name": "team-slo", "namespace": "kof"},
        "spec": {"groups": [{"name": "slo", "rules": [{"alert": "ErrorBudgetBurn", "expr": "vector(1) > 0"}]}]}}


def test_1b_backup_and_restore_on_kof_1x(fleet, tmp_path):
    """A user's alert rule and the releases' values are backed up; a deleted rule comes back; a second restore
    changes nothing. Its own kof_backup_dir, so the uninstall's backup below is judged alone."""
    apply = subprocess.run([str(ROOT / ".tools" / "bin" / "kubectl"), "apply", "-f", "-"], input=json.dumps(RULE),
                           capture_output=True, text=True, env=fleet["env"] | {"KUBECONFIG": fleet["kofsim"].kubeconfig})
    assert apply.returncode == 0, apply.stderr
    where = ("-e", f"kof_backup_dir={tmp_path}")
    backup = play(fleet, "backup.yml", *where)
    assert backup.rc == 0, backup
    [archive] = tmp_path.glob("*.tar.gz")
    with tarfile.open(archive, "r:gz") as tar:
        text = {m.name.split("/", 1)[1]: tar.extractfile(m).read().decode() for m in tar.getmembers() if m.isfile()}
    assert "team-slo" in text["manifest.yaml"] and "kof_version: 1.10.0" in text["manifest.yaml"]
    # the management tier's releases and their values: the umbrella and what Flux installed from it
    assert {"kof", "kof-mothership", "kof-operators"} <= set(re_releases(text["manifest.yaml"])), text["manifest.yaml"]

    subprocess.run([str(ROOT / ".tools" / "bin" / "kubectl"), "delete", "vmrule", "-n", "kof", "team-slo"],
                   check=True, capture_output=True, env=fleet["env"] | {"KUBECONFIG": fleet["kofsim"].kubeconfig})
    restore = play(fleet, "restore.yml", *where)
    assert restore.rc == 0 and not restore.failed_hosts, restore
    assert "team-slo" in names(fleet, "vmrules", "-n", "kof")
    k = fleet["kofsim"]
    seq = k.last_seq()
    again = play(fleet, "restore.yml", *where)
    assert again.rc == 0 and again.changed == 0, again.recap
    assert k.writes(since=seq) == []


def re_releases(manifest: str) -> list:
    data = yaml.safe_load(manifest)
    return [r["name"] for c in data["clusters"].values() for r in c.get("helm_releases") or []]


def test_1c_prune_on_kof_1x(fleet):
    """Clusters that left the inventory, found by their kof-cluster-role label: reported, deleted only with the
    confirmation; a region is not pruned while a child that stays writes to it."""
    k = fleet["kofsim"]

    def without(*gone, moved_to=None):
        hosts = json.loads(json.dumps(HOSTS))
        groups = hosts["all"]["children"]
        for group in ("kof_regional", "kof_child"):
            for host in gone:
                groups[group]["hosts"].pop(host, None)
        if moved_to:  # the children now write to another region, not re-deployed yet: their labels still say emea
            groups["kof_regional"]["hosts"][moved_to] = {"kof_regional_region": "ap-south-1"}
            for child in groups["kof_child"]["hosts"].values():
                child["kof_regional"] = moved_to
        return write_inventory(fleet["tmp"].mktemp("inventory"), hosts, fleet["gv"])

    seq = k.last_seq()
    blocked = play(fleet, "prune.yml", "-e", "kof_prune_confirm=true", inv=without("emea", "emea-crm", moved_to="apac"))
    assert blocked.rc != 0, blocked
    assert ("child cluster(s) emea-erp, emea-shop stay but write to a regional cluster that left the inventory "
            "(emea)") in flat(blocked.stdout), blocked
    inv = without("emea-crm")
    report = play(fleet, "prune.yml", inv=inv)
    assert report.rc == 0 and "Not in the inventory: emea-crm - set kof_prune_confirm=true" in flat(report.stdout)
    check = play(fleet, "prune.yml", "-e", "kof_prune_confirm=true", "--check", inv=inv)
    assert check.rc == 0 and check.changed > 0, check.recap
    assert k.writes(since=seq) == []
    run = play(fleet, "prune.yml", "-e", "kof_prune_confirm=true", inv=inv)
    assert run.rc == 0, run
    assert [(w["method"], w["path"].rsplit("/", 1)[-1]) for w in k.writes(since=seq)] == [("DELETE", "emea-crm")]
    assert names(fleet, "clusterdeployments", "-n", NS) == ["emea", "emea-erp", "emea-shop"]
    seq = k.last_seq()
    again = play(fleet, "prune.yml", "-e", "kof_prune_confirm=true", inv=inv)
    assert again.rc == 0 and again.changed == 0 and "nothing to prune" in flat(again.stdout), again.recap
    assert k.writes(since=seq) == []


def test_2_refusals_before_any_request_or_write(fleet):
    k = fleet["kofsim"]
    seq = k.last_seq()
    refused = play(fleet, "uninstall.yml")
    assert refused.rc != 0 and "Set kof_uninstall_confirm=true to confirm" in flat(refused.stdout), refused
    assert k.requests(since=seq) == [], "an unconfirmed uninstall must not even talk to the cluster"
    orphaning = play(fleet, "uninstall.yml", *CONFIRM, "--limit", "emea")
    assert orphaning.rc != 0, orphaning
    assert "emea-erp, emea-shop write to a regional cluster being removed" in flat(orphaning.stdout), orphaning
    assert k.writes(since=seq) == []


def test_3_check_mode_deletes_nothing_and_predicts_the_run(fleet):
    k = fleet["kofsim"]
    seq = k.last_seq()
    run = play(fleet, "uninstall.yml", *CONFIRM, "--check")
    assert run.rc == 0 and not run.failed_hosts, run
    assert k.writes(since=seq) == [], "check mode wrote to the API"
    assert {h for h, r in run.recap.items() if r["changed"]} == {"core", "emea", "emea-shop", "emea-erp"}, run.recap
    assert names(fleet, "clusterdeployments", "-n", NS) == ["emea", "emea-erp", "emea-shop"]
    assert list(fleet["backups"].glob("*.tar.gz")) == [], "check mode wrote a backup"


def test_4_a_limited_run_removes_only_that_child(fleet):
    k = fleet["kofsim"]
    seq = k.last_seq()
    run = play(fleet, "uninstall.yml", *CONFIRM, "--limit", "emea-erp")
    assert run.rc == 0 and not run.failed_hosts, run
    assert [w["path"].rsplit("/", 1)[-1] for w in k.writes(since=seq)] == ["emea-erp"]
    assert names(fleet, "clusterdeployments", "-n", NS) == ["emea", "emea-shop"]
    assert "kof-child" in names(fleet, "helmreleases", "-n", "kof")


def test_5_full_uninstall_in_the_documented_order(fleet):
    k = fleet["kofsim"]
    seq = k.last_seq()
    run = play(fleet, "uninstall.yml", *CONFIRM)
    assert run.rc == 0 and not run.failed_hosts, run
    writes = k.writes(since=seq)

    def first(pred, what):
        found = [w["seq"] for w in writes if pred(w)]
        assert found, f"no request deleted {what}: {[(w['method'], w['path']) for w in writes]}"
        return found[0]

    def deleted(suffix):
        return first(lambda w: w["method"] == "DELETE" and w["path"].endswith(suffix), suffix)
    order = [deleted("/clusterdeployments/emea-shop"), deleted("/clusterdeployments/emea"),
             first(lambda w: w["method"] == "DELETE" and "/secrets/sh.helm.release.v1.kof.v" in w["path"],
                   "the umbrella release"),
             *(deleted(f"/helmreleases/{name}") for name in ("kof-child", "kof-regional", "kof-mothership",
                                                            "victoria-metrics-operator", "kof-operators")),
             deleted("/api/v1/namespaces/kof")]
    assert order == sorted(order), order
    # each kept HelmRelease is gone (Flux's finalizer has uninstalled its release) before the next one is deleted
    reads = k.requests(since=seq)
    kept = ("kof-child", "kof-regional", "kof-mothership", "victoria-metrics-operator", "kof-operators")
    for prev, nxt in zip(kept, kept[1:]):
        gone = [r["seq"] for r in reads if r["method"] == "GET" and r["path"].endswith(f"/helmreleases/{prev}")
                and r["status"] == 404]
        assert gone and gone[0] < deleted(f"/helmreleases/{nxt}"), f"{nxt} was deleted before {prev} was gone"

    # the backup came first and holds the management tier's releases
    archives = list(fleet["backups"].glob("*.tar.gz"))
    assert len(archives) == 1, archives
    with tarfile.open(archives[0], "r:gz") as tar:
        manifest = next(tar.extractfile(m).read().decode() for m in tar.getmembers()
                        if m.name.endswith("manifest.yaml"))
    assert "kof-mothership" in manifest and "kof_version: 1.10.0" in manifest

    assert names(fleet, "clusterdeployments", "-A") == []
    assert names(fleet, "helmreleases", "-A") == []
    assert names(fleet, "multiclusterservices") == []
    # kof-mothership marks its ServiceTemplates (and their chains) helm.sh/resource-policy: keep: kcm's catalog
    # outlives KOF, as it does after the documented commands
    assert {t for t in names(fleet, "servicetemplates", "-n", NS) if t.startswith("kof-")} == {
        "kof-collectors-1-10-0", "kof-operators-1-10-0", "kof-propagation-1-10-0", "kof-storage-1-10-0"}
    assert "kof" not in names(fleet, "namespaces")


def test_6_a_second_uninstall_has_nothing_to_do(fleet):
    k = fleet["kofsim"]
    seq = k.last_seq()
    run = play(fleet, "uninstall.yml", *CONFIRM)
    assert run.rc == 0 and run.changed == 0, run.recap
    assert k.writes(since=seq) == []


def test_7_kept_templates_go_on_request(fleet):
    """kof_uninstall_remove_templates: kof-mothership's kept kof-* ServiceTemplates and chains (a check run only
    predicts it), then nothing left to do."""
    k = fleet["kofsim"]
    args = (*CONFIRM, "-e", "kof_uninstall_remove_templates=true")
    seq = k.last_seq()
    check = play(fleet, "uninstall.yml", *args, "--check")
    assert check.rc == 0, check
    assert k.writes(since=seq) == []
    assert "Would delete ServiceTemplateChain kof-collectors-1-10-0" in check.stdout, check.stdout[-3000:]
    run = play(fleet, "uninstall.yml", *args)
    assert run.rc == 0, run
    assert not [t for t in names(fleet, "servicetemplates", "-n", NS) if t.startswith("kof-")]
    assert not [t for t in names(fleet, "servicetemplatechains", "-n", NS) if t.startswith("kof-")]
    # kcm's own catalog templates (cert-manager, ingress-nginx, ...) stay
    assert names(fleet, "servicetemplates", "-n", NS)
    again = play(fleet, "uninstall.yml", *args)
    assert again.rc == 0 and again.changed == 0, again.recap
