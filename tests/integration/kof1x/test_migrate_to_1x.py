"""A KOF 0.1.1 region's data moved into its KOF 1.10 successor, the docs' way (a new regional cluster, then the
data), on both management-cluster backends: kofsim serving kcm 1.x, and a real kube-apiserver with kcm v1.10.0's
upstream CRDs and webhooks (`kofsim up --api real`, slow) - the real server is then the oracle for every object
migrate.yml reads and writes (the record ConfigMap, the Secrets). The flow: site.yml installs KOF 1.10 with the new regional cluster apac, whose storage
endpoints are custom (kof-read/write-*-endpoint annotations, kof_regional_config) so that kof-operator's regional
ConfigMap kof-apac points at a real VictoriaMetrics and VictoriaLogs; those run behind basic auth with the admin
VMUser credentials kof-operator generated (kof-vmuser-creds-admin-<adler32>). The old region (apac-old) is a real
VictoriaMetrics and VictoriaLogs with KOF 0.1.1's vmauth credentials. migrate.yml, given only kof_migrate_from,
finds the target from the ConfigMap and the admin Secret, copies every series, sample and log row, and a re-run
changes nothing. Variant `configmap` (kofsim): the new region is only a ConfigMap (kof_regional_configmap_only, its
storage run elsewhere), whose endpoints are the collection's own kof-apac ConfigMap and whose admin Secret
kof-operator makes from it - migrate.yml finds the target the same way."""
from __future__ import annotations

import base64
import json
import sys
import time
import urllib.request

import pytest

from kofsim.testing import Kofsim, RealKube
from tests.helpers import ROOT, ansible_playbook, tool_env
from tests.integration.e2e_real.conftest import Fleet as RealFleet
from tests.integration.e2e_real.conftest import diff, require_real
from tests.integration.kof1x import kubectl, kubectl_json
from tests.integration.tiers.conftest import write_inventory

sys.path.insert(0, str(ROOT / "kofsim" / "realvm"))
import kofvl  # noqa: E402  pylint: disable=wrong-import-position
import kofvm  # noqa: E402  pylint: disable=wrong-import-position

OLD = ("storage-old", "0.1.1-vmuser-pass")
SERIES, SAMPLES, ROWS = 8, 30, 30
NOW_S = int(time.time()) // 60 * 60
P = "k0rdent.mirantis.com/"


def auth_header(creds):
    return {"Authorization": "Basic " + base64.b64encode(":".join(creds).encode()).decode()}


def vm_series(vm, creds):
    req = urllib.request.Request(vm.url + "/api/v1/export", data=b'match[]={__name__!=""}', headers=auth_header(creds))
    with urllib.request.urlopen(req, timeout=60) as r:
        rows = [json.loads(x) for x in r.read().splitlines() if x.strip()]
    return {json.dumps(x["metric"], sort_keys=True): sorted(zip(x["timestamps"], x["values"])) for x in rows}


def vl_rows(url, creds):
    return sorted((r["_time"], r["_msg"], r["_stream"]) for r in kofvl.query(url, "*", creds))


@pytest.fixture(scope="module", params=["emulator", "configmap", pytest.param("real", marks=pytest.mark.slow)])
def fleet(request, tmp_path_factory):
    if not kofvm.binary("victoria-metrics") or not kofvl.binary():
        pytest.skip(f"victoria-metrics / victoria-logs not built in {kofvm.BIN_DIR}: run make setup (needs go)")
    tmp = tmp_path_factory.mktemp(f"migrate-1x-{request.param}")
    if request.param == "real":
        require_real()
        k = RealKube(tmp / "kofsim", k0rdent=True, ready_after=0.3, kcm_api_version="v1beta1")
    else:
        k = Kofsim(tmp / "kofsim", ready_after=0.3, kcm_api_version="v1beta1")
    old_vm = kofvm.VictoriaMetrics(str(tmp / "old-vm"), extra=[f"-httpAuth.username={OLD[0]}",
                                                               f"-httpAuth.password={OLD[1]}"])
    old_vl = kofvl.VictoriaLogs(str(tmp), username=OLD[0], password=OLD[1])
    new = {"vm_port": kofvm.free_port(), "vl_port": kofvm.free_port()}
    started = []
    k.start()
    try:
        for x in (old_vm, old_vl):
            x.start()
            started.append(x)
        lines = (json.dumps({"metric": {"__name__": "container_cpu_usage_seconds_total", "cluster": f"apac-web-{i}"},
                             "values": [float(i + s) for s in range(SAMPLES)],
                             "timestamps": [(NOW_S - 86400 + s * 60) * 1000 for s in range(SAMPLES)]}).encode()
                 for i in range(SERIES))
        req = urllib.request.Request(old_vm.url + "/api/v1/import", data=b"\n".join(lines), headers=auth_header(OLD))
        urllib.request.urlopen(req, timeout=60).read()
        urllib.request.urlopen(urllib.request.Request(old_vm.url + "/internal/force_flush",
                                                      headers=auth_header(OLD)), timeout=30).read()
        logs = (json.dumps({"_msg": f"kof-collectors restarted {i}", "cluster": f"apac-web-{i % 2}",
                            "_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW_S - 1800 + i))}).encode()
                for i in range(ROWS))
        assert kofvl.ingest_jsonline(old_vl.url, logs, old_vl.auth, stream_fields="cluster") == ROWS
        env = tool_env(home=tmp / "home", extra={"K8S_AUTH_KUBECONFIG": k.kubeconfig})
        vm_url, vl_url = f"http://127.0.0.1:{new['vm_port']}", f"http://127.0.0.1:{new['vl_port']}"
        endpoints = {"metrics_read": vm_url, "metrics_write": vm_url + "/api/v1/write", "logs_read": vl_url,
                     "logs_write": vl_url + "/insert/opentelemetry/v1/logs"}
        apac = {"kof_regional_region": "ap-southeast-1",
                "kof_regional_config": {"clusterAnnotations": {
                    P + "kof-read-metrics-endpoint": endpoints["metrics_read"],
                    P + "kof-write-metrics-endpoint": endpoints["metrics_write"],
                    P + "kof-read-logs-endpoint": endpoints["logs_read"],
                    P + "kof-write-logs-endpoint": endpoints["logs_write"]}},
                "kof_migrate_from": {"name": "apac-old", "generation": "0.1", "credentials_secret": "kof/apac-old-vmuser",
                                     "endpoints": {"metrics_read": old_vm.url, "logs_read": old_vl.url}}}
        if request.param == "configmap":  # no ClusterDeployment: the collection's ConfigMap names the storage
            del apac["kof_regional_config"]
            apac.update(kof_regional_configmap_only=True, kof_regional_endpoints=endpoints)
        hosts = {"all": {"children": {"kof_management": {"hosts": {"mgmt": None}},
                                      "kof_regional": {"hosts": {"apac": apac}},
                                      "kof_child": {"hosts": {"apac-web": {"kof_regional": "apac"}}}}}}
        gv = {"kof_version": "1.10.0", "kof_chart_repository": str(ROOT / "kofsim" / "kofsim" / "charts-1.10"),
              "kof_base_domain": "obs.example.net", "kof_admin_email": "noc@example.net", "kof_dns_mode": "none",
              "kof_verify_timeout": 60, "kof_wait_timeout": 300, "kof_migrate_verify_timeout": 60,
              "kof_report_dir": str(tmp / "report"), "kof_backup_dir": str(tmp / "backups")}
        inv = write_inventory(tmp / "inventory", hosts, gv)
        yield {"k": k, "kofsim": k, "real": RealFleet(k, tmp) if request.param == "real" else None, "env": env, "inv": inv, "old_vm": old_vm, "old_vl": old_vl, "new": new, "started": started,
               "tmp": tmp, "variant": request.param}
    finally:
        for x in started:
            x.stop()
        k.stop()


def test_1_install_kof_1_10_with_the_new_region(fleet):
    run = ansible_playbook("-i", fleet["inv"], "playbooks/site.yml", env=fleet["env"])
    assert run.rc == 0 and not run.failed_hosts, run
    cm = kubectl_json(fleet, "get", "configmap", "kof-apac", "-n", "kcm-system", "--show-managed-fields")
    assert cm["data"]["read_metrics_endpoint"] == f"http://127.0.0.1:{fleet['new']['vm_port']}"
    cds = {c["metadata"]["name"] for c in kubectl_json(fleet, "get", "clusterdeployments", "-A")["items"]}
    managers = {f["manager"] for f in cm["metadata"]["managedFields"]}
    if fleet["variant"] == "configmap":  # the collection's ConfigMap, no regional cluster behind it
        assert "apac" not in cds and "k0rdent.kof" in managers, (cds, managers)
    else:  # kof-operator's, made from the regional ClusterDeployment
        assert "apac" in cds and "k0rdent.kof" not in managers, (cds, managers)
    # the new region's storage, behind the admin credentials kof-operator generated
    [secret] = [s for s in kubectl_json(fleet, "get", "secrets", "-n", "kof")["items"]
                if s["metadata"]["name"].startswith("kof-vmuser-creds-admin-")]
    creds = tuple(base64.b64decode(secret["data"][key]).decode() for key in ("username", "password"))
    new_vm = kofvm.VictoriaMetrics(str(fleet["tmp"] / "new-vm"), extra=[f"-httpAuth.username={creds[0]}",
                                                                        f"-httpAuth.password={creds[1]}"])
    new_vm.start(port=fleet["new"]["vm_port"])
    fleet["started"].append(new_vm)
    new_vl = kofvl.VictoriaLogs(str(fleet["tmp"]), port=fleet["new"]["vl_port"], username=creds[0], password=creds[1])
    new_vl.start()
    fleet["started"].append(new_vl)
    fleet.update(new_vm=new_vm, new_vl=new_vl, creds=creds)
    # the old region's credentials, copied from the KOF 0.1.1 management cluster
    kubectl(fleet, "-n", "kof", "create", "secret", "generic", "apac-old-vmuser", f"--from-literal=username={OLD[0]}",
            f"--from-literal=password={OLD[1]}")


def test_2_migrate_keeps_the_old_regions_data(fleet):
    run = ansible_playbook("-i", fleet["inv"], "playbooks/migrate.yml", "-e", "kof_migrate_confirm=true",
                           env=fleet["env"])
    assert run.rc == 0 and not run.failed_hosts, run.stdout[-3000:]
    assert run.recap["apac"]["changed"] == 1, run.recap
    src = vm_series(fleet["old_vm"], OLD)
    assert len(src) == SERIES and vm_series(fleet["new_vm"], fleet["creds"]) == src
    kofvl.force_flush(fleet["new_vl"].url, fleet["new_vl"].auth)
    rows = vl_rows(fleet["old_vl"].url, OLD)
    assert len(rows) == ROWS and vl_rows(fleet["new_vl"].url, fleet["creds"]) == rows


def test_3_rerun_changes_nothing(fleet):
    k, real = fleet["k"], fleet["real"]
    before = real.snapshot() if real else k.last_seq()
    run = ansible_playbook("-i", fleet["inv"], "playbooks/migrate.yml", "-e", "kof_migrate_confirm=true",
                           "-e", "kof_backup_before_migrate=false", env=fleet["env"])
    assert run.rc == 0 and run.changed == 0, run.recap
    if real:
        assert diff(before, real.snapshot()) == [], "the re-run wrote to the real API server"
    else:
        assert k.writes(since=before) == []
