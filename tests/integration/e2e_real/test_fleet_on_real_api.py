"""The collection's real flows against a real kube-apiserver, end to end (issue 16): the rollout as AWX runs it
(ansible-runner, the site job template's survey answers and credential, the execution environment's collections),
the same PLAY RECAP as on kofsim's emulator, a re-run and a --check that store nothing, the access tokens under
real RBAC (a 403 outside the token's scope), backup then restore on the workload clusters' own API servers, the
controllers' process and then kube-apiserver restarted in the middle of a rollout, and the ordered uninstall after
which nothing of KOF is left (the namespace and the owned objects removed by the real kube-controller-manager).

The fleet: the management cluster, one region, its children (inventories/local's shape, smaller). Each workload
cluster is a real kube-apiserver of its own, reached through the `<name>-kubeconfig` Secret kcm wrote."""
from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time

import pytest
import yaml

from kofsim.testing import Kofsim
from tests.helpers import RECAP, ROOT, VENV_BIN, ansible_playbook, tool_env
from tests.integration.e2e_real.conftest import NS, REGION, diff, inventory

pytestmark = pytest.mark.slow
CHILD1, CHILD2, CHILD3 = "cloud1-region1-child1", "cloud1-region1-child2", "cloud1-region1-child3"
SHARED: dict = {}


def wait_for(fn, what, timeout=120.0, interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def cluster_deployments(fleet) -> dict:
    client = fleet.mgmt()
    res = client.resource("k0rdent.mirantis.com", "clusterdeployments")
    return {cd["metadata"]["name"]: cd for cd in client.list(res, NS)}


def ready(cd) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in (cd.get("status") or {}).get("conditions") or [])


def survey_answers(name: str) -> dict:
    """What AWX passes as extra vars when a job template's survey is launched with its defaults."""
    spec = json.loads((ROOT / "awx" / "surveys" / f"{name}.json").read_text())["spec"]
    out = {}
    for q in spec:
        if "default" in q and q["default"] != "":
            out[q["variable"]] = int(q["default"]) if q["type"] == "integer" else q["default"]
    return out


def ee_collections(tmp) -> tuple:
    """The execution environment's collections: this collection from the tarball `make build` writes, installed
    offline as execution-environment.yml does, next to the kubernetes.core and amazon.aws its galaxy requirements
    pin (those come with the ansible package here: their versions must be in the EE's ranges)."""
    ee = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    build, dest = tmp / "build", tmp / "ee-collections"
    env = tool_env(home=tmp / "home")
    subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(build),
                    str(ROOT)], check=True, capture_output=True, env=env, timeout=300)
    tarballs = list(build.glob("k0rdent-kof-*.tar.gz"))
    assert len(tarballs) == 1, tarballs
    subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "install", "--offline", "--force", "-p",
                    str(dest), str(tarballs[0])], check=True, capture_output=True, env=env, timeout=300)
    listing = subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "list", "--format", "json"],
                             check=True, capture_output=True, text=True, env=dict(env, ANSIBLE_COLLECTIONS_PATH=str(dest)),
                             timeout=120).stdout
    versions = {}
    for path in json.loads(listing).values():
        for fqcn, info in path.items():
            versions.setdefault(fqcn, info["version"])
    return dest, versions, ee["dependencies"]["galaxy"]["collections"]


def _in_range(version: str, spec: str) -> bool:
    from packaging.specifiers import SpecifierSet  # noqa: WPS433
    return version in SpecifierSet(spec.replace(" ", ""))


def test_01_site_through_ansible_runner_as_awx(fleet, tmp_path):
    """The site job template as AWX launches it: its survey's answers as extra vars, the management cluster
    credential injected as AWX's credential type says (a private kubeconfig file in K8S_AUTH_KUBECONFIG, the
    context as kof_context), the project checkout without the development links, the EE's collections; then what
    an AWX user sees: the job status, the host summaries, every host's events, the set_stats artifacts."""
    import ansible_runner  # noqa: WPS433 (requirements/dev.txt pins it)

    work = fleet.work
    inv = inventory(work / "inv1", [CHILD1], kof_verify_timeout=300)
    collections, versions, wanted = ee_collections(work)
    for req in wanted:
        assert _in_range(versions[req["name"]], req["version"]), (req, versions.get(req["name"]))
    assert (collections / "ansible_collections" / "k0rdent" / "kof" / "MANIFEST.json").exists()
    # the project, as AWX checks it out (git): playbooks and ansible.cfg; no .collections link (git-ignored)
    project = work / "project"
    shutil.copytree(ROOT / "playbooks", project / "playbooks")
    shutil.copy(ROOT / "ansible.cfg", project / "ansible.cfg")
    # the credential type's injectors
    cred_type = yaml.safe_load((ROOT / "awx" / "credential_types.yml").read_text())[0]
    pdd = work / "runner"
    (pdd / "env").mkdir(parents=True)
    kc_file = pdd / "env" / "kubeconfig"
    kc_file.write_text(open(fleet.real.kubeconfig).read())
    kc_file.chmod(0o600)
    inject = cred_type["injectors"]
    assert inject["env"] == {"K8S_AUTH_KUBECONFIG": "{{ tower.filename.kubeconfig }}"}
    extravars = dict(survey_answers("site"), **{k: "" for k in inject["extra_vars"]},
                     kof_report_dir=str(fleet.out))
    envvars = {"PATH": tool_env()["PATH"], "HOME": str(fleet.home), "K8S_AUTH_KUBECONFIG": str(kc_file),
               "ANSIBLE_COLLECTIONS_PATH": str(collections), "ANSIBLE_NOCOLOR": "1"}
    t0 = time.monotonic()
    r = ansible_runner.run(private_data_dir=str(pdd), project_dir=str(project), playbook="playbooks/site.yml",
                           inventory=str(inv), extravars=extravars, envvars=envvars, quiet=True, timeout=1200)
    fleet.timings["site.yml via ansible-runner"] = round(time.monotonic() - t0, 1)
    stdout = r.stdout.read()
    assert (r.status, r.rc) == ("successful", 0), stdout[-6000:]
    hosts = {"mothership", REGION, CHILD1}
    # the job's host summaries (playbook_on_stats): every host ok, none failed or unreachable
    assert set(r.stats["ok"]) == hosts and not r.stats["failures"] and not r.stats["dark"], r.stats
    events = list(r.events)
    stats = [e for e in events if e["event"] == "playbook_on_stats"]
    assert len(stats) == 1
    artifacts = stats[0]["event_data"]["artifact_data"]
    assert artifacts["kof_fleet_unhealthy"] == [], artifacts
    assert artifacts["kof_fleet_health"]["healthy"] == 2, artifacts["kof_fleet_health"]
    for host in hosts:  # every host has its own events, as AWX's job output per host shows them
        assert any(e["event"] == "runner_on_ok" and e["event_data"].get("host") == host for e in events), host
    # the roles ran from the execution environment's collection, not from the repository
    paths = {e["event_data"].get("task_path", "") for e in events if e["event"] == "runner_on_ok"}
    assert any(str(collections) in p for p in paths), sorted(paths)[:5]
    assert not any("/roles/" in p and str(collections) not in p and str(project) not in p for p in paths)
    art = pdd / "artifacts" / r.config.ident
    assert (art / "rc").read_text() == "0" and (art / "status").read_text() == "successful"
    assert len(list((art / "job_events").glob("*.json"))) == len(events)
    # every object Ready on the real server
    cds = cluster_deployments(fleet)
    assert set(cds) == {REGION, CHILD1} and all(ready(cd) for cd in cds.values()), cds
    assert sorted(fleet.real.workload_clusters()) == sorted([f"{NS}/{CHILD1}", f"{NS}/{REGION}"])
    SHARED["recap"] = {m["host"]: {k: int(v) for k, v in m.groupdict().items() if k != "host"}
                       for m in RECAP.finditer(stdout)}
    SHARED["inv1"] = inv


def test_02_the_emulator_gives_the_same_recap(tmp_path):
    """The same inventory, the same playbook, kofsim's emulator: the same PLAY RECAP, host by host."""
    recap = SHARED.get("recap")
    if recap is None:
        pytest.skip("the real rollout did not run")
    k = Kofsim(tmp_path / "emulator").start()
    try:
        home = tmp_path / "home"
        home.mkdir()
        inv = inventory(tmp_path / "inv", [CHILD1], kof_verify_timeout=300)
        extra = json.dumps(dict(survey_answers("site"), kof_context="", kof_report_dir=str(tmp_path / "out")))
        run = ansible_playbook("-i", inv, "playbooks/site.yml", "-e", extra,
                               env=tool_env(home=home, extra={"K8S_AUTH_KUBECONFIG": k.kubeconfig}), timeout=900)
    finally:
        k.stop()
    assert run.rc == 0, run
    assert run.recap == recap, f"emulator {run.recap}\nreal {recap}"


def test_03_a_rerun_changes_nothing_and_stores_nothing(fleet):
    before = fleet.snapshot()
    run = fleet.play("site.yml", SHARED["inv1"], label="site.yml re-run")
    assert run.rc == 0, run
    assert run.changed == 0, run.recap
    assert diff(before, fleet.snapshot()) == []


def test_04_check_mode_writes_nothing(fleet):
    before = fleet.snapshot()
    run = fleet.play("site.yml", SHARED["inv1"], "--check", label="site.yml --check")
    assert run.rc == 0, run
    assert diff(before, fleet.snapshot()) == []


def test_05_access_tokens_under_real_rbac(fleet):
    """sveltos_access.yml's least-privilege token reads what the dashboard shows and nothing else: the real
    authorizer answers 403 for Secrets (the kubeconfigs of the workload clusters among them)."""
    run = fleet.play("sveltos_access.yml", SHARED["inv1"])
    assert run.rc == 0, run
    token = (fleet.work / "access" / "mothership-sveltos-dashboard.token").read_text().strip()
    assert oct((fleet.work / "access" / "mothership-sveltos-dashboard.token").stat().st_mode & 0o777) == "0o600"
    from kofsim.k0rdent.rest import RestClient  # noqa: WPS433
    cfg = yaml.safe_load(open(fleet.real.kubeconfig))
    cfg["users"][0]["user"] = {"token": token}
    viewer = RestClient(cfg)
    summaries = viewer.request("GET", "/apis/config.projectsveltos.io/v1beta1/namespaces/kcm-system/clustersummaries")
    assert len(summaries["items"]) >= 2
    for path in (f"/api/v1/namespaces/{NS}/secrets/{REGION}-kubeconfig", f"/api/v1/namespaces/{NS}/secrets",
                 "/api/v1/namespaces/kof/secrets"):
        with pytest.raises(Exception) as denied:
            viewer.request("GET", path)
        assert getattr(denied.value, "code", None) == 403, (path, denied.value)
        assert "system:serviceaccount:kof:" in denied.value.message and "forbidden" in denied.value.message
    run = fleet.play("grafana_access.yml", SHARED["inv1"])
    assert run.rc == 0, run
    creds = [p for p in (fleet.work / "access").iterdir() if "grafana" in p.name]
    assert creds and all(oct(p.stat().st_mode & 0o777) == "0o600" for p in creds), creds


def test_06_backup_then_restore_on_the_workload_clusters(fleet):
    """A custom dashboard on the regional cluster's own API server is backed up, lost, and restored; a second
    restore changes nothing."""
    regional = fleet.workload(REGION)
    board = {"apiVersion": "grafana.integreatly.org/v1beta1", "kind": "GrafanaDashboard",
             "metadata": {"name": "e2e-custom", "namespace": "kof"},
             "spec": {"instanceSelector": {"matchLabels": {"dashboards": "grafana"}},
                      "json": json.dumps({"title": "e2e custom", "panels": []})}}
    regional.create(board)
    run = fleet.play("backup.yml", SHARED["inv1"])
    assert run.rc == 0, run
    res = regional.kind("grafana.integreatly.org/v1beta1", "GrafanaDashboard")
    regional.delete(res, "kof", "e2e-custom")
    wait_for(lambda: regional.get(res, "kof", "e2e-custom") is None, "the dashboard to go")
    run = fleet.play("restore.yml", SHARED["inv1"])
    assert run.rc == 0, run
    assert json.loads(regional.get(res, "kof", "e2e-custom")["spec"]["json"])["title"] == "e2e custom"
    again = fleet.play("restore.yml", SHARED["inv1"], label="restore.yml again")
    assert again.rc == 0 and again.changed == 0, again.recap
    assert "0 created, 0 updated" in again.stdout


def _rollout_with_fault(fleet, children, new, fault, label):
    """child.yml rolling out `new` in the background; `fault` strikes once its ClusterDeployment exists."""
    inv = inventory(fleet.work / f"inv-{new}", children, kof_verify_timeout=300)
    box = {}

    def play():
        box["run"] = fleet.play("child.yml", inv, label=label)
    t = threading.Thread(target=play)
    t.start()
    wait_for(lambda: new in cluster_deployments(fleet), f"the ClusterDeployment {new}", timeout=300)
    fault()
    t.join(timeout=900)
    return box["run"], inv


def _no_duplicates(fleet, names):
    """Exactly one workload cluster, one kubeconfig Secret, one deployed revision per helm release and the
    expected ClusterSummaries for each ClusterDeployment; nothing else."""
    cds = cluster_deployments(fleet)
    assert set(cds) == set(names) and all(ready(cd) for cd in cds.values()), cds
    assert sorted(fleet.real.workload_clusters()) == sorted(f"{NS}/{n}" for n in names)
    assert sorted(fleet.kubeconfigs()) == sorted(names)
    mgmt = fleet.mgmt()
    summaries = [s["metadata"]["name"] for s in mgmt.list(mgmt.resource("config.projectsveltos.io",
                                                                        "clustersummaries"), NS)]
    assert len(summaries) == len(set(summaries))
    for n in names:
        assert f"p--{n}-capi-{n}" in summaries
        client = fleet.workload(n)
        releases = client.list(client.resource("", "secrets"), None, {"owner": "helm", "status": "deployed"})
        per = [(s["metadata"]["namespace"], s["metadata"]["labels"]["name"]) for s in releases]
        assert len(per) == len(set(per)) == len(cds[n]["spec"]["serviceSpec"]["services"]), per


def test_07_controllers_restarted_in_the_middle_of_a_rollout(fleet):
    """kcm, Sveltos and the operators (kofsim controllers) restart while a new child is being provisioned: the
    playbook's wait outlives it (kcm's webhook refuses writes meanwhile: kube-apiserver's 500 is retried), the
    restarted controllers find the cluster again, and a re-run changes nothing."""
    old = fleet.real.pids()["kofsim-controllers"]
    run, inv = _rollout_with_fault(fleet, [CHILD1, CHILD2], CHILD2,
                                   lambda: fleet.real.restart("kofsim-controllers"), "child.yml, controllers restarted")
    assert fleet.real.pids()["kofsim-controllers"] != old
    assert run.rc == 0, run
    assert "kofsim controllers: serving" in fleet.real.log()
    again = fleet.play("child.yml", inv, label="child.yml re-run after the controllers' restart")
    assert again.rc == 0 and again.changed == 0, again
    _no_duplicates(fleet, [REGION, CHILD1, CHILD2])
    SHARED["inv3"] = inventory(fleet.work / "inv3", [CHILD1, CHILD2, CHILD3], kof_verify_timeout=300)


def test_08_kube_apiserver_restarted_in_the_middle_of_a_rollout(fleet):
    """kube-apiserver itself restarts (same port, etcd keeps the data) while a new child is being provisioned:
    every client's watch breaks and resumes (the playbook's, the controllers' informers), and the rollout
    completes; a re-run changes nothing and nothing is duplicated or lost."""
    old = fleet.real.pids()["kube-apiserver"]
    run, inv = _rollout_with_fault(fleet, [CHILD1, CHILD2, CHILD3], CHILD3,
                                   lambda: fleet.real.restart("kube-apiserver"), "child.yml, kube-apiserver restarted")
    assert fleet.real.pids()["kube-apiserver"] != old
    assert run.rc == 0, run
    again = fleet.play("child.yml", inv, label="child.yml re-run after kube-apiserver's restart")
    assert again.rc == 0 and again.changed == 0, again
    _no_duplicates(fleet, [REGION, CHILD1, CHILD2, CHILD3])


def test_09_verify_is_green_on_the_whole_fleet(fleet):
    run = fleet.play("verify.yml", SHARED["inv3"])
    assert run.rc == 0, run
    report = json.loads((fleet.out / "fleet-report.json").read_text())
    assert {c["name"]: c["state"] for c in report["clusters"]} == {
        REGION: "healthy", CHILD1: "healthy", CHILD2: "healthy", CHILD3: "healthy"}


def test_10_uninstall_leaves_no_kof_object(fleet):
    """The guide's order (children, regions, the management tier); the real kube-controller-manager finishes the
    namespace and collects what the ClusterDeployments and releases owned; the workload clusters are gone."""
    run = fleet.play("uninstall.yml", SHARED["inv3"], "-e", "kof_uninstall_confirm=true")
    assert run.rc == 0, run
    mgmt = fleet.mgmt()

    def gone():
        left = []
        for group, plural, ns in (("k0rdent.mirantis.com", "clusterdeployments", NS),
                                  ("config.projectsveltos.io", "clustersummaries", NS),
                                  ("config.projectsveltos.io", "profiles", NS),
                                  ("kof.k0rdent.mirantis.com", "promxyservergroups", None),
                                  ("grafana.integreatly.org", "grafanadatasources", None),
                                  ("grafana.integreatly.org", "grafanas", None)):
            res = mgmt.resource(group, plural)
            left += [f"{plural}/{o['metadata']['name']}" for o in (mgmt.list(res, ns) if res else [])]
        left += [f"secret/{s['metadata']['name']}" for s in mgmt.list(mgmt.resource("", "secrets"), NS)
                 if s["metadata"]["name"].endswith("-kubeconfig")]
        left += [f"helm release {s['metadata']['name']}" for s in mgmt.list(mgmt.resource("", "secrets"), None,
                                                                            {"owner": "helm"})]
        if mgmt.get(mgmt.resource("", "namespaces"), "", "kof") is not None:
            left.append("namespace/kof")
        left += [f"workload cluster {c}" for c in fleet.real.workload_clusters()]
        return left
    deadline = time.monotonic() + 120
    while gone() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert gone() == []
    rbac = mgmt.resource("rbac.authorization.k8s.io", "clusterroles")
    assert [r["metadata"]["name"] for r in mgmt.list(rbac) if r["metadata"]["name"].startswith("kof-")] == []
