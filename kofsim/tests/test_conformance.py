"""Differential conformance: kofsim against a real kube-apiserver (kofsim.conformance), and focused tests of what
the suite made kofsim do as kube-apiserver does (CEL rules, field ownership, discovery, errors, namespaces)."""
from __future__ import annotations

import os
import time

import pytest

from kofsim.conformance.client import Conn
from kofsim.conformance.kinds import test_crd as widget_crd
from kofsim.testing import Kofsim, RealKube

MERGE = "application/merge-patch+json"
APPLY = "application/apply-patch+yaml"


# ------------------------------------------------------------------------------------------ the suite
def test_differential_conformance(tmp_path_factory):
    """Every case against both backends: at least 150 checks, at least 98 % of them agree."""
    reason = RealKube.missing()
    if reason:
        if os.environ.get("KOFSIM_REQUIRE_REAL"):
            pytest.fail(reason)
        pytest.skip(reason)
    from kofsim.conformance.report import diff_text, summary_line
    from kofsim.conformance.suite import run
    out = run(tmp_path_factory.mktemp("conformance"))
    diffs = [f"{c}: {lbl}\n{diff_text(a, b, limit=30)}" for c, lbl, eq, a, b, _, _ in out["results"] if not eq]
    print(summary_line(out))
    print("\n".join(diffs))
    assert out["total"] >= 150, out["total"]
    assert out["agree"] / out["total"] >= 0.98, summary_line(out) + "\n" + "\n".join(diffs)


# ------------------------------------------------------------------------------------------ focused
@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    k = Kofsim(tmp_path_factory.mktemp("sim"), bare=True).start()
    conn = Conn(k.kubeconfig)
    r = conn.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", widget_crd())
    assert r.status == 201, r.raw
    deadline = time.monotonic() + 30
    while conn.request("GET", "/apis/conformance.kofsim.io/v1").status != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    k.conn = conn
    yield k
    conn.close()
    k.stop()


def _ns(sim, name):
    sim.conn.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    deadline = time.monotonic() + 30
    while sim.conn.request("GET", f"/api/v1/namespaces/{name}/serviceaccounts/default").status != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return name


def _widget(name, **spec):
    return {"apiVersion": "conformance.kofsim.io/v1", "kind": "Widget", "metadata": {"name": name},
            "spec": dict({"size": "small"}, **spec)}


def test_cel_rules_are_evaluated(sim):
    ns = _ns(sim, "cel")
    wc = f"/apis/conformance.kofsim.io/v1/namespaces/{ns}/widgets"
    r = sim.conn.request("POST", wc, _widget("big", replicas=11))
    st = r.json
    assert r.status == 422 and st["message"] == 'Widget.conformance.kofsim.io "big" is invalid: spec.replicas: ' \
                                                'Forbidden: at most 10 replicas'
    assert st["details"]["causes"] == [{"reason": "FieldValueForbidden", "message": "Forbidden: at most 10 replicas",
                                        "field": "spec.replicas"}]
    r = sim.conn.request("POST", wc, _widget("lock", mode="locked"))  # messageExpression
    assert r.status == 422 and r.json["details"]["causes"][0]["message"] == "Invalid value: mode locked needs an owner"
    assert sim.conn.request("POST", wc, _widget("ok")).status == 201
    # a transition rule (oldSelf) runs on update only
    r = sim.conn.request("PATCH", f"{wc}/ok", {"spec": {"size": "large"}}, ct=MERGE)
    assert r.status == 422 and r.json["message"] == ('Widget.conformance.kofsim.io "ok" is invalid: spec: Invalid '
                                                     'value: size is immutable')
    assert sim.conn.request("PATCH", f"{wc}/ok", {"spec": {"replicas": 3}}, ct=MERGE).status == 200
    # blocking schema errors skip the rules, and say so
    r = sim.conn.request("POST", wc, _widget("bad", size="huge", replicas=20))
    causes = r.json["details"]["causes"]
    assert r.status == 422 and causes[-1] == {
        "reason": "FieldValueInvalid", "field": "<nil>",
        "message": "Invalid value: null: some validation rules were not checked because the object was invalid; "
                   "correct the existing errors to complete validation"}
    assert all("at most 10" not in c["message"] for c in causes)


def test_kcm_immutable_spec_rule(sim):
    """kcm's ClusterTemplateChain: `self == oldSelf` on spec, with kube-apiserver's wording."""
    crd = widget_crd()
    crd["metadata"]["name"] = "chains.conformance.kofsim.io"
    crd["spec"]["names"] = {"plural": "chains", "singular": "chain", "kind": "Chain"}
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = {"type": "object", "properties": {"spec": {
        "type": "object", "x-kubernetes-validations": [{"message": "Spec is immutable", "rule": "self == oldSelf"}],
        "properties": {"templates": {"type": "array", "items": {"type": "string"}}}}}}
    crd["spec"]["versions"][0].pop("subresources")
    crd["spec"]["versions"][0].pop("additionalPrinterColumns")
    assert sim.conn.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd).status == 201
    deadline = time.monotonic() + 30
    ns = _ns(sim, "chains")
    path = f"/apis/conformance.kofsim.io/v1/namespaces/{ns}/chains"
    while sim.conn.request("GET", path).status != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    body = {"apiVersion": "conformance.kofsim.io/v1", "kind": "Chain", "metadata": {"name": "c"},
            "spec": {"templates": ["a"]}}
    assert sim.conn.request("POST", path, body).status == 201
    r = sim.conn.request("PATCH", f"{path}/c", {"spec": {"templates": ["b"]}}, ct=MERGE)
    assert r.status == 422
    assert r.json["message"] == 'Chain.conformance.kofsim.io "c" is invalid: spec: Invalid value: Spec is immutable'
    assert sim.conn.request("PATCH", f"{path}/c", {"metadata": {"labels": {"a": "b"}}}, ct=MERGE).status == 200


def test_managed_fields_follow_structured_merge_diff(sim):
    ns = _ns(sim, "fields")
    cm = f"/api/v1/namespaces/{ns}/configmaps"
    r = sim.conn.request("POST", cm, {"metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"k": "v"}})
    fields = r.json["metadata"]["managedFields"][0]["fieldsV1"]
    # containers the write added carry "."; metadata itself is never owned
    assert fields == {"f:data": {".": {}, "f:k": {}}, "f:metadata": {"f:labels": {".": {}, "f:x": {}}}}
    apply = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\ndata:\n  k: v\n"
    r = sim.conn.request("PATCH", f"{cm}/b?fieldManager=alice", apply, ct=APPLY)
    assert r.json["metadata"]["managedFields"][0]["fieldsV1"] == {"f:data": {"f:k": {}}}  # no "." for apply
    r = sim.conn.request("PATCH", f"{cm}/b?fieldManager=bob", apply.replace("k: v", "k: w"), ct=APPLY)
    assert r.status == 409 and r.json["message"] == 'Apply failed with 1 conflict: conflict with "alice": .data.k'
    assert r.json["details"] == {"causes": [{"reason": "FieldManagerConflict", "message": 'conflict with "alice"',
                                             "field": ".data.k"}]}
    # a Service's ports are keyed by port and protocol, the protocol defaulted when the applier leaves it out
    svc = ("apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  selector: {a: b}\n  ports:\n"
           "  - port: 80\n")
    r = sim.conn.request("PATCH", f"/api/v1/namespaces/{ns}/services/s?fieldManager=alice", svc, ct=APPLY)
    assert 'k:{"port":80,"protocol":"TCP"}' in r.json["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:ports"]
    rv = r.json["metadata"]["resourceVersion"]
    r = sim.conn.request("PATCH", f"/api/v1/namespaces/{ns}/services/s?fieldManager=alice", svc, ct=APPLY)
    assert r.json["metadata"]["resourceVersion"] == rv  # the same apply again stores nothing


def test_namespaces_get_their_service_account_and_root_ca(sim):
    ns = _ns(sim, "fresh")
    cm = sim.conn.request("GET", f"/api/v1/namespaces/{ns}/configmaps/kube-root-ca.crt").json
    assert cm["data"]["ca.crt"].startswith("-----BEGIN CERTIFICATE-----")
    assert cm["metadata"]["managedFields"][0]["manager"] == "kube-controller-manager"
    # a pod gets the token volume, tolerations and priority the admission plugins add
    pod = sim.conn.request("POST", f"/api/v1/namespaces/{ns}/pods", {"metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "c", "image": "busybox"}]}}).json
    assert pod["spec"]["serviceAccountName"] == "default" and pod["spec"]["priority"] == 0
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == "Always"  # no tag: latest
    assert any(v["name"].startswith("kube-api-access-") for v in pod["spec"]["volumes"])
    assert pod["status"] == {"phase": "Pending", "qosClass": "BestEffort"}


def test_discovery_errors_and_selectors(sim):
    r = sim.conn.request("GET", "/apis", accept="application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                                                "application/json")
    assert r.content_type == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    apps = next(g for g in r.json["items"] if g["metadata"]["name"] == "apps")
    dep = next(x for x in apps["versions"][0]["resources"] if x["resource"] == "deployments")
    assert [s["subresource"] for s in dep["subresources"]] == ["scale", "status"]
    assert sim.conn.request("GET", "/apis/nothing.example.com/v1").raw == b"404 page not found\n"
    r = sim.conn.request("GET", "/api/v1/namespaces/default/configmaps?labelSelector=a%20b%20c")
    assert r.json["message"] == "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
    r = sim.conn.request("POST", "/api/v1/namespaces/default/configmaps", "{not json")
    assert r.json["message"] == ("the object provided is unrecognized (must be of type ConfigMap): couldn't get "
                                 "version/kind; json parse error: invalid character 'n' looking for beginning of "
                                 "object key string ({not json)")
    r = sim.conn.request("GET", "/api/v1/namespaces/default/configmaps/nothing")
    assert r.json["details"] == {"name": "nothing", "kind": "configmaps"}  # no empty group
    assert r.raw.endswith(b"}\n")
