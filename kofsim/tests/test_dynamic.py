"""The kubernetes Python DynamicClient against kofsim over HTTPS: CRUD, server-set metadata, every patch type,
watches (selectors, resume, 410, sendInitialEvents), pagination, CRD lifecycle, status subresource, optimistic
concurrency, validation, finalizers, namespace and owner-reference deletion."""
from __future__ import annotations

import json
import time

import pytest
from kubernetes import watch
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import ResourceNotFoundError

NS = "dyn"


def wait_for(fn, timeout=30.0, what="condition"):
    """Polls fn until it returns a truthy value; the deadline is generous, the poll is short."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def status_of(exc: ApiException) -> dict:
    return json.loads(exc.body)


def gone(res, name, namespace=None):
    try:
        res.get(name=name, namespace=namespace)
        return False
    except ApiException as exc:
        return exc.status == 404


@pytest.fixture(autouse=True)
def fresh(bare):
    bare.reset()
    yield


@pytest.fixture
def v1(dyn):
    ns = dyn.resources.get(api_version="v1", kind="Namespace")
    ns.create(body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    return dyn


def cm_body(name, data=None, **meta):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **meta},
            "data": {"a": "1"} if data is None else data}


def deployment(name, image="nginx", replicas=1):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "main", "image": image}]}}}}


WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList",
                       "shortNames": ["wd"]},
             "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                               "spec": {"type": "object", "required": ["size"], "properties": {
                                   "size": {"type": "integer", "minimum": 1},
                                   "color": {"type": "string", "enum": ["red", "blue"], "default": "red"},
                                   "tags": {"type": "array", "items": {"type": "string"}}}},
                               "status": {"type": "object", "properties": {"phase": {"type": "string"}}}}}}}]}}


def widget(name, size=1, **spec):
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name},
            "spec": {"size": size, **spec}}


def create_widget_crd(dyn):
    crds = dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    crds.create(body=WIDGET_CRD)
    wait_for(lambda: any(c["type"] == "Established" and c["status"] == "True"
                         for c in (crds.get(name="widgets.example.com").to_dict().get("status") or {})
                         .get("conditions") or []), what="CRD Established")
    dyn.resources.invalidate_cache()
    return crds, dyn.resources.get(api_version="example.com/v1", kind="Widget")


# ------------------------------------------------------------------------------------------------ CRUD
def test_crud_server_metadata_and_no_op_writes(v1, bare):
    cms = v1.resources.get(api_version="v1", kind="ConfigMap")
    created = cms.create(body=cm_body("one"), namespace=NS).to_dict()
    meta = created["metadata"]
    assert meta["namespace"] == NS and meta["uid"] and meta["creationTimestamp"].endswith("Z")
    assert int(meta["resourceVersion"]) > 0 and "generation" not in meta
    assert cms.get(name="one", namespace=NS).to_dict()["data"] == {"a": "1"}

    listed = cms.get(namespace=NS).to_dict()
    assert listed["kind"] == "ConfigMapList" and int(listed["metadata"]["resourceVersion"]) >= int(
        meta["resourceVersion"])
    assert [i["metadata"]["name"] for i in listed["items"]] == ["one"]

    # PUT of the same object: a no-op keeps resourceVersion and managedFields times, and is no watch event
    seq = bare.last_seq()
    same = cms.replace(body=created, namespace=NS).to_dict()
    assert same["metadata"]["resourceVersion"] == meta["resourceVersion"]
    assert same["metadata"]["managedFields"] == created["metadata"]["managedFields"]
    # and a patch that changes nothing
    again = cms.patch(name="one", namespace=NS, body={"data": {"a": "1"}},
                      content_type="application/merge-patch+json").to_dict()
    assert again["metadata"]["resourceVersion"] == meta["resourceVersion"]
    assert [(r["status"], r["persisted"]) for r in bare.writes(since=seq)] == [(200, False), (200, False)]

    changed = dict(created, data={"a": "2"})
    updated = cms.replace(body=changed, namespace=NS).to_dict()
    assert int(updated["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
    assert updated["metadata"]["uid"] == meta["uid"]
    assert updated["metadata"]["creationTimestamp"] == meta["creationTimestamp"]

    # a finished delete of a ConfigMap answers a Status naming it; a Service's answers the object
    st = cms.delete(name="one", namespace=NS).to_dict()
    assert st["kind"] == "Status" and st["status"] == "Success"
    assert st["details"] == {"name": "one", "kind": "configmaps", "uid": meta["uid"]}
    assert gone(cms, "one", NS)
    svcs = v1.resources.get(api_version="v1", kind="Service")
    svc = svcs.create(namespace=NS, body={"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                                          "spec": {"ports": [{"port": 80}]}}).to_dict()
    assert svc["spec"]["clusterIP"].startswith("10.") and svc["spec"]["ports"][0]["targetPort"] == 80
    assert svcs.delete(name="s", namespace=NS).to_dict()["kind"] == "Service"


def test_generate_name_dry_run_and_missing_namespace(v1, bare):
    cms = v1.resources.get(api_version="v1", kind="ConfigMap")
    a = cms.create(body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}},
                   namespace=NS).to_dict()
    assert a["metadata"]["name"].startswith("gen-") and len(a["metadata"]["name"]) == len("gen-") + 5

    seq = bare.last_seq()
    dry = cms.create(body=cm_body("dry"), namespace=NS, dry_run="All").to_dict()
    assert dry["metadata"]["name"] == "dry" and "resourceVersion" not in dry["metadata"]
    assert gone(cms, "dry", NS) and bare.writes(since=seq) == []

    with pytest.raises(ApiException) as exc:
        cms.create(body=cm_body("rv", resourceVersion="5"), namespace=NS)
    # kube-apiserver answers 500 (an internal error without a reason), not 400
    assert exc.value.status == 500 and "resourceVersion should not be set" in status_of(exc.value)["message"]
    with pytest.raises(ApiException) as exc:
        cms.create(body=cm_body("x"), namespace="nowhere")
    assert exc.value.status == 404
    assert status_of(exc.value)["message"] == 'namespaces "nowhere" not found'

    with pytest.raises(ApiException) as exc:
        cms.create(body=cm_body("one"), namespace=NS)
        cms.create(body=cm_body("one"), namespace=NS)
    assert exc.value.status == 409 and status_of(exc.value)["reason"] == "AlreadyExists"


def test_validation_errors_are_422_with_causes(v1):
    cms = v1.resources.get(api_version="v1", kind="ConfigMap")
    with pytest.raises(ApiException) as exc:
        cms.create(body=cm_body("Bad_Name"), namespace=NS)
    st = status_of(exc.value)
    assert exc.value.status == 422 and st["reason"] == "Invalid"
    assert st["details"]["causes"][0]["field"] == "metadata.name"
    assert "RFC 1123 subdomain" in st["details"]["causes"][0]["message"]

    with pytest.raises(ApiException) as exc:
        cms.create(body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}, namespace=NS)
    assert exc.value.status == 422
    assert "name or generateName is required" in status_of(exc.value)["message"]

    deps = v1.resources.get(api_version="apps/v1", kind="Deployment")
    bad = deployment("web")
    bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    with pytest.raises(ApiException) as exc:
        deps.create(body=bad, namespace=NS)
    assert exc.value.status == 422
    assert status_of(exc.value)["details"]["causes"][0]["field"] == "spec.template.metadata.labels"

    # immutable fields
    deps.create(body=deployment("web"), namespace=NS)
    with pytest.raises(ApiException) as exc:
        deps.patch(name="web", namespace=NS, body={"spec": {"selector": {"matchLabels": {"app": "x"}}}},
                   content_type="application/merge-patch+json")
    assert exc.value.status == 422 and "field is immutable" in status_of(exc.value)["message"]
    secs = v1.resources.get(api_version="v1", kind="Secret")
    secs.create(namespace=NS, body={"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "frozen"},
                                    "immutable": True, "stringData": {"k": "v"}})
    frozen = secs.get(name="frozen", namespace=NS).to_dict()
    assert frozen["data"] == {"k": "dg=="} and frozen["type"] == "Opaque" and "stringData" not in frozen
    with pytest.raises(ApiException) as exc:
        secs.patch(name="frozen", namespace=NS, body={"data": {"k": "dw=="}},
                   content_type="application/merge-patch+json")
    assert exc.value.status == 422

    # unknown fields: a warning by default, 400 with fieldValidation=Strict, 500 for server-side apply
    cms.create(body=dict(cm_body("loose"), spec={"x": 1}), namespace=NS)
    assert "spec" not in cms.get(name="loose", namespace=NS).to_dict()
    with pytest.raises(ApiException) as exc:
        cms.create(body=dict(cm_body("strict"), spec={"x": 1}), namespace=NS,
                    query_params=[("fieldValidation", "Strict")])
    assert exc.value.status == 400 and 'unknown field "spec"' in status_of(exc.value)["message"]
    with pytest.raises(ApiException) as exc:
        cms.server_side_apply(body=dict(cm_body("ssa"), spec={"x": 1}), name="ssa", namespace=NS,
                              field_manager="t")
    assert exc.value.status == 500 and "field not declared in schema" in status_of(exc.value)["message"]


# --------------------------------------------------------------------------------------------- patches
def test_every_patch_type(v1):
    deps = v1.resources.get(api_version="apps/v1", kind="Deployment")
    d = deployment("web")
    d["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "busybox"})
    deps.create(body=d, namespace=NS)

    # strategic merge: containers merge by name, so one container's image changes and the other stays
    out = deps.patch(name="web", namespace=NS, content_type="application/strategic-merge-patch+json",
                     body={"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "nginx:2"}]}}}})
    ctrs = out.to_dict()["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in ctrs] == [("main", "nginx:2"), ("side", "busybox")]
    assert out.metadata.generation == 2
    # strategic $patch: delete removes the keyed element
    out = deps.patch(name="web", namespace=NS, content_type="application/strategic-merge-patch+json",
                     body={"spec": {"template": {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}}})
    assert [c["name"] for c in out.to_dict()["spec"]["template"]["spec"]["containers"]] == ["main"]

    # merge patch replaces lists wholesale and null removes
    cms = v1.resources.get(api_version="v1", kind="ConfigMap")
    cms.create(body=cm_body("p", {"a": "1", "b": "2"}, labels={"x": "1"}), namespace=NS)
    out = cms.patch(name="p", namespace=NS, content_type="application/merge-patch+json",
                    body={"data": {"a": None, "c": "3"}})
    assert out.to_dict()["data"] == {"b": "2", "c": "3"}

    # json patch, including a failing test operation (422)
    out = cms.patch(name="p", namespace=NS, content_type="application/json-patch+json",
                    body=[{"op": "replace", "path": "/data/b", "value": "20"},
                          {"op": "add", "path": "/metadata/labels/y", "value": "2"}])
    assert out.to_dict()["data"]["b"] == "20" and out.metadata.labels.y == "2"
    with pytest.raises(ApiException) as exc:
        cms.patch(name="p", namespace=NS, content_type="application/json-patch+json",
                  body=[{"op": "test", "path": "/data/b", "value": "nope"}])
    assert exc.value.status == 422

    # custom resources take no strategic merge patch: 415, the answer kubernetes.core falls back on
    _, widgets = create_widget_crd(v1)
    widgets.create(body=widget("w"), namespace=NS)
    with pytest.raises(ApiException) as exc:
        widgets.patch(name="w", namespace=NS, body={"spec": {"size": 2}},
                      content_type="application/strategic-merge-patch+json")
    assert exc.value.status == 415 and status_of(exc.value)["reason"] == "UnsupportedMediaType"
    assert widgets.patch(name="w", namespace=NS, body={"spec": {"size": 2}},
                         content_type="application/merge-patch+json").spec.size == 2


def test_server_side_apply_ownership(v1):
    cms = v1.resources.get(api_version="v1", kind="ConfigMap")
    # apply creates when missing (201)
    cms.server_side_apply(body=cm_body("ssa", {"a": "1", "b": "2"}), name="ssa", namespace=NS, field_manager="m1")
    obj = cms.get(name="ssa", namespace=NS).to_dict()
    mf = {e["manager"]: e for e in obj["metadata"]["managedFields"]}
    assert mf["m1"]["operation"] == "Apply" and "f:b" in mf["m1"]["fieldsV1"]["f:data"]
    rv = obj["metadata"]["resourceVersion"]

    # the same configuration again changes nothing (no new resourceVersion, same managedFields time)
    again = cms.server_side_apply(body=cm_body("ssa", {"a": "1", "b": "2"}), name="ssa", namespace=NS,
                                  field_manager="m1").to_dict()
    assert again["metadata"]["resourceVersion"] == rv
    assert again["metadata"]["managedFields"] == obj["metadata"]["managedFields"]

    # another manager changing an owned field conflicts (409) unless it forces
    with pytest.raises(ApiException) as exc:
        cms.server_side_apply(body=cm_body("ssa", {"a": "9"}), name="ssa", namespace=NS, field_manager="m2")
    st = status_of(exc.value)
    assert exc.value.status == 409 and st["details"]["causes"][0]["reason"] == "FieldManagerConflict"
    cms.server_side_apply(body=cm_body("ssa", {"a": "9"}), name="ssa", namespace=NS, field_manager="m2",
                          force_conflicts=True)
    # m1 drops b from its configuration: b goes (m1 owned it alone); a stays (m2 owns it now)
    out = cms.server_side_apply(body=cm_body("ssa", {}), name="ssa", namespace=NS, field_manager="m1").to_dict()
    assert out["data"] == {"a": "9"}


# ---------------------------------------------------------------------------------------------- watches
def test_watch_selectors_resume_and_expiry(v1, bare):
    cms = v1.resources.get(api_version="v1", kind="ConfigMap")
    start = cms.get(namespace=NS).metadata.resourceVersion
    cms.create(body=cm_body("w1", labels={"tier": "db"}), namespace=NS)
    cms.create(body=cm_body("w2", labels={"tier": "web"}), namespace=NS)
    cms.patch(name="w1", namespace=NS, body={"data": {"a": "2"}}, content_type="application/merge-patch+json")
    cms.delete(name="w1", namespace=NS)

    def events(**kw):
        w = watch.Watch()
        return [(e["type"], e["object"].metadata.name) for e in
                v1.watch(cms, namespace=NS, timeout=1, watcher=w, **kw)]
    # resume from a resourceVersion: exactly the later events, filtered by label selector
    assert events(resource_version=start, label_selector="tier=db") == [
        ("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]
    # (the namespace's kube-root-ca.crt has no tier label: "tier" keeps it out of "notin")
    assert events(resource_version=start, label_selector="tier,tier notin (db)") == [("ADDED", "w2")]
    assert events(resource_version=start, field_selector="metadata.name=w2") == [("ADDED", "w2")]
    # from "" the watch starts with the current state
    assert events(label_selector="tier") == [("ADDED", "w2")]
    # the deprecated /watch/ path of one object
    st, body = bare.call("GET", f"/api/v1/watch/namespaces/{NS}/configmaps/w1?resourceVersion={start}"
                                "&timeoutSeconds=1", raw=True)
    assert st == 200 and [json.loads(x)["type"] for x in body.splitlines()] == ["ADDED", "MODIFIED", "DELETED"]

    # after a compaction an old resourceVersion is gone: 410 inside the stream
    bare.call("POST", "/kofsim/compact")
    with pytest.raises(ApiException) as exc:
        events(resource_version=start)
    assert exc.value.status == 410
    # a resourceVersion from the future is refused, not waited on forever
    with pytest.raises(ApiException) as exc:
        cms.get(namespace=NS, resource_version=str(10 ** 9),
                query_params=[("resourceVersionMatch", "NotOlderThan")])
    assert exc.value.status == 504


def test_watch_streams_live_events_and_send_initial_events(v1, bare):
    import threading
    cms = v1.resources.get(api_version="v1", kind="ConfigMap")
    cms.create(body=cm_body("pre", labels={"live": "yes"}), namespace=NS)
    seen = []

    def consume():  # (the live label leaves out the namespace's kube-root-ca.crt)
        for e in v1.watch(cms, namespace=NS, timeout=5, watcher=watch.Watch(), label_selector="live"):
            seen.append((e["type"], e["object"].metadata.name))
            if len(seen) == 2:
                break
    t = threading.Thread(target=consume)
    t.start()
    wait_for(lambda: seen, what="initial event")
    cms.create(body=cm_body("live", labels={"live": "yes"}), namespace=NS)
    t.join(10)
    assert seen == [("ADDED", "pre"), ("ADDED", "live")]

    # the WatchList protocol (client-go reflectors, helm 4 --wait): initial state, then a BOOKMARK marking its end
    st, body = bare.call("GET", f"/api/v1/namespaces/{NS}/configmaps?watch=1&sendInitialEvents=true"
                                "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1"
                                "&labelSelector=live", raw=True)
    lines = [json.loads(x) for x in body.splitlines()]
    assert st == 200 and [x["type"] for x in lines] == ["ADDED", "ADDED", "BOOKMARK"]
    assert lines[-1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    # sendInitialEvents without resourceVersionMatch=NotOlderThan is invalid, as on kube-apiserver
    st, body = bare.call("GET", f"/api/v1/namespaces/{NS}/configmaps?watch=1&sendInitialEvents=true", raw=True)
    assert st == 422 and b"sendInitialEvents requires setting resourceVersionMatch" in body


def test_pagination(v1, bare):
    cms = v1.resources.get(api_version="v1", kind="ConfigMap")
    for i in range(5):
        cms.create(body=cm_body(f"p{i}"), namespace=NS)
    first = cms.get(namespace=NS, limit=2).to_dict()
    assert [i["metadata"]["name"] for i in first["items"]] == ["p0", "p1"]
    assert first["metadata"]["remainingItemCount"] == 3
    # an object created between pages before the cursor does not shift the next page
    cms.create(body=cm_body("p00"), namespace=NS)
    second = cms.get(namespace=NS, limit=2, _continue=first["metadata"]["continue"]).to_dict()
    assert [i["metadata"]["name"] for i in second["items"]] == ["p2", "p3"]
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    last = cms.get(namespace=NS, limit=2, _continue=second["metadata"]["continue"]).to_dict()
    assert [i["metadata"]["name"] for i in last["items"]] == ["p4"] and not last["metadata"].get("continue")
    # a continue token older than the last compaction has expired
    bare.call("POST", "/kofsim/compact")
    with pytest.raises(ApiException) as exc:
        cms.get(namespace=NS, limit=2, _continue=first["metadata"]["continue"])
    assert exc.value.status == 410 and status_of(exc.value)["reason"] == "Expired"


# ------------------------------------------------------------------------------------ CRD lifecycle
def test_crd_lifecycle_discovery_openapi_and_schema(v1, bare):
    crds, widgets = create_widget_crd(v1)
    crd = crds.get(name="widgets.example.com").to_dict()
    assert {c["type"] for c in crd["status"]["conditions"]} >= {"Established", "NamesAccepted"}
    api = bare.call("GET", "/apis/example.com/v1")
    assert {r["name"] for r in api["resources"]} == {"widgets", "widgets/status"}
    assert api["resources"][0]["shortNames"] == ["wd"] if api["resources"][0]["name"] == "widgets" else True
    index = bare.call("GET", "/openapi/v3")["paths"]
    doc = bare.call("GET", index["apis/example.com/v1"]["serverRelativeURL"])
    op = doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"]
    assert op["x-kubernetes-group-version-kind"] == {"group": "example.com", "version": "v1", "kind": "Widget"}
    assert any(p["name"] == "fieldValidation" for p in op["parameters"])

    # schema: defaulting, pruning (with a warning), validation (422 with causes)
    w = widgets.create(body=widget("w", size=2, extra="dropped"), namespace=NS).to_dict()
    assert w["spec"] == {"size": 2, "color": "red"} and w["metadata"]["generation"] == 1
    with pytest.raises(ApiException) as exc:
        widgets.create(body=widget("bad", size=0, color="green"), namespace=NS)
    causes = {c["field"]: c["reason"] for c in status_of(exc.value)["details"]["causes"]}
    assert causes == {"spec.size": "FieldValueInvalid", "spec.color": "FieldValueNotSupported"}
    with pytest.raises(ApiException) as exc:
        widgets.create(body={"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "nosize"},
                             "spec": {}}, namespace=NS)
    assert status_of(exc.value)["details"]["causes"][0]["field"] == "spec.size"
    # custom resources require a resourceVersion on update
    with pytest.raises(ApiException) as exc:
        widgets.replace(body=widget("w", size=3), namespace=NS)
    assert exc.value.status == 422 and "must be specified for an update" in status_of(exc.value)["message"]
    assert widgets.get(namespace=NS).to_dict()["kind"] == "WidgetList"

    # deleting the CRD deletes its objects first, then stops serving it
    w2 = widgets.create(body=dict(widget("held"), metadata={"name": "held", "finalizers": ["example.com/hold"]}),
                        namespace=NS)
    assert w2.metadata.finalizers == ["example.com/hold"]
    out = crds.delete(name="widgets.example.com").to_dict()
    assert out["metadata"]["deletionTimestamp"]
    assert "customresourcecleanup.apiextensions.k8s.io" in out["metadata"]["finalizers"]
    wait_for(lambda: gone(widgets, "w", NS), what="instances deleted")
    with pytest.raises(ApiException) as exc:
        widgets.create(body=widget("late"), namespace=NS)
    assert exc.value.status == 405 and "terminating" in status_of(exc.value)["message"]
    # the finalizer of the remaining instance holds the CRD until it is released
    assert widgets.get(name="held", namespace=NS).metadata.deletionTimestamp
    assert bare.call("GET", "/apis/example.com/v1")["resources"]
    widgets.patch(name="held", namespace=NS, body={"metadata": {"finalizers": None}},
                  content_type="application/merge-patch+json")
    wait_for(lambda: gone(crds, "widgets.example.com"), what="CRD deleted")
    assert bare.call("GET", "/apis/example.com/v1", raw=True)[0] == 404
    assert "apis/example.com/v1" not in bare.call("GET", "/openapi/v3")["paths"]
    v1.resources.invalidate_cache()
    with pytest.raises(ResourceNotFoundError):
        v1.resources.get(api_version="example.com/v1", kind="Widget")


def test_status_subresource_and_optimistic_concurrency(v1):
    _, widgets = create_widget_crd(v1)
    w = widgets.create(body=widget("s"), namespace=NS).to_dict()
    # the main resource ignores status; /status ignores everything but status
    w["status"] = {"phase": "Ready"}
    w["spec"]["size"] = 5
    out = widgets.replace(body=w, namespace=NS).to_dict()
    assert "status" not in out and out["spec"]["size"] == 5 and out["metadata"]["generation"] == 2
    out["status"] = {"phase": "Ready"}
    out["spec"]["size"] = 9
    st = widgets.status.replace(body=out, namespace=NS).to_dict()
    assert st["status"] == {"phase": "Ready"} and st["spec"]["size"] == 5 and st["metadata"]["generation"] == 2
    kept = widgets.patch(name="s", namespace=NS, body={"spec": {"size": 6}, "status": {"phase": "Lost"}},
                         content_type="application/merge-patch+json").to_dict()
    assert kept["status"] == {"phase": "Ready"} and kept["spec"]["size"] == 6

    # a stale resourceVersion on PUT or PATCH is a 409 Conflict
    stale = dict(w, metadata=dict(w["metadata"]))
    with pytest.raises(ApiException) as exc:
        widgets.replace(body=stale, namespace=NS)
    assert exc.value.status == 409 and status_of(exc.value)["reason"] == "Conflict"
    with pytest.raises(ApiException) as exc:
        widgets.patch(name="s", namespace=NS, content_type="application/merge-patch+json",
                      body={"metadata": {"resourceVersion": w["metadata"]["resourceVersion"]}, "spec": {"size": 7}})
    assert exc.value.status == 409
    # the current one succeeds
    widgets.patch(name="s", namespace=NS, content_type="application/merge-patch+json",
                  body={"metadata": {"resourceVersion": kept["metadata"]["resourceVersion"]}, "spec": {"size": 7}})

    # scale subresource of a built-in
    deps = v1.resources.get(api_version="apps/v1", kind="Deployment")
    deps.create(body=deployment("sc"), namespace=NS)
    scale = v1.request("GET", f"/apis/apps/v1/namespaces/{NS}/deployments/sc/scale")
    assert scale.kind == "Scale" and scale.spec.replicas == 1
    v1.request("PATCH", f"/apis/apps/v1/namespaces/{NS}/deployments/sc/scale", body={"spec": {"replicas": 3}},
               content_type="application/merge-patch+json")
    assert deps.get(name="sc", namespace=NS).spec.replicas == 3


# ------------------------------------------------------------------------------------------- deletion
def test_finalizers_and_namespace_deletion(v1):
    cms = v1.resources.get(api_version="v1", kind="ConfigMap")
    nss = v1.resources.get(api_version="v1", kind="Namespace")
    cms.create(body=cm_body("fin", finalizers=["example.com/keep"]), namespace=NS)
    cms.create(body=cm_body("plain"), namespace=NS)
    held = cms.delete(name="fin", namespace=NS).to_dict()
    assert held["metadata"]["deletionTimestamp"] and held["kind"] == "ConfigMap"
    with pytest.raises(ApiException) as exc:  # no finalizer can be added once deletion started
        cms.patch(name="fin", namespace=NS, content_type="application/merge-patch+json",
                  body={"metadata": {"finalizers": ["example.com/keep", "example.com/more"]}})
    assert exc.value.status == 422 and "no new finalizers" in status_of(exc.value)["message"]

    out = nss.delete(name=NS).to_dict()
    assert out["status"]["phase"] == "Terminating"
    with pytest.raises(ApiException) as exc:
        cms.create(body=cm_body("late"), namespace=NS)
    assert exc.value.status == 403 and status_of(exc.value)["details"]["causes"][0]["reason"] == \
        "NamespaceTerminating"
    wait_for(lambda: gone(cms, "plain", NS), what="namespace content deleted")
    time.sleep(0.3)
    assert nss.get(name=NS).status.phase == "Terminating"  # the finalizer still holds one object
    cms.patch(name="fin", namespace=NS, body={"metadata": {"finalizers": None}},
              content_type="application/merge-patch+json")
    wait_for(lambda: gone(nss, NS), what="namespace gone")


@pytest.mark.parametrize("policy", ["Foreground", "Background", "Orphan"])
def test_owner_reference_deletion(v1, policy):
    cms = v1.resources.get(api_version="v1", kind="ConfigMap")
    owner = cms.create(body=cm_body("owner"), namespace=NS).to_dict()
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"],
           "blockOwnerDeletion": True}
    cms.create(body=cm_body("dep", ownerReferences=[ref], finalizers=["example.com/slow"]), namespace=NS)
    out = cms.delete(name="owner", namespace=NS, propagation_policy=policy).to_dict()
    if policy == "Foreground":
        # the owner waits, with foregroundDeletion, for its dependent (held by its own finalizer)
        assert out["metadata"]["finalizers"] == ["foregroundDeletion"]
        wait_for(lambda: cms.get(name="dep", namespace=NS).metadata.deletionTimestamp, what="dependent deleted")
        time.sleep(0.3)
        assert not gone(cms, "owner", NS)
    elif policy == "Orphan":
        wait_for(lambda: gone(cms, "owner", NS), what="owner gone")
        dep = cms.get(name="dep", namespace=NS).to_dict()
        assert not dep["metadata"].get("ownerReferences") and not dep["metadata"].get("deletionTimestamp")
        return
    else:
        assert out["kind"] == "Status"
        wait_for(lambda: cms.get(name="dep", namespace=NS).metadata.deletionTimestamp, what="dependent collected")
    cms.patch(name="dep", namespace=NS, body={"metadata": {"finalizers": None}},
              content_type="application/merge-patch+json")
    wait_for(lambda: gone(cms, "owner", NS) and gone(cms, "dep", NS), what="owner and dependent gone")


def test_delete_collection_and_deployment_controller(v1):
    cms = v1.resources.get(api_version="v1", kind="ConfigMap")
    for name, tier in (("a", "x"), ("b", "x"), ("c", "y")):
        cms.create(body=cm_body(name, labels={"tier": tier}), namespace=NS)
    out = cms.delete(namespace=NS, label_selector="tier=x").to_dict()
    assert sorted(i["metadata"]["name"] for i in out["items"]) == ["a", "b"]
    assert [i["metadata"]["name"] for i in cms.get(namespace=NS).to_dict()["items"]] == ["c"]

    deps = v1.resources.get(api_version="apps/v1", kind="Deployment")
    deps.create(body=deployment("ctl", replicas=2), namespace=NS)
    d = wait_for(lambda: (lambda o: o if (o.get("status") or {}).get("readyReplicas") == 2 else None)(
        deps.get(name="ctl", namespace=NS).to_dict()), what="deployment ready")
    assert d["status"]["observedGeneration"] == d["metadata"]["generation"]
    rs = v1.resources.get(api_version="apps/v1", kind="ReplicaSet").get(namespace=NS).to_dict()["items"]
    assert len(rs) == 1 and rs[0]["metadata"]["ownerReferences"][0]["uid"] == d["metadata"]["uid"]
    assert rs[0]["spec"]["template"]["spec"] == d["spec"]["template"]["spec"]
    pods = v1.resources.get(api_version="v1", kind="Pod").get(namespace=NS, label_selector="app=ctl").to_dict()
    assert [p["status"]["phase"] for p in pods["items"]] == ["Running", "Running"]
