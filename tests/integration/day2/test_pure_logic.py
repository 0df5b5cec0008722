"""The day-2 plugins' pure logic, without a cluster: backup archive contents, secret handling, the inventory
plugin's mapping of ClusterDeployments to variables, token renewal. Milliseconds; the behaviour against a real
API is in test_day2.py."""
from __future__ import annotations

import base64
import datetime
import gzip
import json
import os
import stat

import pytest

from ansible_collections.k0rdent.kof.plugins.action.credentials_file import render
from ansible_collections.k0rdent.kof.plugins.action.service_account_token import ActionModule as TokenAction
from ansible_collections.k0rdent.kof.plugins.inventory.management_cluster import describe
from ansible_collections.k0rdent.kof.plugins.plugin_utils import backup, day2


def helm_secret(name, values, version="0.1.1", gz=True):
    rel = {"name": name, "namespace": "kof", "version": 3, "config": values,
           "chart": {"metadata": {"name": name, "version": version}}}
    blob = json.dumps(rel).encode()
    payload = base64.b64encode(gzip.compress(blob) if gz else blob)
    return {"data": {"release": base64.b64encode(payload).decode()}}


@pytest.mark.parametrize("gz", [True, False])
def test_helm_release_values_are_read_and_credentials_redacted(gz):
    values = {"grafana": {"security": {"credentials_secret_name": "grafana-admin-credentials"},
                          "adminPassword": "s3cr3t"},
              "victoriametrics": {"vmcluster": {"retentionPeriod": "30d"}}, "token": "", "replicas": 2}
    rel = backup.decode_release(helm_secret("kof-mothership", values, gz=gz))
    assert (rel["chart"], rel["version"], rel["revision"]) == ("kof-mothership", "0.1.1", 3)
    red = backup.redact(rel["values"])
    assert red["grafana"]["adminPassword"] == backup.REDACTED
    assert red["grafana"]["security"]["credentials_secret_name"] == "grafana-admin-credentials"
    assert red["token"] == "" and red["replicas"] == 2
    assert backup.find_key(red, "retentionPeriod") == [("victoriametrics.vmcluster.retentionPeriod", "30d")]
    assert backup.decode_release({"data": {"release": "not base64!"}}) is None


def test_secret_references_are_found_in_objects_and_values():
    ds = {"kind": "GrafanaDatasource", "metadata": {"namespace": "kof", "name": "r1-logs"},
          "spec": {"valuesFrom": [{"valueFrom": {"secretKeyRef": {"name": "storage-vmuser-credentials",
                                                                   "key": "password"}}}]},
          "status": {"secretRef": {"name": "from-status-is-ignored"}}}
    grafana = {"metadata": {"namespace": "kof"}, "spec": {"deployment": {"spec": {"template": {"spec": {
        "containers": [{"envFrom": [{"secretRef": {"name": "grafana-admin-credentials"}}]}],
        "volumes": [{"secret": {"secretName": "tls"}}]}}}}}}
    values = {"metadata": {"namespace": "kof"}, "values": {"opencost": {"existingSecretName": "storage-vmuser-credentials"}}}
    assert backup.secret_refs(ds) == {("kof", "storage-vmuser-credentials")}
    assert backup.secret_refs(grafana) == {("kof", "grafana-admin-credentials"), ("kof", "tls")}
    assert backup.secret_refs(values) == {("kof", "storage-vmuser-credentials")}


def test_objects_are_cleaned_and_secrets_masked():
    live = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "status": {"x": 1},
            "metadata": {"name": "s", "namespace": "kof", "uid": "u", "resourceVersion": "7", "managedFields": [],
                         "ownerReferences": [{"uid": "o"}], "finalizers": ["f"], "labels": {},
                         "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}",
                                         "meta.helm.sh/release-name": "kof-mothership"}},
            "data": {"user": "dXNlcg==", "password": "cGFzcw=="}}
    cleaned = day2.clean(live)
    assert cleaned["metadata"] == {"name": "s", "namespace": "kof",
                                   "annotations": {"meta.helm.sh/release-name": "kof-mothership"}}
    assert "status" not in cleaned and day2.helm_owned(cleaned)
    changed = dict(live, data={"user": "dXNlcg==", "password": "bmV3"})
    shown = day2.masked(changed, live)
    assert shown["data"] == {"user": day2.MASK, "password": day2.MASK + " (changed)"}
    assert "cGFzcw==" not in json.dumps(day2.masked(live)) and "bmV3" not in json.dumps(shown)


def collected(objects, releases=(), refs=()):
    return {"objects": objects, "releases": list(releases), "retention": [], "not_served": [],
            "secret_refs": list(refs), "refs": {}}


def test_backup_digest_ignores_the_time_and_follows_the_content():
    dash = {"apiVersion": "grafana.integreatly.org/v1beta1", "kind": "GrafanaDashboard",
            "metadata": {"name": "d", "namespace": "kof"}, "spec": {"json": "{}"}}
    m1, files = backup.build({"management": collected([dash])}, None, {"created": "2026-01-01T00:00:00Z"})
    m2, _ = backup.build({"management": collected([dash])}, None, {"created": "2026-06-01T00:00:00Z"})
    m3, _ = backup.build({"management": collected([dict(dash, spec={"json": "{\"x\": 1}"})])}, None, {})
    m4, _ = backup.build({"management": collected([dash])}, {"management": [{"data": {"k": "djE="}}]}, {})
    m5, _ = backup.build({"management": collected([dash])}, {"management": [{"data": {"k": "djI="}}]}, {})
    assert m1["digest"] == m2["digest"] != m3["digest"]
    assert len({m1["digest"], m4["digest"], m5["digest"]}) == 3, "changed credentials must make a new backup"
    assert "djE=" not in json.dumps(m4) and m4["secrets"]["included"] and not m1["secrets"]["included"]
    path = "management/objects/GrafanaDashboard/kof/d.yaml"
    assert list(files) == [path] and m1["clusters"]["management"]["objects"][0]["file"] == path


def test_archive_round_trip_and_restore_plan(tmp_path):
    owned = {"apiVersion": "grafana.integreatly.org/v1beta1", "kind": "Grafana",
             "metadata": {"name": "grafana-vm", "namespace": "kof",
                          "annotations": {"meta.helm.sh/release-name": "kof-mothership"}}, "spec": {}}
    mine = {"apiVersion": "grafana.integreatly.org/v1beta1", "kind": "GrafanaFolder",
            "metadata": {"name": "team", "namespace": "kof"}, "spec": {"title": "Team"}}
    manifest, files = backup.build({"management": collected([owned, mine]), "r1": collected([mine])}, None,
                                   {"created": "x"})
    path = str(tmp_path / "kof-backup-20260101T000000Z.tar.gz")
    backup.write_archive(path, manifest, files, None)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert backup.newest_archive(str(tmp_path)) == path
    read_manifest, read_files = backup.read_archive(path)
    assert read_manifest["digest"] == manifest["digest"]
    plan = backup.restore_plan(read_manifest, read_files, [], include_helm_owned=False)
    assert [(o["kind"], bool(skip)) for o, skip in plan["management"]] == [("Grafana", True), ("GrafanaFolder", False)]
    assert list(backup.restore_plan(read_manifest, read_files, ["r1"], False)) == ["r1"]
    assert all(not skip for _, skip in backup.restore_plan(read_manifest, read_files, [], True)["management"])
    (tmp_path / "kof-backup-bad.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(backup.BackupError):
        backup.read_manifest(str(tmp_path / "kof-backup-bad.tar.gz"))


def test_values_drift_names_top_level_keys():
    saved = backup.redact({"grafana": {"password": "a"}, "kcm": {"installTemplates": True}})
    assert backup.values_drift(saved, {"grafana": {"password": "b"}, "kcm": {"installTemplates": True}}) == []
    assert backup.values_drift(saved, {"grafana": {"password": "b"}, "kcm": {"installTemplates": False},
                                       "extra": 1}) == ["extra", "kcm"]


@pytest.mark.parametrize("kind", ["grafana.integreatly.org/v1beta1", "GrafanaDashboard", "v1/secret"])
def test_kinds_must_be_group_version_kind(kind):
    with pytest.raises(backup.BackupError):
        backup.split_kind(kind)


def test_private_files(tmp_path):
    path = str(tmp_path / "sub" / "f")
    day2.write_private(path, b"x")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "sub").st_mode) == 0o700
    assert day2.private_file_current(path, b"x") and not day2.private_file_current(path, b"y")
    os.chmod(path, 0o644)
    assert not day2.private_file_current(path, b"x"), "a readable file must be rewritten 0600"
    assert render({"user": "u", "password": 'p"w'}, "env") == b'password="p\\"w"\nuser="u"\n'
    assert json.loads(render({"a": "b"}, "json")) == {"a": "b"}


def cd(name, kof, region=None, labels=None, services=None, **cfg):
    meta = {"name": name, "namespace": "kcm-system", "generation": 2,
            "labels": dict({"kof": kof} if kof else {}, **(labels or {}))}
    return {"metadata": meta, "spec": {"template": "aws-standalone-cp-0-1-0", "credential": "cred",
                                       "config": dict({"region": region} if region else {}, **cfg),
                                       "serviceSpec": {"services": services or []}},
            "status": {"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True"}]}}


def storage(domain):
    return [{"name": "kof-storage", "values": f"victoriametrics:\n  vmauth:\n    ingress:\n      host: vmauth.{domain}\n"
                                              "external-dns:\n  enabled: true\ncert-manager:\n  email: a@b.c\n"}]


def collectors(domain):
    return [{"name": "kof-collectors",
             "values": f"kof:\n  metrics:\n    endpoint: https://vmauth.{domain}/vm/insert/0/prometheus/api/v1/write\n"}]


def test_inventory_mapping_of_clusterdeployments():
    fleet = describe([
        cd("r1", "storage", "us-east-2", services=storage("r1.example.com"), controlPlaneNumber=3,
           worker={"instanceType": "m5.large"}),
        cd("r2", "storage", "us-west-2", services=storage("r2.example.com")),
        cd("c-label", "collector", "eu-west-1", labels={"k0rdent.mirantis.com/kof-regional-cluster-name": "r2"}),
        cd("c-endpoint", "collector", "us-east-2", services=collectors("r2.example.com")),
        cd("c-region", "collector", "us-west-2"),
        cd("c-orphan", "collector", "ap-south-1"),
        cd("not-kof", None, "us-east-2"),
    ])
    r1 = fleet["regional"]["r1"]
    assert r1["kof_regional_domain"] == "r1.example.com" and r1["kof_regional_region"] == "us-east-2"
    assert r1["kof_regional_control_plane_number"] == 3 and r1["kof_regional_worker_instance_type"] == "m5.large"
    assert r1["kof_regional_external_dns"] is True and r1["kof_admin_email"] == "a@b.c"
    assert r1["kof_clusterdeployment"]["ready"] is True
    assert "kof_regional_workers_number" not in r1, "unset settings keep the inventory's defaults"
    children = fleet["child"]
    assert children["c-label"]["kof_regional"] == "r2"
    assert children["c-endpoint"]["kof_regional"] == "r2", "the regional cluster its collectors write to"
    assert children["c-region"]["kof_regional"] == "r2", "the only regional cluster in the same cloud region"
    assert "kof_regional" not in children["c-orphan"]
    assert set(fleet["regional"]) | set(children) == {"r1", "r2", "c-label", "c-endpoint", "c-region", "c-orphan"}
    stale = cd("stale", "storage")
    stale["status"]["observedGeneration"] = 1
    assert describe([stale])["regional"]["stale"]["kof_clusterdeployment"]["ready"] is False


def test_token_renewal_reasons(tmp_path):
    dest = tmp_path / "t"
    args = {"force": False, "duration": 3600, "audiences": [], "renew_before": 600}
    sa = {"metadata": {"uid": "u1"}}
    reason = TokenAction._renewal_reason
    assert reason(args, str(dest), str(dest) + ".json", sa) == "no token file yet"
    day2.write_private(str(dest), b"tok\n")
    exp = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    meta = {"uid": "u1", "duration": 3600, "audiences": [], "expirationTimestamp": exp}
    day2.write_private(str(dest) + ".json", json.dumps(meta).encode())
    assert reason(args, str(dest), str(dest) + ".json", sa) is None
    assert reason(dict(args, force=True), str(dest), str(dest) + ".json", sa) == "renewal forced"
    assert reason(dict(args, duration=7200), str(dest), str(dest) + ".json", sa) == "duration or audiences changed"
    assert reason(args, str(dest), str(dest) + ".json", {"metadata": {"uid": "u2"}}) == \
        "the ServiceAccount was re-created"
    assert reason(dict(args, renew_before=7200), str(dest), str(dest) + ".json", sa) == \
        "the current token expires soon"
    os.chmod(dest, 0o644)
    assert "not private" in reason(args, str(dest), str(dest) + ".json", sa)
