"""Day-2 operations against one kofsim fleet (deployed once by site.yml), in the order an operator lives them:
verification failures, Grafana and Sveltos access, backup and restore, upgrade, adopting the fleet with the
inventory plugin, pruning clusters that left the inventory, and uninstalling (last: it destroys the fleet).

Every operation runs the real playbook; idempotence is asserted on kofsim's request log (no write request)."""
from __future__ import annotations

import base64
import copy
import functools
import json
import os
import stat
import subprocess
import tarfile

import pytest
import yaml

from tests.helpers import ROOT, bumped_charts
from tests.helpers import flat as _flat
from tests.integration.day2.conftest import CD

pytestmark = pytest.mark.slow
CHILDREN_R1 = ("all", "children", "kof_child", "children", "kof_child_region1", "hosts")
BAD = {"bad-notready": "ClusterDeployment not Ready: Provisioning",
       "bad-nokc": "kubeconfig Secret bad-nokc-kubeconfig not found",
       "bad-crash": "CrashLoopBackOff",
       "bad-svc": "Helm Failed: kof-collectors"}


def node(d, path):
    for p in path:
        d = d[p]
    return d


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def unwrap(data):
    """ansible-inventory marks values from an inventory plugin unsafe ({'__ansible_unsafe': value})."""
    if isinstance(data, dict):
        return data["__ansible_unsafe"] if set(data) == {"__ansible_unsafe"} else {k: unwrap(v) for k, v in data.items()}
    if isinstance(data, list):
        return [unwrap(v) for v in data]
    return data


# the shared tests.helpers.flat, with single quotes dropped too, as these tests have always read the output
flat = functools.partial(_flat, unquote=True)


# ----------------------------------------------------------------------------------------- verify
def test_verify_names_each_failure_on_its_own_host(fleet):
    k = fleet.k
    k.scenario(never_ready=["bad-notready"], no_kubeconfig=["bad-nokc"],
               crashloop={"bad-crash": ["kof/kof-collectors-opencost"]}, fail_service={"bad-svc": ["kof-collectors"]})
    src = fleet.cds()["cloud1-region1-child1"]
    for name in BAD:
        fleet.custom().create_namespaced_custom_object(*CD[:2], "kcm-system", CD[2], {
            "apiVersion": src["apiVersion"], "kind": src["kind"], "spec": copy.deepcopy(src["spec"]),
            "metadata": {"name": name, "namespace": "kcm-system", "labels": src["metadata"]["labels"]}})
    inv = fleet.inventory(lambda h: node(h, CHILDREN_R1).update({n: None for n in [*BAD, "bad-missing"]}),
                          name="inventory-bad", kof_verify_timeout=4)
    try:
        seq = k.last_seq()
        run = fleet.play("verify.yml", inv=inv)
        assert run.rc != 0, run
        assert run.failed_hosts == sorted([*BAD, "bad-missing"]), run.recap
        assert fleet.k.writes(since=seq) == [], "verification must only read"
        report = json.loads((fleet.tmp / "report" / "fleet-report.json").read_text())
        by_name = {c["name"]: c for c in report["clusters"]}
        for name, problem in BAD.items():
            assert by_name[name]["state"] == "unhealthy", by_name[name]
            assert any(problem in p for p in by_name[name]["problems"]), by_name[name]
        assert by_name["bad-missing"]["state"] == "missing"
        assert by_name["bad-crash"]["pods"]["kof"].split("/")[0] != by_name["bad-crash"]["pods"]["kof"].split("/")[1]
        healthy = {n for n, c in by_name.items() if c["state"] == "healthy"}
        assert healthy == {"cloud1-region1", "cloud1-region2", "cloud1-region1-child1", "cloud1-region1-child2",
                           "cloud1-region2-child1"}
        assert report["summary"] == {"clusters": 10, "healthy": 5, "unhealthy": 4, "missing": 1, "ok": False}
        md = (fleet.tmp / "report" / "fleet-report.md").read_text()
        assert "| bad-nokc | child | cloud1-region1 | unhealthy |" in md
        page = (fleet.tmp / "report" / "fleet-report.html").read_text()
        assert page.count('<section class="region">') == 2 and "bad-crash" in page
        # each failing host says what is wrong with it; the table is in the output
        assert "bad-notready is unhealthy: ClusterDeployment not Ready" in flat(run.stdout)
        assert "CLUSTER" in run.stdout and "PROBLEMS" in run.stdout

        # the management host alone checks the whole fleet, and fails for the clusters that have no host here
        whole = fleet.play("verify.yml", "--limit", "mothership", inv=inv)
        assert whole.rc != 0 and whole.failed_hosts == ["mothership"], whole
        assert "5 of 10 clusters unhealthy" in flat(whole.stdout)
    finally:
        for name in BAD:
            fleet.custom().delete_namespaced_custom_object(*CD[:2], "kcm-system", CD[2], name)
        k.scenario(never_ready=[], no_kubeconfig=[], crashloop={}, fail_service={})
    subprocess.run([str(ROOT / ".tools/bin/kubectl"), "--kubeconfig", k.kubeconfig, "wait", "--for=delete",
                    "--timeout=60s", "-n", "kcm-system", *[f"clusterdeployments/{n}" for n in BAD]],
                   capture_output=True, check=False)
    assert not set(BAD) & set(fleet.cds())


# ----------------------------------------------------------------------------------------- access
def test_grafana_and_sveltos_access_keep_credentials_out_of_the_log(fleet):
    k = fleet.k
    access = fleet.tmp / "access"
    grafana_file = access / "mothership-grafana-admin.yml"
    token_file = access / "mothership-sveltos-dashboard.token"
    run = fleet.play("grafana_access.yml", "playbooks/sveltos_access.yml")
    assert run.rc == 0, run
    data = fleet.core().read_namespaced_secret("grafana-admin-credentials", "kof").data
    creds = {"user": base64.b64decode(data["GF_SECURITY_ADMIN_USER"]).decode(),
             "password": base64.b64decode(data["GF_SECURITY_ADMIN_PASSWORD"]).decode()}
    assert yaml.safe_load(grafana_file.read_text()) == creds
    token = token_file.read_text().strip()
    meta = json.loads((access / "mothership-sveltos-dashboard.token.json").read_text())
    assert token and meta["duration"] == 3600 and meta["serviceAccount"] == "kof/kof-sveltos-viewer"
    assert mode(grafana_file) == mode(token_file) == 0o600 and mode(access) == 0o700
    assert "kubectl port-forward -n kof svc/grafana-vm-service 3000:3000" in flat(run.stdout)
    assert "kubectl port-forward -n kof svc/dashboard 8081:80" in flat(run.stdout)
    for secret in [*creds.values(), token]:
        assert secret not in run.stdout and secret not in run.stderr

    # least privilege: read-only verbs on what the dashboard shows, no cluster-admin binding
    from kubernetes import client
    rbac = client.RbacAuthorizationV1Api(fleet.api)
    role = rbac.read_cluster_role("kof-sveltos-viewer")
    assert {v for r in role.rules for v in r.verbs} == {"get", "list", "watch"}
    assert not any("secrets" in (r.resources or []) or "*" in (r.resources or []) for r in role.rules)
    binding = rbac.read_cluster_role_binding("kof-sveltos-viewer")
    assert binding.role_ref.name == "kof-sveltos-viewer"
    assert all(b.role_ref.name != "cluster-admin" for b in rbac.list_cluster_role_binding().items
               if any(s.name == "kof-sveltos-viewer" for s in b.subjects or []))

    # a second run (at -vvv) changes nothing, sends no write, keeps the still-valid token, leaks nothing
    seq = k.last_seq()
    again = fleet.play("grafana_access.yml", "playbooks/sveltos_access.yml", "-vvv")
    assert again.rc == 0 and again.changed == 0, again.recap
    assert k.writes(since=seq) == []
    assert token_file.read_text().strip() == token
    for secret in [*creds.values(), token]:
        assert secret not in again.stdout and secret not in again.stderr

    # an unbounded token duration is refused before any request
    seq = k.last_seq()
    bad = fleet.play("sveltos_access.yml", "-e", "kof_sveltos_token_duration=604800")
    assert bad.rc != 0 and "kof_sveltos_token_duration must be a number of seconds between 600" in flat(bad.stdout), bad
    assert fleet.api_requests(seq) == []

    # the guide's cluster-admin binding only on explicit opt-in (uninstall removes it again)
    admin = fleet.play("sveltos_access.yml", "-e", "kof_sveltos_cluster_admin=true")
    assert admin.rc == 0 and "WARNING: kof_sveltos_cluster_admin is true" in flat(admin.stdout), admin
    assert rbac.read_cluster_role_binding("kof-sveltos-viewer-cluster-admin").role_ref.name == "cluster-admin"


# ----------------------------------------------------------------------------------- backup/restore
DASHBOARD = {"apiVersion": "grafana.integreatly.org/v1beta1", "kind": "GrafanaDashboard",
             "metadata": {"name": "team-a-overview", "namespace": "kof"},
             "spec": {"instanceSelector": {"matchLabels": {"dashboards": "grafana"}}, "folder": "Team A",
                      "json": '{"title": "Team A overview", "panels": []}'}}
FOLDER = {"apiVersion": "grafana.integreatly.org/v1beta1", "kind": "GrafanaFolder",
          "metadata": {"name": "team-a", "namespace": "kof"},
          "spec": {"title": "Team A", "instanceSelector": {"matchLabels": {"dashboards": "grafana"}}}}
RULE = {"apiVersion": "operator.victoriametrics.com/v1beta1", "kind": "VMRule",
        "metadata": {"name": "team-a-alerts", "namespace": "kof"},
        "spec": {"groups": [{"name": "team-a", "rules": [
            {"alert": "TeamAErrors", "expr": "sum(rate(http_requests_total{code=~\"5..\"}[5m])) > 1", "for": "10m",
             "labels": {"severity": "warning"}}]}]}}
REGIONAL_DASHBOARD = dict(DASHBOARD, metadata={"name": "regional-storage", "namespace": "kof"})
PLURAL = {"GrafanaDashboard": "grafanadashboards", "GrafanaFolder": "grafanafolders", "VMRule": "vmrules"}


def create(custom, obj):
    group, version = obj["apiVersion"].split("/")
    custom.create_namespaced_custom_object(group, version, obj["metadata"]["namespace"], PLURAL[obj["kind"]],
                                           copy.deepcopy(obj))


def read(custom, obj):
    group, version = obj["apiVersion"].split("/")
    return custom.get_namespaced_custom_object(group, version, obj["metadata"]["namespace"], PLURAL[obj["kind"]],
                                               obj["metadata"]["name"])


def archive_members(path) -> dict:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name.split("/", 1)[1]: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_backup_and_restore(fleet):
    k = fleet.k
    backups = fleet.tmp / "backups"
    regional = fleet.custom(fleet.workload_api("cloud1-region1"))
    for obj in (FOLDER, DASHBOARD, RULE):
        create(fleet.custom(), obj)
    create(regional, REGIONAL_DASHBOARD)
    secrets = [*fleet.secret_values("grafana-admin-credentials"), *fleet.secret_values("storage-vmuser-credentials")]

    seq = k.last_seq()
    run = fleet.play("backup.yml")
    assert run.rc == 0 and run.changed == 1, run
    assert k.writes(since=seq) == [], "a backup only reads"
    archives = sorted(backups.glob("kof-backup-*.tar.gz"))
    assert len(archives) == 1 and mode(archives[0]) == 0o600
    files = archive_members(archives[0])
    manifest = yaml.safe_load(files["manifest.yaml"])
    assert manifest["format"] == "k0rdent.kof/backup/v1"
    assert set(manifest["clusters"]) == {"management", "cloud1-region1", "cloud1-region2"}
    for path in ("management/objects/GrafanaDashboard/kof/team-a-overview.yaml",
                 "management/objects/GrafanaFolder/kof/team-a.yaml", "management/objects/VMRule/kof/team-a-alerts.yaml",
                 "management/objects/Grafana/kof/grafana-vm.yaml", "management/helm/kof/kof-mothership.yaml",
                 "cloud1-region1/objects/GrafanaDashboard/kof/regional-storage.yaml",
                 "cloud1-region1/helm/kof/kof-storage.yaml"):
        assert path in files, sorted(files)
    saved = yaml.safe_load(files["management/objects/GrafanaDashboard/kof/team-a-overview.yaml"])
    # what was created, plus what grafana-operator v5.13.0's CRD defaults (resyncPeriod 5m): the archive holds the
    # object as the server keeps it, without server-managed fields
    assert saved["spec"] == dict({"resyncPeriod": "5m"}, **DASHBOARD["spec"])
    assert "uid" not in saved["metadata"] and "status" not in saved
    assert {"source": "VMCluster kof/cluster", "path": "spec.retentionPeriod", "value": "1"} in \
        manifest["clusters"]["management"]["retention"]
    refs = {(r["cluster"], r["name"]): r for r in manifest["secrets"]["references"]}
    assert refs[("management", "grafana-admin-credentials")]["keys"] == ["GF_SECURITY_ADMIN_PASSWORD",
                                                                         "GF_SECURITY_ADMIN_USER"]
    assert ("management", "storage-vmuser-credentials") in refs and manifest["secrets"]["included"] is False
    blob = b"".join(files.values())
    for value in secrets:
        assert value.encode() not in blob, "a secret value was exported"

    # nothing changed: no new archive, changed=0
    again = fleet.play("backup.yml")
    assert again.rc == 0 and again.changed == 0 and len(list(backups.glob("*.tar.gz"))) == 1, again

    # Secrets only with a vault password: refused without one (nothing written), encrypted with one
    seq = k.last_seq()
    refused = fleet.play("backup.yml", "-e", "kof_backup_include_secrets=true")
    assert refused.rc != 0 and "no vault password is available" in flat(refused.stdout), refused
    assert fleet.api_requests(seq) == [] and len(list(backups.glob("*.tar.gz"))) == 1
    vault_pw = fleet.tmp / "vault-password"
    vault_pw.write_text("day2-vault-password\n")
    enc = fleet.play("backup.yml", "-e", "kof_backup_include_secrets=true", "--vault-password-file", vault_pw)
    assert enc.rc == 0, enc
    newest = sorted(backups.glob("*.tar.gz"))[-1]
    files = archive_members(newest)
    assert files["secrets.vault"].startswith(b"$ANSIBLE_VAULT;1.1;AES256")
    for value in secrets:
        assert value.encode() not in b"".join(files.values())
    from ansible.parsing.vault import VaultLib, VaultSecret
    plain = yaml.safe_load(VaultLib([("default", VaultSecret(b"day2-vault-password"))]).decrypt(files["secrets.vault"]))
    assert {s["metadata"]["name"] for s in plain["management"]} >= {"grafana-admin-credentials",
                                                                     "storage-vmuser-credentials"}

    # lose a dashboard on each tier and change an alert rule; restore --check predicts it and writes nothing
    fleet.custom().delete_namespaced_custom_object("grafana.integreatly.org", "v1beta1", "kof", "grafanadashboards",
                                                   "team-a-overview")
    regional.delete_namespaced_custom_object("grafana.integreatly.org", "v1beta1", "kof", "grafanadashboards",
                                             "regional-storage")
    fleet.custom().patch_namespaced_custom_object("operator.victoriametrics.com", "v1beta1", "kof", "vmrules",
                                                  "team-a-alerts", {"spec": {"groups": [{"name": "x", "rules": []}]}})
    seq = k.last_seq()
    check = fleet.play("restore.yml", "--check", "--diff")
    assert check.rc == 0 and check.changed == 1, check
    assert k.writes(since=seq) == [] and "TeamAErrors" in check.stdout
    assert "2 created, 1 updated" in flat(check.stdout)

    restore = fleet.play("restore.yml")
    assert restore.rc == 0 and restore.changed == 1, restore
    writes = sorted(w["path"].rsplit("/", 1)[-1] for w in k.writes(since=seq))
    assert writes == ["regional-storage", "team-a-alerts", "team-a-overview"], writes
    assert read(fleet.custom(), DASHBOARD)["spec"] == dict({"resyncPeriod": "5m"}, **DASHBOARD["spec"])
    assert read(fleet.custom(), RULE)["spec"] == RULE["spec"]
    assert read(regional, REGIONAL_DASHBOARD)["spec"] == dict({"resyncPeriod": "5m"}, **REGIONAL_DASHBOARD["spec"])

    # a second restore changes nothing and sends no write
    seq = k.last_seq()
    idem = fleet.play("restore.yml")
    assert idem.rc == 0 and idem.changed == 0 and k.writes(since=seq) == [], idem

    # Secrets come back only on request, decrypted with the vault password, never shown
    fleet.core().patch_namespaced_secret("grafana-admin-credentials", "kof",
                                         {"data": {"GF_SECURITY_ADMIN_PASSWORD": base64.b64encode(b"lost").decode()}})
    sec = fleet.play("restore.yml", "-e", "kof_restore_secrets=true", "--vault-password-file", vault_pw, "--diff")
    assert sec.rc == 0, sec
    assert set(fleet.secret_values("grafana-admin-credentials")) == set(secrets[:2])
    assert "<hidden> (changed)" in sec.stdout
    for value in secrets:
        assert value not in sec.stdout


# ------------------------------------------------------------------------------------------ upgrade
def test_upgrade_region_by_region(fleet):
    k = fleet.k
    charts = bumped_charts(fleet.tmp)
    args = ("-e", f"kof_chart_repository={charts}", "-e", "kof_chart_version=0.1.2")
    seq = k.last_seq()
    run = fleet.play("upgrade.yml", *args)
    assert run.rc == 0 and not run.failed_hosts, run
    writes = k.writes(since=seq)
    cds = fleet.cds()
    for name, cd in cds.items():
        templates = [s["template"] for s in cd["spec"]["serviceSpec"]["services"] if s["name"].startswith("kof-")]
        assert templates and all(t.endswith("-0-1-2") for t in templates), (name, templates)
        assert [c["status"] for c in cd["status"]["conditions"] if c["type"] == "Ready"] == ["True"]
    # order: charts first, then region 1 with its children, then region 2 with its child, then clean-up
    cd_writes = [w["path"].rsplit("/", 1)[-1] for w in writes if "/clusterdeployments/" in w["path"]]
    assert cd_writes == ["cloud1-region1", "cloud1-region1-child1", "cloud1-region1-child2", "cloud1-region2",
                         "cloud1-region2-child1"], cd_writes
    first_cd = next(w["seq"] for w in writes if "/clusterdeployments/" in w["path"])
    assert all(w["seq"] < first_cd for w in writes if "sh.helm.release.v1.kof-mothership" in w["path"])
    # helm's own attempt to delete the old templates is refused while ClusterDeployments use them (kof#615);
    # the clean-up deletes them once nothing does
    deleted = sorted(w["path"].rsplit("/", 1)[-1] for w in writes if w["method"] == "DELETE"
                     and "/servicetemplates/" in w["path"] and w["status"] < 300)
    assert deleted == ["kof-collectors-0-1-1", "kof-operators-0-1-1", "kof-storage-0-1-1"], deleted
    last_cd = max(w["seq"] for w in writes if "/clusterdeployments/" in w["path"])
    assert all(w["seq"] > last_cd for w in writes if w["method"] == "DELETE" and "/servicetemplates/" in w["path"]
               and w["status"] < 300)
    assert flat(run.stdout).count("TASK [k0rdent.kof.verify : Check the health of the regional and child clusters]") == 2
    # the verification reads each cluster's pods through its kubeconfig: region 1's batch before region 2 starts
    region2_batch = next(w["seq"] for w in writes if w["path"].endswith("/clusterdeployments/cloud1-region2"))
    reads = [r for r in k.requests(since=seq) if r.get("cluster") == "kcm-system/cloud1-region1-child2"
             and r["path"] == "/api/v1/pods"]
    assert reads and reads[0]["seq"] < region2_batch, "region 1's batch was not verified before region 2 started"

    # a downgrade is refused before any change (the idempotent re-run is in the inventory plugin test below)
    seq = k.last_seq()
    down = fleet.play("upgrade.yml", "-e", "kof_chart_version=0.1.1")
    assert down.rc != 0 and "newer than kof_chart_version 0.1.1" in flat(down.stdout), down
    assert k.writes(since=seq) == []
    fleet.gv.update(kof_chart_repository=str(charts), kof_chart_version="0.1.2")
    fleet.inv = fleet.inventory(name="inventory")


# --------------------------------------------------------------------------------- inventory plugin
def test_inventory_plugin_adopts_the_fleet(fleet):
    k = fleet.k
    src = fleet.tmp / "adopted"
    (src / "group_vars").mkdir(parents=True)
    (src / "fleet.management_cluster.yml").write_text(yaml.safe_dump({
        "plugin": "k0rdent.kof.management_cluster",
        "keyed_groups": [{"key": "kof_clusterdeployment.config_region", "prefix": "region"}],
        "cache": True, "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": str(fleet.tmp / "inv-cache")}))
    # only the run settings: every cluster's own settings come from its ClusterDeployment
    (src / "group_vars" / "all.yml").write_text(yaml.safe_dump({
        k_: v for k_, v in fleet.gv.items() if k_ in ("kof_report_dir", "kof_verify_timeout", "kof_verify_interval",
                                                      "kof_chart_repository", "kof_chart_version")}))
    cmd = [str(ROOT / ".venv/bin/ansible-inventory"), "-i", str(src / "fleet.management_cluster.yml"), "--list"]
    seq = k.last_seq()
    out = unwrap(json.loads(subprocess.run(cmd, capture_output=True, text=True, env=fleet.env, check=True).stdout))
    assert out["kof_management"]["hosts"] == ["mothership"]
    assert sorted(out["kof_regional"]["hosts"]) == ["cloud1-region1", "cloud1-region2"]
    assert sorted(out["kof_child_cloud1_region1"]["hosts"]) == ["cloud1-region1-child1", "cloud1-region1-child2"]
    assert out["kof_child_cloud1_region2"]["hosts"] == ["cloud1-region2-child1"]
    assert sorted(out["region_us_west_2"]["hosts"]) == ["cloud1-region2", "cloud1-region2-child1"]
    hv = out["_meta"]["hostvars"]
    assert hv["cloud1-region2"]["kof_regional_domain"] == "cloud1-region2.kof.example.com"
    assert hv["cloud1-region2"]["kof_regional_region"] == "us-west-2"
    assert hv["cloud1-region1-child2"]["kof_regional"] == "cloud1-region1"
    assert hv["cloud1-region1-child2"]["kof_clusterdeployment"]["ready"] is True
    # the kubeconfig came from K8S_AUTH_KUBECONFIG: not pinned into the inventory (stale in the next AWX job)
    assert not any("kof_kubeconfig" in v for v in hv.values())
    assert len([r for r in fleet.api_requests(seq) if "clusterdeployments" in r["path"]]) == 1
    # a kubeconfig written in the file is handed to the playbooks
    (src / "explicit.management_cluster.yml").write_text(yaml.safe_dump({
        "plugin": "k0rdent.kof.management_cluster", "kubeconfig": k.kubeconfig, "management_host": "mgmt"}))
    explicit = unwrap(json.loads(subprocess.run(
        [cmd[0], "-i", str(src / "explicit.management_cluster.yml"), "--host", "mgmt"],
        capture_output=True, text=True, env=fleet.env, check=True).stdout))
    assert explicit["kof_kubeconfig"] == k.kubeconfig
    # from the cache: no request at all
    seq = k.last_seq()
    cached = unwrap(json.loads(subprocess.run(cmd, capture_output=True, text=True, env=fleet.env, check=True).stdout))
    assert cached["_meta"]["hostvars"] == hv and fleet.api_requests(seq) == []

    # the adopted inventory drives the playbooks as the written one did: upgrade.yml again (the upgrade's
    # idempotence check; kof_version left at auto: the installed 0.1.2) changes nothing, sends no write, and
    # verifies every batch healthy
    seq = k.last_seq()
    run = fleet.play("upgrade.yml", inv=src / "fleet.management_cluster.yml")
    assert run.rc == 0 and run.changed == 0, (run.recap, run.stdout[-2000:], run.stderr[-2000:])
    assert sorted(run.recap) == sorted(["mothership", *fleet.cds()])
    assert k.writes(since=seq) == []
    report = json.loads((fleet.tmp / "report" / "fleet-report.json").read_text())
    assert report["summary"]["ok"] and [c["name"] for c in report["clusters"]] == ["cloud1-region2",
                                                                                   "cloud1-region2-child1"]


# -------------------------------------------------------------------------------------------- prune
def test_prune_reports_and_deletes_only_with_confirmation(fleet):
    k = fleet.k

    def drop_region2(h):
        del h["all"]["children"]["kof_regional"]["hosts"]["cloud1-region2"]
        del h["all"]["children"]["kof_child"]["children"]["kof_child_region2"]
    inv = fleet.inventory(drop_region2, name="inventory")
    fleet.hosts = yaml.safe_load((inv / "hosts.yml").read_text())

    seq = k.last_seq()
    report = fleet.play("prune.yml")
    assert report.rc == 0 and report.changed == 0, report
    assert "Not in the inventory: cloud1-region2-child1, cloud1-region2 - set kof_prune_confirm=true" in flat(report.stdout)
    check = fleet.play("prune.yml", "-e", "kof_prune_confirm=true", "--check")
    assert check.rc == 0 and check.changed > 0, check
    assert k.writes(since=seq) == [], "reporting (and --check) must not delete anything"

    run = fleet.play("prune.yml", "-e", "kof_prune_confirm=true")
    assert run.rc == 0, run
    deletes = [w["path"].rsplit("/", 2)[-2:] for w in k.writes(since=seq) if w["method"] == "DELETE"]
    assert deletes == [["clusterdeployments", "cloud1-region2-child1"], ["clusterdeployments", "cloud1-region2"],
                       ["promxyservergroups", "cloud1-region2-metrics"], ["grafanadatasources", "cloud1-region2-logs"]]
    assert sorted(fleet.cds()) == ["cloud1-region1", "cloud1-region1-child1", "cloud1-region1-child2"]

    seq = k.last_seq()
    again = fleet.play("prune.yml", "-e", "kof_prune_confirm=true")
    assert again.rc == 0 and again.changed == 0 and k.writes(since=seq) == [], again
    assert "nothing to prune" in flat(again.stdout)


# ---------------------------------------------------------------------------------------- uninstall
def test_uninstall_needs_confirmation_and_goes_in_order(fleet):
    k = fleet.k
    seq = k.last_seq()
    refused = fleet.play("uninstall.yml")
    assert refused.rc != 0 and "Set kof_uninstall_confirm=true to confirm" in flat(refused.stdout), refused
    assert fleet.api_requests(seq) == [], "an unconfirmed uninstall must not even talk to the cluster"

    confirm = ("-e", "kof_uninstall_confirm=true")
    orphaning = fleet.play("uninstall.yml", *confirm, "--limit", "cloud1-region1")
    assert orphaning.rc != 0 and "write to a regional cluster being removed but are not in this run" in \
        flat(orphaning.stdout), orphaning
    assert k.writes(since=seq) == []

    # a backup that fails stops the uninstall before anything is deleted
    broken = fleet.play("uninstall.yml", *confirm, "-e", '{"kof_backup_extra_kinds": ["not-a-kind"]}')
    assert broken.rc != 0 and "must be <group>/<version>/<Kind>" in flat(broken.stdout), broken
    assert k.writes(since=seq) == []

    # a partial fleet: only the limited child goes (no backup: children hold no KOF configuration)
    part = fleet.play("uninstall.yml", *confirm, "--limit", "cloud1-region1-child2")
    assert part.rc == 0, part
    assert [w["path"].rsplit("/", 1)[-1] for w in k.writes(since=seq)] == ["cloud1-region1-child2"]
    assert sorted(fleet.cds()) == ["cloud1-region1", "cloud1-region1-child1"]

    backups_before = set((fleet.tmp / "backups").glob("*.tar.gz"))
    seq = k.last_seq()
    full = fleet.play("uninstall.yml", *confirm)
    assert full.rc == 0 and not full.failed_hosts, full
    writes = k.writes(since=seq)
    new = set((fleet.tmp / "backups").glob("*.tar.gz")) - backups_before
    assert len(new) == 1, "the uninstall did not back up first"
    assert "team-a-overview" in archive_members(next(iter(new)))["manifest.yaml"].decode()

    def first(pred):
        return next(w["seq"] for w in writes if pred(w))
    child = first(lambda w: w["path"].endswith("/clusterdeployments/cloud1-region1-child1"))
    region = first(lambda w: w["path"].endswith("/clusterdeployments/cloud1-region1"))
    mothership = first(lambda w: "sh.helm.release.v1.kof-mothership" in w["path"])
    operators = first(lambda w: "sh.helm.release.v1.kof-operators" in w["path"])
    namespace = first(lambda w: w["method"] == "DELETE" and w["path"] == "/api/v1/namespaces/kof")
    assert child < region < mothership < operators < namespace
    assert fleet.cds() == {}
    from kubernetes import client
    from kubernetes.client.rest import ApiException
    names = [n.metadata.name for n in fleet.core().list_namespace().items]
    assert "kof" not in names
    rbac = client.RbacAuthorizationV1Api(fleet.api)
    for read_binding in ("kof-sveltos-viewer", "kof-sveltos-viewer-cluster-admin"):
        with pytest.raises(ApiException):
            rbac.read_cluster_role_binding(read_binding)
    assert not (fleet.tmp / "access" / "mothership-sveltos-dashboard.token").exists()

    # a second uninstall finds nothing to do
    seq = k.last_seq()
    again = fleet.play("uninstall.yml", *confirm)
    assert again.rc == 0 and again.changed == 0, again.recap
    assert k.writes(since=seq) == []
