"""The whole rollout (playbooks/site.yml) on inventories/local against one kofsim, in the order a user lives
it: preview with --check (nothing written, predicts the first run), first run, a no-op re-run (changed=0 and
not a single write), a change of one child shown by --diff, scaling out by one child, and a child that never
becomes Ready failing on its own host while the others succeed."""
from __future__ import annotations

import base64
import json
import re
import subprocess

import pytest

from kofsim.testing import Kofsim
from tests.helpers import ROOT, ansible_playbook, tool_env
from tests.integration.tiers.conftest import base_inventory, write_inventory

CH1 = ("all", "children", "kof_child", "children", "kof_child_region1", "hosts")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """A kofsim with the local fleet, the inventory directory, and the environment to run against it."""
    k = Kofsim(tmp_path_factory.mktemp("kofsim-site"), ready_after=0.3)
    k.start()
    home = tmp_path_factory.mktemp("home")
    env = tool_env(home=home, extra={"K8S_AUTH_KUBECONFIG": k.kubeconfig})
    hosts, gv = base_inventory()
    gv["kof_report_dir"] = str(tmp_path_factory.mktemp("report"))
    gv["kof_verify_timeout"] = 60
    inv = write_inventory(tmp_path_factory.mktemp("inventory"), hosts, gv)
    yield {"kofsim": k, "env": env, "inv": inv, "hosts": hosts, "gv": gv, "report": gv["kof_report_dir"]}
    k.stop()


def site(fleet, *args, inv=None):
    return ansible_playbook("-i", inv or fleet["inv"], "playbooks/site.yml", *args, env=fleet["env"])


def changed_by_host(run):
    return {h: r["changed"] for h, r in run.recap.items()}


def kubectl_json(fleet, *args):
    out = subprocess.run([str(ROOT / ".tools" / "bin" / "kubectl"), *args, "-o", "json"], capture_output=True,
                         text=True, env=fleet["env"] | {"KUBECONFIG": fleet["kofsim"].kubeconfig}, check=True)
    return json.loads(out.stdout)


def test_1_check_mode_writes_nothing_and_predicts_the_first_run(fleet):
    k = fleet["kofsim"]
    seq = k.last_seq()
    preview = site(fleet, "--check")
    assert preview.rc == 0, preview
    assert k.writes(since=seq) == [], "check mode wrote to the API"
    assert any(r["dry_run"] for r in k.requests(since=seq)), "check mode should predict with server-side dry runs"

    first = site(fleet)
    assert first.rc == 0 and not first.failed_hosts, first
    # every host the check run said would change did change, and no other
    assert changed_by_host(preview) == changed_by_host(first), (preview.recap, first.recap)
    assert all(first.recap[h]["changed"] > 0 for h in ("cloud1-region1", "cloud1-region1-child1", "mothership"))
    fleet["first"] = first


def test_2_objects_are_the_guides(fleet):
    cds = {cd["metadata"]["name"]: cd for cd in kubectl_json(fleet, "get", "clusterdeployments", "-n",
                                                            "kcm-system")["items"]}
    assert sorted(cds) == sorted(["cloud1-region1", "cloud1-region2", "cloud1-region1-child1",
                                  "cloud1-region1-child2", "cloud1-region2-child1"])
    reg = cds["cloud1-region2"]
    assert reg["metadata"]["labels"]["kof"] == "storage"
    assert reg["spec"]["credential"] == "aws-cluster-identity-cred"
    assert reg["spec"]["config"]["region"] == "us-west-2"
    assert reg["spec"]["config"]["clusterLabels"] == {"k0rdent.mirantis.com/kof-storage-secrets": "true"}
    child = cds["cloud1-region2-child1"]
    svc = {s["name"]: s for s in child["spec"]["serviceSpec"]["services"]}
    assert [s["name"] for s in child["spec"]["serviceSpec"]["services"]] == ["cert-manager", "kof-operators",
                                                                             "kof-collectors"]
    assert "vmauth.cloud1-region2.kof.example.com" in svc["kof-collectors"]["values"]
    assert "cloud1-region1" not in svc["kof-collectors"]["values"]
    # children inherit their region's cloud region unless they set their own
    assert child["spec"]["config"]["region"] == "us-west-2"
    for cd in cds.values():
        ready = [c for c in cd["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True", cd["metadata"]["name"]
    report = json.loads((ROOT / fleet["report"] / "fleet-report.json").read_text())
    assert report["summary"]["ok"] and len(report["clusters"]) == 5


def test_3_rerun_changes_nothing_and_writes_nothing(fleet):
    k = fleet["kofsim"]
    seq = k.last_seq()
    again = site(fleet)
    assert again.rc == 0, again
    assert again.changed == 0, again.recap
    assert k.writes(since=seq) == [], "a no-op re-run sent writes"


def test_4_diff_shows_one_child_change_and_no_secret(fleet):
    hosts = json.loads(json.dumps(fleet["hosts"]))
    node = hosts["all"]["children"]["kof_child"]["children"]["kof_child_region1"]["hosts"]
    node["cloud1-region1-child2"] = {"kof_child_workers_number": 5}
    inv = write_inventory(fleet["inv"], hosts, fleet["gv"])
    k = fleet["kofsim"]
    seq = k.last_seq()
    run = site(fleet, "--diff", inv=inv)
    assert run.rc == 0, run
    changed = {h for h, r in run.recap.items() if r["changed"]}
    assert changed == {"cloud1-region1-child2"}, run.recap
    assert re.search(r"-\s+workersNumber: 3\n\+\s+workersNumber: 5", run.stdout), run.stdout[-3000:]
    writes = k.writes(since=seq)
    assert [w["path"].rsplit("/", 1)[-1] for w in writes] == ["cloud1-region1-child2"], writes
    secret = kubectl_json(fleet, "get", "secret", "-n", "kof", "storage-vmuser-credentials")["data"]
    import base64
    for value in secret.values():
        assert base64.b64decode(value).decode() not in run.stdout


def test_5_scaling_out_changes_only_the_new_child(fleet):
    hosts = json.loads(json.dumps(fleet["hosts"]))
    hosts["all"]["children"]["kof_child"]["children"]["kof_child_region1"]["hosts"]["cloud1-region1-child2"] = \
        {"kof_child_workers_number": 5}
    hosts["all"]["children"]["kof_child"]["children"]["kof_child_region2"]["hosts"]["cloud1-region2-child2"] = None
    inv = write_inventory(fleet["inv"], hosts, fleet["gv"])
    run = site(fleet, inv=inv)
    assert run.rc == 0, run
    assert {h for h, r in run.recap.items() if r["changed"]} == {"cloud1-region2-child2"}, run.recap
    fleet["hosts"] = hosts


def test_6_a_child_that_never_becomes_ready_fails_alone(fleet):
    k = fleet["kofsim"]
    hosts = json.loads(json.dumps(fleet["hosts"]))
    hosts["all"]["children"]["kof_child"]["children"]["kof_child_region2"]["hosts"]["cloud1-region2-stuck"] = None
    gv = dict(fleet["gv"], kof_wait_timeout=3, kof_verify_timeout=3)
    inv = write_inventory(fleet["inv"], hosts, gv)
    k.scenario(never_ready=["cloud1-region2-stuck"])
    run = site(fleet, inv=inv)
    assert run.rc != 0
    assert run.failed_hosts == ["cloud1-region2-stuck"], run.recap
    assert "cloud1-region2-stuck not Ready after 3s" in run.stdout
    # the verify play then reports the fleet: every other cluster healthy, the stuck one named
    report = json.loads((ROOT / fleet["report"] / "fleet-report.json").read_text())
    bad = [c["name"] for c in report["clusters"] if c["state"] != "healthy"]
    assert bad == ["cloud1-region2-stuck"], report["clusters"]


def test_7_a_new_storage_class_is_refused_unless_the_statefulset_may_be_recreated(fleet):
    """KOF 0.1.1: kof-storage's VictoriaLogs (victoria-logs-single 0.8.16) is a StatefulSet whose claim template
    carries the regional storage class; Kubernetes forbids that update. Its Grafana's data claim gets the class
    too, which grafana-operator cannot update. Refused before any write; with kof_storage_recreate_confirm the
    StatefulSet is deleted with propagationPolicy Orphan and Sveltos' upgrade re-creates it over the same pod and
    volume claim, and Grafana's claim is replaced after the upgrade - by a confirmed re-run when the cluster refused
    it the first time; then a re-run changes nothing."""
    k = fleet["kofsim"]
    sts = "kof-storage-victoria-logs-single-server"
    hosts = json.loads(json.dumps(fleet["hosts"]))
    hosts["all"]["children"]["kof_regional"]["hosts"]["cloud1-region1"]["kof_regional_storage_class"] = "gp3-fast"
    inv = write_inventory(fleet["inv"], hosts, fleet["gv"])
    secret = kubectl_json(fleet, "get", "secret", "-n", "kcm-system", "cloud1-region1-kubeconfig")
    kc = fleet["inv"].parent / "cloud1-region1.kubeconfig"
    kc.write_bytes(base64.b64decode(secret["data"]["value"]))
    pod = kubectl_json(fleet, "--kubeconfig", str(kc), "get", "pod", "-n", "kof", f"{sts}-0")
    claim = kubectl_json(fleet, "--kubeconfig", str(kc), "get", "pvc", "-n", "kof", f"server-volume-{sts}-0")
    grafana_claim = kubectl_json(fleet, "--kubeconfig", str(kc), "get", "pvc", "-n", "kof", "grafana-vm-pvc")
    assert grafana_claim["spec"]["storageClassName"] != "gp3-fast"
    subprocess.run([str(ROOT / ".tools" / "bin" / "kubectl"), "--kubeconfig", str(kc), "apply", "-f", "-"],
                   check=True, capture_output=True, env=fleet["env"],
                   input=json.dumps({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                                     "metadata": {"name": "gp3-fast"}, "provisioner": "ebs.csi.aws.com"}).encode())
    seq = k.last_seq()
    refused = site(fleet, inv=inv)
    assert refused.rc != 0
    text = " ".join(refused.stdout.split())
    assert f"host cloud1-region1 (ClusterDeployment kcm-system/cloud1-region1): {sts}, Grafana kof/grafana-vm's " \
           "data claim grafana-vm-pvc (storage class" in text, refused.stdout[-3000:]
    assert k.writes(since=seq) == [], "the refusal wrote"
    # confirmed, but the regional cluster refuses to delete Grafana's claim: the host fails, saying so
    k.set_faults(rate=1, count=1000, kinds=["500"], methods=["DELETE"], cluster="kcm-system/cloud1-region1",
                 path_regex="/persistentvolumeclaims/grafana-vm-pvc$")
    try:
        failed = site(fleet, "-e", "kof_storage_recreate_confirm=true", inv=inv)
    finally:
        k.clear_faults()
    assert failed.rc != 0 and failed.failed_hosts == ["cloud1-region1"], failed.recap
    assert "the claim could not be replaced for storage class gp3-fast" in " ".join(failed.stdout.split()), \
        failed.stdout[-3000:]
    assert kubectl_json(fleet, "--kubeconfig", str(kc), "get", "pvc", "-n", "kof", "grafana-vm-pvc")["metadata"][
        "uid"] == grafana_claim["metadata"]["uid"]
    # the ClusterDeployment has the class now; a confirmed re-run (its --check predicting it) finishes the job
    seq = k.last_seq()
    preview = site(fleet, "--check", "-e", "kof_storage_recreate_confirm=true", inv=inv)
    assert preview.rc == 0 and k.writes(since=seq) == [], preview
    assert {h for h, r in preview.recap.items() if r["changed"]} == {"cloud1-region1"}, preview.recap
    run = site(fleet, "-e", "kof_storage_recreate_confirm=true", inv=inv)
    assert run.rc == 0, run
    assert {h for h, r in run.recap.items() if r["changed"]} == {"cloud1-region1"}, run.recap
    now = kubectl_json(fleet, "--kubeconfig", str(kc), "get", "statefulset", "-n", "kof", sts)
    assert now["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "gp3-fast"
    assert kubectl_json(fleet, "--kubeconfig", str(kc), "get", "pod", "-n", "kof", f"{sts}-0")["metadata"]["uid"] \
        == pod["metadata"]["uid"]
    assert kubectl_json(fleet, "--kubeconfig", str(kc), "get", "pvc", "-n", "kof", f"server-volume-{sts}-0")[
        "metadata"]["uid"] == claim["metadata"]["uid"]
    # Grafana's claim: replaced with the new class, the operator through all its stages again
    new_claim = kubectl_json(fleet, "--kubeconfig", str(kc), "get", "pvc", "-n", "kof", "grafana-vm-pvc")
    assert new_claim["metadata"]["uid"] != grafana_claim["metadata"]["uid"]
    assert new_claim["spec"]["storageClassName"] == "gp3-fast"
    grafana = kubectl_json(fleet, "--kubeconfig", str(kc), "get", "grafanas.grafana.integreatly.org", "-n", "kof",
                           "grafana-vm")
    assert (grafana["status"]["stage"], grafana["status"]["stageStatus"]) == ("complete", "success"), grafana["status"]
    again = site(fleet, inv=inv)
    assert again.rc == 0 and again.changed == 0, again.recap
    fleet["hosts"] = hosts


def test_8_a_new_management_storage_class_replaces_grafanas_claim_only_when_confirmed(fleet):
    """kof-mothership 0.1.1 gives its Grafana's data claim global.storageClass (kof_storage_class), and
    grafana-operator cannot change a claim's class. Refused before any write; --check with the confirmation
    predicts the change and writes nothing; confirmed, the claim is replaced after kof-mothership's upgrade and
    Grafana completes its stages; a re-run changes nothing."""
    k = fleet["kofsim"]
    old = kubectl_json(fleet, "get", "pvc", "-n", "kof", "grafana-vm-pvc")
    assert old["spec"].get("storageClassName") != "mgmt-fast"
    subprocess.run([str(ROOT / ".tools" / "bin" / "kubectl"), "apply", "-f", "-"], check=True, capture_output=True,
                   env=fleet["env"] | {"KUBECONFIG": k.kubeconfig},
                   input=json.dumps({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                                     "metadata": {"name": "mgmt-fast"}, "provisioner": "ebs.csi.aws.com"}).encode())
    inv = write_inventory(fleet["inv"], fleet["hosts"], dict(fleet["gv"], kof_storage_class="mgmt-fast"))
    only = ("--limit", "mothership")
    seq = k.last_seq()
    refused = site(fleet, *only, inv=inv)
    assert refused.rc != 0
    text = " ".join(refused.stdout.split())
    assert "Storage class mgmt-fast (kof_storage_class, kof-mothership's global.storageClass) would give Grafana " \
           "kof/grafana-vm a data claim of another storage class than its claim grafana-vm-pvc has " \
           f"({old['spec'].get('storageClassName') or 'none'})" in text, refused.stdout[-3000:]
    assert "kof_storage_recreate_confirm=true" in text
    assert k.writes(since=seq) == [], "the refusal wrote"

    preview = site(fleet, *only, "--check", "-e", "kof_storage_recreate_confirm=true", inv=inv)
    assert preview.rc == 0, preview
    assert k.writes(since=seq) == [], "check mode wrote"
    assert preview.recap["mothership"]["changed"] > 0, preview.recap

    run = site(fleet, *only, "-e", "kof_storage_recreate_confirm=true", inv=inv)
    assert run.rc == 0, run
    assert changed_by_host(run) == changed_by_host(preview), (run.recap, preview.recap)
    new = kubectl_json(fleet, "get", "pvc", "-n", "kof", "grafana-vm-pvc")
    assert new["metadata"]["uid"] != old["metadata"]["uid"]
    assert new["spec"]["storageClassName"] == "mgmt-fast"
    grafana = kubectl_json(fleet, "get", "grafanas.grafana.integreatly.org", "-n", "kof", "grafana-vm")
    assert (grafana["status"]["stage"], grafana["status"]["stageStatus"]) == ("complete", "success"), grafana["status"]
    again = site(fleet, *only, inv=inv)
    assert again.rc == 0 and again.changed == 0, again.recap
    fleet["gv"] = dict(fleet["gv"], kof_storage_class="mgmt-fast")
