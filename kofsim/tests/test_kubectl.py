"""kubectl (1.37) against kofsim over HTTPS with the generated kubeconfig."""
import json
import subprocess

import pytest
from kofsim_clients import BIN, kubectl, run_env

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
    out = kubectl(bare, "apply", "--server-side", "--field-manager", "t1", "-f", "-", input=CM.replace("c2", "c3"))
    assert "configmap/c3 serverside-applied" in out.stdout
    rv1 = json.loads(kubectl(bare, "get", "cm", "c3", "-o", "json").stdout)["metadata"]["resourceVersion"]
    seq = bare.last_seq()
    kubectl(bare, "apply", "--server-side", "--field-manager", "t1", "-f", "-", input=CM.replace("c2", "c3"))
    # the same apply again is a no-op: answered 200, nothing stored, no resourceVersion change
    assert [(r["method"], r["status"]) for r in bare.writes(since=seq)] == [("PATCH", 200)]
    assert json.loads(kubectl(bare, "get", "cm", "c3", "-o", "json").stdout)["metadata"]["resourceVersion"] == rv1
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
    # a template change rolls out a new ReplicaSet; rollout status follows it to the end
    kubectl(bare, "set", "image", "deploy/web", "-n", "kc", "web=nginx:2")
    out = kubectl(bare, "rollout", "status", "deploy/web", "-n", "kc", "--timeout=30s").stdout
    assert 'deployment "web" successfully rolled out' in out
    rs = json.loads(kubectl(bare, "get", "rs", "-n", "kc", "-o", "json").stdout)["items"]
    assert sorted(r["spec"]["replicas"] for r in rs) == [0, 3]
    # foreground: the Deployment is gone only after its ReplicaSet and the ReplicaSet's Pods are
    kubectl(bare, "delete", "deploy/web", "-n", "kc", "--cascade=foreground", "--wait", "--timeout=30s")
    left = json.loads(kubectl(bare, "get", "rs,pods", "-n", "kc", "-o", "json").stdout)["items"]
    assert left == []
    # namespace deletion cascades to its content and finishes; kubectl waits for it
    kubectl(bare, "create", "configmap", "leftover", "-n", "kc")
    kubectl(bare, "delete", "namespace", "kc", "--timeout=30s")
    assert kubectl(bare, "get", "namespace", "kc", check=False).returncode != 0


def test_wait_for_condition_on_a_custom_resource_and_crd_deletion(bare):
    crd = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Gadget, plural: gadgets, singular: gadget}
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {status: {}}
      additionalPrinterColumns: [{name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status'}]
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
            status: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""
    kubectl(bare, "apply", "-f", "-", input=crd)
    kubectl(bare, "wait", "--for=condition=Established", "crd/gadgets.example.com", "--timeout=30s")
    kubectl(bare, "apply", "-f", "-", input="apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g1}\n"
                                            "spec: {a: 1}\n")
    waiting = subprocess.Popen([str(BIN / "kubectl"), "wait", "--for=condition=Ready", "gadget/g1",
                                "--timeout=30s"], env=run_env(bare), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    with pytest.raises(subprocess.TimeoutExpired):
        waiting.wait(timeout=1.0)  # still waiting: the condition is not there yet
    kubectl(bare, "patch", "gadget", "g1", "--subresource=status", "--type=merge",
            "-p", '{"status": {"conditions": [{"type": "Ready", "status": "True"}]}}')
    out, err = waiting.communicate(timeout=30)
    assert waiting.returncode == 0 and "gadget.example.com/g1 condition met" in out, err
    table = kubectl(bare, "get", "gadgets").stdout.splitlines()
    # a CRD's additionalPrinterColumns replace the default Age column (kube-apiserver adds none)
    assert table[0].split() == ["NAME", "READY"] and table[1].split()[:2] == ["g1", "True"]
    # deleting the CRD deletes its objects, then the CRD; kubectl waits for both
    kubectl(bare, "delete", "crd", "gadgets.example.com", "--timeout=30s")
    assert "gadgets" not in kubectl(bare, "api-resources", "--api-group=example.com").stdout


def test_protobuf_creates_and_label_selectors(bare):
    kubectl(bare, "create", "configmap", "sel-a", "-n", "default", "--from-literal=x=1")
    kubectl(bare, "label", "cm", "sel-a", "tier=db", "-n", "default")
    kubectl(bare, "create", "secret", "generic", "sel-s", "-n", "default", "--from-literal=pw=hunter2")
    sec = json.loads(kubectl(bare, "get", "secret", "sel-s", "-n", "default", "-o", "json").stdout)
    assert sec["data"]["pw"] == "aHVudGVyMg==" and sec["type"] == "Opaque"
    names = kubectl(bare, "get", "cm", "-n", "default", "-l", "tier in (db,cache)", "-o", "name").stdout.split()
    assert names == ["configmap/sel-a"]
    kubectl(bare, "create", "configmap", "sel-b", "-n", "default")
    names = kubectl(bare, "get", "cm", "-n", "default", "-l", "!tier", "-o", "name").stdout.split()
    assert names == ["configmap/kube-root-ca.crt", "configmap/sel-b"]  # every namespace has kube-root-ca.crt
    names = kubectl(bare, "get", "cm", "-n", "default", "-l", "tier!=web,tier", "-o", "name").stdout.split()
    assert names == ["configmap/sel-a"]
    names = kubectl(bare, "get", "secrets", "-n", "default", "--field-selector", "type=Opaque,metadata.name!=x",
                    "-o", "name").stdout.split()
    assert names == ["secret/sel-s"]


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
