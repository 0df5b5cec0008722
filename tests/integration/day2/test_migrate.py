"""migrate.yml - the docs' "Data migration to a new regional cluster" - with real VictoriaMetrics and VictoriaLogs
(kofsim/realvm) as the old and the new regional storage, behind basic auth, and kofsim as the management cluster holding the
credentials Secrets and the migration record. The source is a KOF 0.1.1 region (apac-old), the target the
inventory's regional host apac. Checked: refused without the confirmation and with a malformed kof_migrate_from
before any request; --check exports, imports and writes nothing; the run copies every series, sample and log row
(with its fields and stream), keeps the exports (0600) and records them; a re-run changes nothing and imports nothing; no credential in the output at -vvv."""
from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from kofsim.testing import Kofsim
from tests.helpers import ROOT, ansible_playbook, tool_env
from tests.integration.tiers.conftest import write_inventory

sys.path.insert(0, str(ROOT / "kofsim" / "realvm"))
import kofvl  # noqa: E402  pylint: disable=wrong-import-position
import kofvm  # noqa: E402  pylint: disable=wrong-import-position

OLD = ("kof-storage-old", "old-pass-7f3a9c")
NEW = ("kof-admin-new", "new-pass-c0ffee")
SERIES, SAMPLES = 12, 60
ROWS = 40  # log rows: enough for a gzip answer (VictoriaLogs compresses from 1 KiB)
NOW_S = int(time.time()) // 60 * 60
START_MS = (NOW_S - 2 * 86400) * 1000


def vm_lines():
    for i in range(SERIES):
        stamps = [START_MS + k * 60_000 for k in range(SAMPLES)]
        yield (json.dumps({"metric": {"__name__": "node_cpu_seconds_total", "cluster": f"apac-web-{i}",
                                      "job": "node-exporter"},
                           "values": [float(i * 1000 + k) for k in range(SAMPLES)], "timestamps": stamps})
               + "\n").encode()


def log_lines():
    for i in range(ROWS):
        t = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(NOW_S - 3600 + i * 30)) + ".000Z"
        yield json.dumps({"_msg": f"collector batch {i:02d} sent", "_time": t, "k8s.namespace.name": "kof",
                          "cluster": f"apac-web-{i % 3}", "severity": "info" if i % 4 else "warn"}).encode()


def vl_rows(vl):
    rows = kofvl.query(vl.url, "*", vl.auth)
    return sorted((r["_time"], r["_msg"], r["_stream"], r["cluster"], r["severity"]) for r in rows)


def vm_export(vm, creds, match='{__name__!=""}'):
    req = urllib.request.Request(vm.url + "/api/v1/export", data=f"match[]={match}".encode(), headers={
        "Authorization": "Basic " + base64.b64encode(":".join(creds).encode()).decode()})
    with urllib.request.urlopen(req, timeout=60) as r:
        rows = [json.loads(x) for x in r.read().splitlines() if x.strip()]
    return {json.dumps(x["metric"], sort_keys=True): sorted(zip(x["timestamps"], x["values"])) for x in rows}


def vm_imported_rows(vm, creds) -> int:
    req = urllib.request.Request(vm.url + "/metrics", headers={
        "Authorization": "Basic " + base64.b64encode(":".join(creds).encode()).decode()})
    with urllib.request.urlopen(req, timeout=30) as r:
        for line in r.read().decode().splitlines():
            if line.startswith('vm_rows_inserted_total{type="vmimport"}'):
                return int(float(line.split()[-1]))
    return 0


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if not kofvm.binary("victoria-metrics") or not kofvl.binary():
        pytest.skip(f"victoria-metrics / victoria-logs not built in {kofvm.BIN_DIR}: run make setup (needs go)")
    tmp = tmp_path_factory.mktemp("migrate")
    auth = ["-search.disableCache"]
    old = kofvm.VictoriaMetrics(str(tmp / "vm-old"), extra=[f"-httpAuth.username={OLD[0]}",
                                                           f"-httpAuth.password={OLD[1]}"] + auth)
    new = kofvm.VictoriaMetrics(str(tmp / "vm-new"), extra=[f"-httpAuth.username={NEW[0]}",
                                                           f"-httpAuth.password={NEW[1]}"] + auth)
    old_logs = kofvl.VictoriaLogs(str(tmp), username=OLD[0], password=OLD[1])
    new_logs = kofvl.VictoriaLogs(str(tmp), username=NEW[0], password=NEW[1])
    # a storage the imports never reach: a target read back there must fail the migration
    elsewhere = kofvl.VictoriaLogs(str(tmp), username=NEW[0], password=NEW[1])
    k = Kofsim(tmp / "kofsim")
    k.start()
    try:
        old.start()
        new.start()
        old_logs.start()
        new_logs.start()
        elsewhere.start()
        # the old region's logs, filed under the streams its collectors used
        assert kofvl.ingest_jsonline(old_logs.url, log_lines(), old_logs.auth, stream_fields="cluster") == ROWS
        # the source's data, loaded without auth headers would be refused: load through the authenticated API
        body = gzip.compress(b"".join(vm_lines()))
        req = urllib.request.Request(old.url + "/api/v1/import", data=body, headers={
            "Content-Encoding": "gzip", "Authorization": "Basic " + base64.b64encode(":".join(OLD).encode()).decode()})
        urllib.request.urlopen(req, timeout=60).read()
        urllib.request.urlopen(urllib.request.Request(old.url + "/internal/force_flush", headers={
            "Authorization": "Basic " + base64.b64encode(":".join(OLD).encode()).decode()}), timeout=30).read()
        env = tool_env(home=tmp / "home", extra={"K8S_AUTH_KUBECONFIG": k.kubeconfig})
        kubectl = [str(ROOT / ".tools" / "bin" / "kubectl")]
        kenv = dict(env, KUBECONFIG=k.kubeconfig)
        subprocess.run(kubectl + ["create", "namespace", "kof"], env=kenv, capture_output=True, check=False)
        for name, (user, password) in (("old-storage", OLD), ("new-storage", NEW)):
            subprocess.run(kubectl + ["-n", "kof", "create", "secret", "generic", name, f"--from-literal=username={user}",
                                      f"--from-literal=password={password}"], env=kenv, capture_output=True,
                           check=True)
        hosts = {"all": {"children": {
            "kof_management": {"hosts": {"mgmt": None}},
            "kof_regional": {"hosts": {
                "apac": {"kof_migrate_from": {"name": "apac-old", "generation": "0.1",
                                              "credentials_secret": "kof/old-storage",
                                              "endpoints": {"metrics_read": old.url, "logs_read": old_logs.url}},
                         "kof_migrate_to": {"credentials_secret": "kof/new-storage",
                                            "endpoints": {"metrics_read": new.url, "metrics_write": new.url,
                                                          "logs_read": new_logs.url, "logs_write": new_logs.url}}},
                "emea": None}},
            "kof_child": {"hosts": {}}}}}
        gv = {"kof_version": "0.1.1", "kof_base_domain": "obs.example.net", "kof_admin_email": "noc@example.net",
              "kof_backup_dir": str(tmp / "backups"), "kof_migrate_verify_timeout": 60}
        yield {"k": k, "old": old, "new": new, "old_logs": old_logs, "new_logs": new_logs, "elsewhere": elsewhere, "env": env, "tmp": tmp, "hosts": hosts, "gv": gv, "kenv": kenv,
               "kubectl": kubectl}
    finally:
        for x in (old, new, old_logs, new_logs, elsewhere):
            x.stop()
        k.stop()


def play(site, *args, hosts=None, **gv):
    inv = write_inventory(site["tmp"] / "inventory", json.loads(json.dumps(hosts or site["hosts"])),
                          dict(site["gv"], **gv))
    return ansible_playbook("-i", inv, "playbooks/migrate.yml", *args, env=site["env"])


def data_files(site):
    return sorted(Path(site["gv"]["kof_backup_dir"]).glob("kof-data-*/*.jsonl.gz"))


def test_1_refused_without_the_confirmation_before_any_request(site):
    seq = site["k"].last_seq()
    run = play(site)
    assert run.rc != 0
    assert "Set kof_migrate_confirm=true to confirm; nothing was done" in " ".join(run.stdout.split()), run
    assert site["k"].requests(since=seq) == []


def test_2_a_malformed_source_is_refused_before_any_request(site):
    hosts = json.loads(json.dumps(site["hosts"]))
    apac = hosts["all"]["children"]["kof_regional"]["hosts"]["apac"]
    apac["kof_migrate_from"] = {"domain": "old.example.net", "credential": "kof/x"}
    seq = site["k"].last_seq()
    run = play(site, hosts=hosts, kof_migrate_confirm=True)
    assert run.rc != 0
    out = " ".join(run.stdout.split())
    assert "kof_migrate_from of apac" in out and "name" in out and "credential" in out, run
    assert site["k"].requests(since=seq) == []


def test_3_check_mode_moves_no_data(site):
    seq = site["k"].last_seq()
    run = play(site, "--check", "--diff", kof_migrate_confirm=True, kof_backup_before_migrate=False)
    assert run.rc == 0, run.stdout
    assert site["k"].writes(since=seq) == []
    assert vm_export(site["new"], NEW) == {} and vl_rows(site["new_logs"]) == []
    assert data_files(site) == []
    assert run.recap["apac"]["changed"] == 1 and run.recap["emea"]["changed"] == 0, run.recap
    assert "would migrate metrics, logs from apac-old to apac" in run.stdout, run


def test_4_migrates_every_series_and_sample(site):
    run = play(site, "-vvv", kof_migrate_confirm=True)
    assert run.rc == 0 and not run.failed_hosts, run.stdout[-4000:]
    for secret in (OLD[1], NEW[1], base64.b64encode(":".join(OLD).encode()).decode(),
                   base64.b64encode(":".join(NEW).encode()).decode()):
        assert secret not in run.stdout and secret not in run.stderr, "a credential in the output"
    src, dst = vm_export(site["old"], OLD), vm_export(site["new"], NEW)
    assert len(src) == SERIES and sum(map(len, src.values())) == SERIES * SAMPLES
    assert dst == src
    # every log row, with its fields and its stream (re-built from the exported _stream)
    src_rows = vl_rows(site["old_logs"])
    assert len(src_rows) == ROWS and vl_rows(site["new_logs"]) == src_rows
    exports = {p.name: p for p in data_files(site)}
    assert set(exports) == {"metrics.jsonl.gz", "logs.jsonl.gz"}
    for path in exports.values():
        assert os.stat(path).st_mode & 0o777 == 0o600
    with gzip.open(exports["metrics.jsonl.gz"]) as fh:
        assert sum(1 for line in fh if line.strip()) == SERIES
    with gzip.open(exports["logs.jsonl.gz"]) as fh:
        assert sum(1 for line in fh if line.strip()) == ROWS
    cm = json.loads(subprocess.run(site["kubectl"] + ["-n", "kof", "get", "configmap", "kof-migration-apac", "-o",
                                                      "json"], env=site["kenv"], capture_output=True, text=True,
                                   check=True).stdout)
    record = json.loads(cm["data"]["migration"])
    assert record["source"] == "apac-old" and record["target"] == "apac"
    assert record["parts"]["metrics"]["exported"]["samples"] == SERIES * SAMPLES
    assert record["parts"]["metrics"]["imported"]["samples"] >= SERIES * SAMPLES
    assert record["parts"]["logs"]["exported"]["rows"] == ROWS == record["parts"]["logs"]["imported"]["rows"]
    # the configuration backup ran first (kof_backup_before_migrate; this management cluster has no KOF to archive)
    out = " ".join(run.stdout.split())
    assert out.index("TASK [k0rdent.kof.backup : Back up the management cluster and the regional clusters]") < \
        out.index("TASK [k0rdent.kof.backup : Copy the stored data of the regional cluster named in kof_migrate_from into apac]")
    assert "nothing to back up: no KOF configuration found" in out


def test_5_rerun_changes_nothing(site):
    rows = vm_imported_rows(site["new"], NEW)
    assert rows >= SERIES * SAMPLES
    seq = site["k"].last_seq()
    run = play(site, kof_migrate_confirm=True, kof_backup_before_migrate=False)
    assert run.rc == 0 and run.changed == 0, run.recap
    assert site["k"].writes(since=seq) == []
    assert vm_imported_rows(site["new"], NEW) == rows, "metrics imported again"
    kofvl.force_flush(site["new_logs"].url, site["new_logs"].auth)
    assert len(vl_rows(site["new_logs"])) == ROWS, "logs imported again"
    assert len(data_files(site)) == 2


def test_6_a_target_migrated_from_another_source_is_refused(site):
    hosts = json.loads(json.dumps(site["hosts"]))
    hosts["all"]["children"]["kof_regional"]["hosts"]["apac"]["kof_migrate_from"]["name"] = "apac-older"
    run = play(site, hosts=hosts, kof_migrate_confirm=True, kof_backup_before_migrate=False)
    assert run.rc != 0
    assert "apac already holds data migrated from 'apac-old'" in " ".join(run.stdout.split()), run


def test_7_a_target_that_does_not_hold_the_import_fails_and_keeps_the_export(site):
    """The read-back is what judges a migration: emea imports into one VictoriaLogs but is read back from another,
    so its logs part fails after kof_migrate_verify_timeout, is not recorded, and the export stays on disk."""
    hosts = json.loads(json.dumps(site["hosts"]))
    regional = hosts["all"]["children"]["kof_regional"]["hosts"]
    regional["emea"] = {"kof_migrate_from": regional["apac"]["kof_migrate_from"],
                        "kof_migrate_to": {"credentials_secret": "kof/new-storage",
                                           "endpoints": {"logs_write": site["new_logs"].url,
                                                         "logs_read": site["elsewhere"].url}}}
    del regional["apac"]
    run = play(site, hosts=hosts, kof_migrate_confirm=True, kof_backup_before_migrate=False,
               kof_migrate_parts=["logs"], kof_migrate_verify_timeout=3)
    assert run.rc != 0 and run.failed_hosts == ["emea"], run
    out = " ".join(run.stdout.split())
    assert "migrating logs from apac-old to emea: the target does not hold everything exported after 3 s " \
           f"(rows 0 < {ROWS}); the export is kept in" in out, run.stdout[-2000:]
    kept = [p for p in data_files(site) if p.name == "logs.jsonl.gz" and p.stat().st_mtime > time.time() - 300]
    assert kept, "the export was not kept"
    out = subprocess.run(site["kubectl"] + ["-n", "kof", "get", "configmap", "kof-migration-emea"], env=site["kenv"],
                         capture_output=True, text=True, check=False)
    assert out.returncode != 0, "a failed part was recorded"
