"""`kofsim up --api real`: a real etcd + kube-apiserver + kube-controller-manager built from Go modules, with the
upstream CRDs, driven by kubectl. Skipped only when the binaries are not built and KOFSIM_REQUIRE_REAL is unset
(scripts/setup.sh builds them, so `make test` runs these)."""
from __future__ import annotations

import base64
import json
import os
import re
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from kofsim import realapi
from kofsim.testing import Kofsim, KofsimError, RealKube, backend
from kofsim_clients import kubectl

MISSING = RealKube.missing()
pytestmark = pytest.mark.skipif(bool(MISSING) and not os.environ.get("KOFSIM_REQUIRE_REAL"),
                                reason=f"real control plane not built: {MISSING}")

GO_MOD = Path(__file__).resolve().parents[1] / "realkube" / "go.mod"


def pinned_version() -> str:
    return re.search(r"^\s*k8s\.io/kubernetes (v\S+)", GO_MOD.read_text(), re.M).group(1)


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    k = backend("real", tmp_path_factory.mktemp("real"))
    t0 = time.monotonic()
    k.start()
    k.startup_seconds = time.monotonic() - t0
    k.home = tmp_path_factory.mktemp("home")
    yield k
    k.stop()


def processes_of(directory: Path) -> list[int]:
    """Every process whose command line mentions the directory."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if str(directory) in (proc / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(proc.name))
            except OSError:
                pass
    return found


def test_version_is_the_pinned_release(real):
    server = json.loads(kubectl(real, "version", "-o", "json").stdout)["serverVersion"]
    want = pinned_version()
    assert server["gitVersion"] == want
    assert (server["major"], server["minor"]) == ("1", want.split(".")[1])
    print(f"kofsim up --api real took {real.startup_seconds:.1f} s")


def test_every_upstream_crd_is_established_and_served(real):
    upstream = realapi.crd_index()
    assert len(upstream) >= 29, upstream
    # and kofsim's transcriptions of the CRDs whose modules the proxy does not serve (kcm v0.1.0, kof 0.1.1's
    # PromxyServerGroup), with Flux's HelmRepository and cert-manager (kofsim/CRDS.md)
    ours = [entry for entry, _crd in realapi.kofsim_crds()]
    assert {"clusterdeployments.k0rdent.mirantis.com", "promxyservergroups.kof.k0rdent.mirantis.com",
            "helmrepositories.source.toolkit.fluxcd.io"} <= {e["name"] for e in ours}
    index = upstream + ours
    crds = {c["metadata"]["name"]: c for c in json.loads(kubectl(real, "get", "crd", "-o", "json").stdout)["items"]}
    assert set(crds) == {e["name"] for e in index}
    for name, crd in crds.items():
        assert {"type": "Established", "status": "True"}.items() <= next(
            c for c in crd["status"]["conditions"] if c["type"] == "Established").items(), name
    resources = kubectl(real, "api-resources", "-o", "name").stdout.split()
    for e in index:
        assert f"{e['plural']}.{e['group']}" in resources


CLUSTER_PROFILE = """apiVersion: config.projectsveltos.io/v1beta1
kind: ClusterProfile
metadata: {name: %s}
spec:
  clusterSelector: {matchLabels: {env: test}}
  %s
"""

DASHBOARD = """apiVersion: grafana.integreatly.org/v1beta1
kind: GrafanaDashboard
metadata: {name: %s, namespace: default}
spec:
  %s
"""


@pytest.mark.parametrize("doc,message", [
    (CLUSTER_PROFILE % ("bad-mode", "syncMode: Sometimes"), 'spec.syncMode: Unsupported value: "Sometimes"'),
    (CLUSTER_PROFILE % ("bad-tier", "tier: high"), "spec.tier: Invalid value"),
    (DASHBOARD % ("no-selector", "json: '{}'"), "spec.instanceSelector: Required value"),
    (DASHBOARD % ("bad-period", "{instanceSelector: {}, resyncPeriod: soon}"), "spec.resyncPeriod"),
    # a CEL rule of the CRD (x-kubernetes-validations), evaluated by the apiserver
    (DASHBOARD % ("two-folders", "{instanceSelector: {}, folderUID: a, folderRef: b}"),
     "Only one of folderUID or folderRef can be declared at the same time"),
])
def test_invalid_custom_resources_are_refused_by_the_schema(real, doc, message):
    out = kubectl(real, "create", "-f", "-", "--validate=false", input=doc, check=False)
    assert out.returncode != 0
    assert "is invalid" in out.stderr and message in out.stderr, out.stderr


def test_invalid_custom_resource_is_a_422(real):
    cfg = yaml.safe_load(Path(real.kubeconfig).read_text())
    user = cfg["users"][0]["user"]
    cert, key = real.home / "admin.crt", real.home / "admin.key"
    cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
    key.write_bytes(base64.b64decode(user["client-key-data"]))
    ctx = ssl.create_default_context(cafile=real.ca_file)
    ctx.load_cert_chain(cert, key)
    body = {"apiVersion": "config.projectsveltos.io/v1beta1", "kind": "ClusterProfile",
            "metadata": {"name": "bad-json"}, "spec": {"syncMode": "Sometimes"}}
    req = urllib.request.Request(real.url + "/apis/config.projectsveltos.io/v1beta1/clusterprofiles",
                                 data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, context=ctx, timeout=10)
    assert err.value.code == 422
    status = json.loads(err.value.read())
    assert status["reason"] == "Invalid" and status["details"]["causes"][0]["field"] == "spec.syncMode"


def test_unknown_fields_are_pruned_or_refused_when_strict(real):
    doc = CLUSTER_PROFILE % ("pruned", "unknownField: 1\n  syncMode: OneTime")
    strict = kubectl(real, "create", "-f", "-", "--validate=strict", input=doc, check=False)
    assert strict.returncode != 0 and 'unknown field "spec.unknownField"' in strict.stderr, strict.stderr
    kubectl(real, "create", "-f", "-", "--validate=false", input=doc)
    spec = json.loads(kubectl(real, "get", "clusterprofile", "pruned", "-o", "json").stdout)["spec"]
    assert "unknownField" not in spec
    assert spec["syncMode"] == "OneTime" and spec["tier"] == 100  # the schema's default was applied


def test_new_namespace_gets_default_service_account_and_root_ca(real):
    kubectl(real, "create", "namespace", "sa-check")
    deadline = time.monotonic() + 30
    while kubectl(real, "get", "serviceaccount", "default", "-n", "sa-check", check=False).returncode != 0:
        assert time.monotonic() < deadline, "no default ServiceAccount: is kube-controller-manager running?"
        time.sleep(0.2)
    while kubectl(real, "get", "configmap", "kube-root-ca.crt", "-n", "sa-check", check=False).returncode != 0:
        assert time.monotonic() < deadline, "no kube-root-ca.crt ConfigMap (root-ca-cert-publisher)"
        time.sleep(0.2)
    ca = json.loads(kubectl(real, "get", "configmap", "kube-root-ca.crt", "-n", "sa-check", "-o", "json").stdout)
    assert ca["data"]["ca.crt"].strip() == Path(real.ca_file).read_text().strip()


def test_namespace_deletion_completes_with_custom_resources_inside(real):
    kubectl(real, "create", "namespace", "doomed")
    kubectl(real, "create", "configmap", "c", "-n", "doomed", "--from-literal=a=b")
    kubectl(real, "create", "-f", "-", input=(DASHBOARD % ("d", "{instanceSelector: {}, json: '{}'}"))
            .replace("namespace: default", "namespace: doomed"))
    kubectl(real, "delete", "namespace", "doomed", "--wait", "--timeout=60s")
    gone = kubectl(real, "get", "namespace", "doomed", check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_garbage_collector_deletes_dependents(real):
    kubectl(real, "create", "configmap", "owner", "--from-literal=a=b")
    uid = json.loads(kubectl(real, "get", "configmap", "owner", "-o", "json").stdout)["metadata"]["uid"]
    dependent = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "dependent", "namespace": "default",
        "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}]}}
    kubectl(real, "create", "-f", "-", input=json.dumps(dependent))
    kubectl(real, "delete", "configmap", "owner")
    deadline = time.monotonic() + 30
    while kubectl(real, "get", "configmap", "dependent", check=False).returncode == 0:
        assert time.monotonic() < deadline, "dependent not collected: is the garbage collector running?"
        time.sleep(0.2)


def test_down_stops_every_process(tmp_path):
    k = RealKube(tmp_path / "plane")
    k.start()
    pids = k.pids()
    assert set(pids) == {"etcd", "kube-apiserver", "kube-controller-manager"}
    assert all(realapi._alive(p) for p in pids.values())
    k.stop()
    assert not any(realapi._alive(p) for p in pids.values())
    assert processes_of(tmp_path / "plane") == []
    assert not (tmp_path / "plane" / "pids").exists()


def test_failed_start_leaves_nothing_running(tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        k = RealKube(tmp_path / "plane", port=busy.getsockname()[1])
        with pytest.raises(KofsimError, match="kube-apiserver exited"):
            k.start()
    finally:
        busy.close()
    assert processes_of(tmp_path / "plane") == []
    assert realapi.read_pids(tmp_path / "plane") == {}


def test_emulator_only_options_are_refused(tmp_path):
    proc = subprocess.run([Kofsim.executable(), "up", "--api", "real", "--dir", str(tmp_path), "--latency-ms", "5"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--latency-ms apply to the emulator only" in proc.stderr
