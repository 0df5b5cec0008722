"""The conformance cases: raw API requests (this module) and real clients (clients.py).

Every case runs against both backends with the same code; a case's namespace is its own (created fresh).
"""
from __future__ import annotations

import copy
import json
import threading
import time
import urllib.parse

from .client import JSON
from .kinds import LABEL, builtin_kinds, custom_kinds, test_crd
from .normalize import norm

MERGE = "application/merge-patch+json"
JSONPATCH = "application/json-patch+json"
SMP = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
AGGREGATED = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
              "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
RV_MASKS = [r"resource ?version:? (\d+)", r"ResourceVersion in precondition: (\d+)",
            r"ResourceVersion in object meta: (\d+)", r"current: (\d+)", r"\((\d+)\)"]

q = urllib.parse.quote


# ------------------------------------------------------------------------------------------ projections
# Workload controllers (deployment, replica set, scheduler, kubelet, volume binder) act asynchronously: what a read
# sees of their work depends on when it comes, on either backend. What they write is not compared for the kinds
# they own: status, their annotations, spec.nodeName / spec.volumeName, and their managedFields entries.
CONTROLLED = {"Deployment", "Pod", "PersistentVolumeClaim", "ReplicaSet"}
CONTROLLER_ANNOTATIONS = ("deployment.kubernetes.io/", "pv.kubernetes.io/", "volume.beta.kubernetes.io/",
                          "volume.kubernetes.io/")


def strip_controlled(obj):
    if not isinstance(obj, dict) or obj.get("kind") not in CONTROLLED:
        return obj
    obj = copy.deepcopy(obj)
    obj.pop("status", None)
    spec = obj.get("spec") or {}
    if obj["kind"] == "Pod":
        spec.pop("nodeName", None)
    if obj["kind"] == "PersistentVolumeClaim":
        spec.pop("volumeName", None)
    meta = obj.get("metadata") or {}
    ann = meta.get("annotations")
    if ann:
        for k in list(ann):
            if k.startswith(CONTROLLER_ANNOTATIONS):
                del ann[k]
        if not ann:
            meta.pop("annotations")
    if meta.get("managedFields"):
        meta["managedFields"] = [m for m in meta["managedFields"] if m.get("manager") != "kube-controller-manager"
                                 and m.get("subresource") != "status"]
    return obj


def _list_pick(b):
    if isinstance(b, dict) and b.get("kind", "").endswith("List") and b["kind"][:-4] in CONTROLLED:
        kind = b["kind"][:-4]
        items = []
        for i in b.get("items") or []:
            had_kind = "kind" in i
            x = strip_controlled(dict(i, kind=kind))
            if not had_kind:
                x.pop("kind")
            items.append(x)
        return dict(b, items=items)
    return strip_controlled(b)


def _transient(obj) -> bool:
    """A CRD whose deletion met kube-apiserver's "storage is (re)initializing" (a race inside the real server:
    the CRD update made by the delete rebuilds the custom resources' storage while the finalizer lists them; it
    retries at once). The event is dropped; what follows is compared."""
    conds = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Terminating" and c.get("reason") == "InstanceDeletionFailed" and
               "storage is (re)initializing" in str(c.get("message")) for c in conds)


def events_pick(events):
    """Watch events, with controller-only changes of CONTROLLED kinds dropped (see above)."""
    out = []
    for e in events:
        obj = e.get("object") if isinstance(e, dict) else None
        if isinstance(obj, dict) and obj.get("kind") == "CustomResourceDefinition" and _transient(obj):
            continue
        if out and isinstance(obj, dict) and e.get("type") == "MODIFIED" and \
                norm(out[-1].get("object")) == norm(obj):
            continue  # (the same state again, once the transient above is dropped)
        if isinstance(obj, dict) and obj.get("kind") in CONTROLLED:
            e = dict(e, object=strip_controlled(obj))
            if out and e["type"] == "MODIFIED" and norm(out[-1]["object"]) == norm(e["object"]):
                continue
        out.append(e)
    return out


# ------------------------------------------------------------------------------------------ watch helpers
def watch(s, label, path, *, stop=None, deadline=8.0, pick=None, timing=None):
    """A recorded watch: status, events (normalized) and, with `timing`=(low, high), whether the server ended
    the stream within that many seconds."""
    st, events, dt = _watch_until(s, path, stop, deadline)
    value = {"code": st, "events": events_pick(events) if pick is None else pick(events)}
    if timing:
        value["ended in time"] = timing[0] <= dt <= timing[1]
    s.check(f"WATCH {label}", value, {"path": path, "events": events, "seconds": dt})
    return events


def _watch_until(s, path, stop, deadline):
    if stop is None:
        return s.conn.watch(path, deadline=deadline)
    return _watch_stop(s, path, stop, deadline)


def _watch_stop(s, path, stop, deadline):
    import urllib3
    h = dict(s.conn.headers, Accept=JSON)
    t0 = time.monotonic()
    r = s.conn.pool.request("GET", s.conn.server + path, headers=h, preload_content=False,
                            timeout=urllib3.Timeout(connect=10, read=deadline))
    events = []
    if r.status != 200:
        data = r.read()
        r.release_conn()
        return r.status, [json.loads(data) if data else None], time.monotonic() - t0
    buf = b""
    ended = False
    try:
        for chunk in r.stream(1024):
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip():
                    events.append(json.loads(line))
            if stop(events) or time.monotonic() - t0 > deadline:
                break
        else:
            ended = True
    except (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError):
        pass
    finally:
        if ended:
            r.release_conn()
        else:
            r.close()
    return r.status, events, time.monotonic() - t0


def until_type(t):
    return lambda evs: any(e.get("type") == t for e in evs)


# ------------------------------------------------------------------------------------------ discovery
GROUPS = ("apps", "rbac.authorization.k8s.io", "storage.k8s.io", "apiextensions.k8s.io", "batch",
          "networking.k8s.io", "policy", "coordination.k8s.io", "grafana.integreatly.org",
          "config.projectsveltos.io", "lib.projectsveltos.io", "k0rdent.mirantis.com", "kof.k0rdent.mirantis.com")
CORE_RESOURCES = ("namespaces", "secrets", "configmaps", "serviceaccounts", "services", "pods",
                  "persistentvolumeclaims", "nodes", "events", "endpoints")


def _pick_groups(b):
    return {g["name"]: g for g in b.get("groups", []) if g["name"] in GROUPS} | {
        "<keys>": sorted(b.keys()), "<kind>": b.get("kind")}


def _pick_aggregated(b, names=GROUPS, resources=None):
    out = {"<head>": {k: v for k, v in b.items() if k != "items"}}
    for g in b.get("items", []):
        name = g["metadata"].get("name", "")
        if name in names:
            g = copy.deepcopy(g)
            for v in g.get("versions", []):
                if resources:
                    v["resources"] = [r for r in v["resources"] if r["resource"] in resources]
            out[name or "<core>"] = g
    return out


def _pick_resources(names=None):
    def pick(b):
        res = b.get("resources", [])
        if names:
            res = [r for r in res if r["name"].split("/")[0] in names]
        return {"head": {k: v for k, v in b.items() if k != "resources"}, "resources": {r["name"]: r for r in res}}
    return pick


def case_discovery(s):
    s.req("/version", "GET", "/version", pick=lambda b: {k: b.get(k) for k in (
        "major", "minor", "gitVersion", "emulationMajor", "emulationMinor", "minCompatibilityMajor",
        "minCompatibilityMinor", "compiler", "platform")})
    s.req("/api", "GET", "/api", masks=[r"127\.0\.0\.1:(\d+)"])
    s.req("/apis", "GET", "/apis", pick=_pick_groups)
    s.req("/api (aggregated v2)", "GET", "/api", accept=AGGREGATED,
          pick=lambda b: _pick_aggregated(b, ("",), CORE_RESOURCES))
    s.req("/apis (aggregated v2)", "GET", "/apis", accept=AGGREGATED,
          pick=lambda b: _pick_aggregated(b, GROUPS, _AGG_RESOURCES))
    s.req("/api/v1", "GET", "/api/v1", pick=_pick_resources(CORE_RESOURCES))
    for g, v, names in (("apps", "v1", None), ("rbac.authorization.k8s.io", "v1", None),
                        ("storage.k8s.io", "v1", ("storageclasses",)),
                        ("apiextensions.k8s.io", "v1", None), ("grafana.integreatly.org", "v1beta1", None),
                        ("config.projectsveltos.io", "v1beta1", None), ("lib.projectsveltos.io", "v1beta1",
                                                                        ("sveltosclusters",)),
                        ("k0rdent.mirantis.com", "v1alpha1", None), ("kof.k0rdent.mirantis.com", "v1alpha1", None)):
        s.req(f"/apis/{g}/{v}", "GET", f"/apis/{g}/{v}", pick=_pick_resources(names))
    s.req("/apis/apps", "GET", "/apis/apps")
    s.req("/apis/config.projectsveltos.io", "GET", "/apis/config.projectsveltos.io")
    s.req("unknown group", "GET", "/apis/nothing.example.com/v1")
    s.req("unknown version", "GET", "/api/v9")
    s.req("unknown resource", "GET", "/api/v1/namespaces/default/widgets")


_AGG_RESOURCES = ("deployments", "replicasets", "clusterroles", "clusterrolebindings", "roles", "rolebindings",
                  "storageclasses", "customresourcedefinitions", "grafanadatasources", "grafanas",
                  "clusterprofiles", "clustersummaries", "profiles", "sveltosclusters", "clusterdeployments",
                  "clustertemplates", "servicetemplates", "clustertemplatechains", "servicetemplatechains",
                  "credentials", "managements", "multiclusterservices", "releases", "promxyservergroups")


# ------------------------------------------------------------------------------------------ OpenAPI
OPENAPI_GVS = ("api/v1", "apis/apps/v1", "apis/rbac.authorization.k8s.io/v1", "apis/grafana.integreatly.org/v1beta1",
               "apis/config.projectsveltos.io/v1beta1", "apis/k0rdent.mirantis.com/v1alpha1")


def _pick_openapi_index(b):
    paths = b.get("paths", {})
    return {gv: sorted(paths.get(gv, {}).keys()) for gv in OPENAPI_GVS} | {
        "<hash query>": sorted({v.get("serverRelativeURL", "").split("?")[1].split("=")[0]
                                for v in paths.values() if "?" in v.get("serverRelativeURL", "")})}


def _op_summary(op):
    return {"gvk": op.get("x-kubernetes-group-version-kind"), "action": op.get("x-kubernetes-action"),
            "operationId": op.get("operationId"),
            "fieldValidation": any(p.get("name") == "fieldValidation" for p in op.get("parameters", [])),
            "params": sorted(p.get("name") for p in op.get("parameters", []) if "name" in p)}


def _pick_openapi_doc(paths_of_interest, schemas_of_interest):
    def pick(b):
        out = {"openapi": b.get("openapi"), "paths": {}, "schemas": {}}
        for p in paths_of_interest:
            item = b.get("paths", {}).get(p)
            out["paths"][p] = None if item is None else {
                m: _op_summary(op) for m, op in item.items() if m in ("get", "put", "post", "patch", "delete")}
        schemas = b.get("components", {}).get("schemas", {})
        for name, parts in schemas_of_interest:
            sch = schemas.get(name)
            out["schemas"][name] = None if sch is None else {k: sch.get(k) for k in parts}
        return out
    return pick


def case_openapi(s):
    s.req("/openapi/v3", "GET", "/openapi/v3", pick=_pick_openapi_index)
    idx = s.get("/openapi/v3").json or {}

    def doc(gv, paths, schemas, label=None):
        url = (idx.get("paths", {}).get(gv) or {}).get("serverRelativeURL", f"/openapi/v3/{gv}")
        s.req(label or f"/openapi/v3/{gv}", "GET", url, pick=_pick_openapi_doc(paths, schemas))
    doc("api/v1", ["/api/v1/namespaces/{namespace}/configmaps/{name}", "/api/v1/namespaces/{name}"],
        [("io.k8s.api.core.v1.ConfigMap", ("x-kubernetes-group-version-kind", "type"))])
    doc("apis/apps/v1", ["/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
                         "/apis/apps/v1/namespaces/{namespace}/deployments"],
        [("io.k8s.api.apps.v1.Deployment", ("x-kubernetes-group-version-kind", "type", "required"))])
    doc("apis/grafana.integreatly.org/v1beta1",
        ["/apis/grafana.integreatly.org/v1beta1/namespaces/{namespace}/grafanadatasources/{name}",
         "/apis/grafana.integreatly.org/v1beta1/namespaces/{namespace}/grafanadatasources/{name}/status"],
        [("org.integreatly.grafana.v1beta1.GrafanaDatasource", ("x-kubernetes-group-version-kind", "type",
                                                               "required", "properties"))])
    doc("apis/k0rdent.mirantis.com/v1alpha1",
        ["/apis/k0rdent.mirantis.com/v1alpha1/namespaces/{namespace}/clusterdeployments/{name}"],
        [("com.mirantis.k0rdent.v1alpha1.ClusterDeployment", ("x-kubernetes-group-version-kind", "type",
                                                              "required", "properties"))])
    s.req("/openapi/v3 unknown", "GET", "/openapi/v3/apis/nothing.example.com/v1")
    s.req("/openapi/v2 (json)", "GET", "/openapi/v2", pick=lambda b: {
        "swagger": b.get("swagger"),
        "gvk": {n: d.get("x-kubernetes-group-version-kind") for n, d in b.get("definitions", {}).items()
                if n in ("io.k8s.api.core.v1.ConfigMap", "io.k8s.api.apps.v1.Deployment",
                         "org.integreatly.grafana.v1beta1.GrafanaDatasource",
                         "com.mirantis.k0rdent.v1alpha1.ClusterDeployment")},
        "patch": {p: sorted(i.get("patch", {}).get("consumes", [])) for p, i in b.get("paths", {}).items()
                  if p in ("/api/v1/namespaces/{namespace}/configmaps/{name}",
                           "/apis/grafana.integreatly.org/v1beta1/namespaces/{namespace}/grafanadatasources/{name}")}})


# ------------------------------------------------------------------------------------------ per kind
def kind_case(k):
    def case(s):
        ns = f"kind-{k.plural}"[:63] if k.namespaced else None
        if ns:
            s.ensure_ns(ns, wait_sa=k.plural == "pods")
        name = {"customresourcedefinitions": "gadgets.conformance.kofsim.io",
                "namespaces": "kind-namespace-a"}.get(k.plural, f"cf-{k.kind.lower()}")
        labels = {LABEL: k.plural, "tier": "one"}
        obj = k.obj(name, ns, labels)
        coll = k.collection(ns)
        path = k.path(ns, name)
        P = _list_pick
        c = s.req("create", "POST", coll, obj, pick=P)
        if c.status != 201:
            return
        create_rv = (c.json.get("metadata") or {}).get("resourceVersion")
        if k.plural == "customresourcedefinitions":
            s.wait("CRD established", lambda: any(
                x.get("type") == "Established" and x.get("status") == "True"
                for x in (s.get(path).json.get("status") or {}).get("conditions") or []))
        if k.kind == "Deployment":
            # the deployment controller records the revision on the Deployment (with its status, no new
            # generation); both backends run one: the requests below start once it has
            s.wait("deployment revision", lambda: "deployment.kubernetes.io/revision" in (
                s.get(path).json["metadata"].get("annotations") or {}))
        s.req("create again", "POST", coll, obj)
        s.req("get", "GET", path, pick=P)
        s.req("list by label", "GET", f"{coll}?labelSelector={q(LABEL + '=' + k.plural)}", pick=P)
        s.req("list by set label", "GET", f"{coll}?labelSelector={q(LABEL + ' in (' + k.plural + ',x),tier,!absent')}",
              pick=P)
        s.req("list by field", "GET", f"{coll}?fieldSelector={q('metadata.name=' + name)}", pick=P)
        s.req("list by field !=", "GET", f"{coll}?fieldSelector={q('metadata.name!=' + name)}&labelSelector="
              f"{q(LABEL + '=' + k.plural)}", pick=P)
        watch(s, "initial events + bookmark", f"{coll}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
              f"&allowWatchBookmarks=true&timeoutSeconds=10&fieldSelector={q('metadata.name=' + name)}",
              stop=until_type("BOOKMARK"))
        cur = s.get(path).json
        cur["metadata"].setdefault("labels", {})["updated"] = "put"
        s.req("update", "PUT", path, cur, pick=P)
        stale = copy.deepcopy(c.json)
        stale["metadata"]["labels"]["stale"] = "yes"
        s.req("update with stale resourceVersion", "PUT", path, stale, masks=RV_MASKS)
        s.req("merge patch", "PATCH", path, {"metadata": {"annotations": {"merge": "yes"}}}, ct=MERGE, pick=P)
        s.req("json patch", "PATCH", path, [{"op": "add", "path": "/metadata/labels/jp", "value": "yes"}],
              ct=JSONPATCH, pick=P)
        s.req("strategic merge patch", "PATCH", path, {"metadata": {"labels": {"smp": "yes"}}}, ct=SMP, pick=P)
        s.req("merge patch with stale resourceVersion", "PATCH", path,
              {"metadata": {"resourceVersion": create_rv, "labels": {"x": "y"}}}, ct=MERGE, masks=RV_MASKS)
        if k.plural == "customresourcedefinitions":
            # every update of a CRD makes kube-apiserver rebuild the custom resources' storage; deleting it at once
            # can meet "could not list instances: storage is (re)initializing" (a transient of the real server)
            time.sleep(2)
        s.req("delete", "DELETE", path, pick=P)
        watch(s, "resume from create", f"{coll}?watch=1&resourceVersion={create_rv}&timeoutSeconds=10"
              f"&fieldSelector={q('metadata.name=' + name)}", stop=until_type("DELETED"))
        if k.plural == "namespaces":
            s.wait_gone(path)
        elif k.plural == "customresourcedefinitions":
            s.wait_gone(path)
        s.req("get after delete", "GET", path)
    case.__name__ = f"kind {k.kind}"
    return case


# ------------------------------------------------------------------------------------------ watches
def case_watch(s):
    ns = "watch"
    s.ensure_ns(ns)
    coll = f"/api/v1/namespaces/{ns}/configmaps"
    sel = q(f"{LABEL}=watch")
    lst = s.req("list", "GET", f"{coll}?labelSelector={sel}")
    rv0 = lst.json["metadata"]["resourceVersion"]
    for i in range(3):
        s.req(f"create w{i}", "POST", coll, {"metadata": {"name": f"w{i}", "labels": {LABEL: "watch",
                                                                                     "n": str(i)}},
                                              "data": {"i": str(i)}})
    s.req("update w1", "PATCH", f"{coll}/w1", {"data": {"i": "one"}}, ct=MERGE)
    s.req("delete w2", "DELETE", f"{coll}/w2")
    watch(s, "resume from list rv", f"{coll}?watch=1&resourceVersion={rv0}&timeoutSeconds=10&labelSelector={sel}",
          stop=lambda evs: len(evs) >= 5)
    watch(s, "resume, label n=1", f"{coll}?watch=1&resourceVersion={rv0}&timeoutSeconds=10&labelSelector="
          f"{q('n=1')}", stop=lambda evs: len(evs) >= 2)
    watch(s, "resume, field name=w0", f"{coll}?watch=1&resourceVersion={rv0}&timeoutSeconds=10&fieldSelector="
          f"{q('metadata.name=w0')}", stop=lambda evs: len(evs) >= 1)
    watch(s, "legacy (no rv) initial state", f"{coll}?watch=1&timeoutSeconds=10&labelSelector={sel}",
          stop=lambda evs: len(evs) >= 2)
    watch(s, "rv=0 with bookmarks", f"{coll}?watch=1&resourceVersion=0&allowWatchBookmarks=true&timeoutSeconds=10"
          f"&labelSelector={sel}", stop=until_type("BOOKMARK"))
    watch(s, "sendInitialEvents", f"{coll}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
          f"&allowWatchBookmarks=true&timeoutSeconds=10&labelSelector={sel}", stop=until_type("BOOKMARK"))
    watch(s, "single object path", f"/api/v1/watch/namespaces/{ns}/configmaps/w0?resourceVersion={rv0}"
          f"&timeoutSeconds=10", stop=lambda evs: len(evs) >= 1)
    cur = s.get(f"{coll}?labelSelector={sel}").json["metadata"]["resourceVersion"]
    watch(s, "timeoutSeconds=1, nothing happens", f"{coll}?watch=1&resourceVersion={cur}&timeoutSeconds=1"
          f"&allowWatchBookmarks=true&labelSelector={sel}", timing=(0.8, 2.5), deadline=6)
    # live: events arrive while the watch is open
    box = {}

    def run():
        box["r"] = _watch_stop(s, f"{coll}?watch=1&resourceVersion={cur}&timeoutSeconds=10&labelSelector={sel}",
                               lambda evs: len(evs) >= 3, 10)
    th = threading.Thread(target=run)
    th.start()
    time.sleep(0.5)
    s.req("live create", "POST", coll, {"metadata": {"name": "live", "labels": {LABEL: "watch"}}})
    s.req("live patch", "PATCH", f"{coll}/live", {"data": {"k": "v"}}, ct=MERGE)
    s.req("live delete", "DELETE", f"{coll}/live")
    th.join()
    st, evs, _ = box["r"]
    s.check("WATCH live events", {"code": st, "events": evs})
    s.req("watch with bad selector", "GET", f"{coll}?watch=1&labelSelector={q('a b c')}")
    s.req("watch with resourceVersionMatch and no sendInitialEvents", "GET",
          f"{coll}?watch=1&resourceVersionMatch=NotOlderThan")
    s.req("watch sendInitialEvents without resourceVersionMatch", "GET", f"{coll}?watch=1&sendInitialEvents=true")
    s.req("list sendInitialEvents", "GET", f"{coll}?sendInitialEvents=true")
    s.req("list resourceVersionMatch without rv", "GET", f"{coll}?resourceVersionMatch=NotOlderThan")
    s.req("list too large rv", "GET", f"{coll}?resourceVersion=99999999", masks=RV_MASKS)
    watch(s, "too large rv", f"{coll}?watch=1&resourceVersion=99999999&timeoutSeconds=1", timing=(0.8, 4.5),
          deadline=8)


# ------------------------------------------------------------------------------------------ pagination
def case_pagination(s):
    ns = "pages"
    s.ensure_ns(ns)
    coll = f"/api/v1/namespaces/{ns}/configmaps"
    for i in range(5):
        s.conn.request("POST", coll, {"metadata": {"name": f"p{i}", "labels": {LABEL: "pages"}}})
    sel = q(f"{LABEL}=pages")
    r1 = s.req("page 1 (no selector)", "GET", f"{coll}?limit=2")
    tok = r1.json["metadata"].get("continue", "")
    r2 = s.req("page 2", "GET", f"{coll}?limit=2&continue={q(tok)}")
    tok2 = r2.json["metadata"].get("continue", "")
    s.req("page 3", "GET", f"{coll}?limit=2&continue={q(tok2)}")
    s.req("page 1 with label selector", "GET", f"{coll}?limit=2&labelSelector={sel}")
    s.req("continue with resourceVersion", "GET", f"{coll}?limit=2&continue={q(tok)}&resourceVersion=5")
    s.req("bad continue token", "GET", f"{coll}?limit=2&continue=not-a-token")
    s.req("bad limit", "GET", f"{coll}?limit=abc")
    s.req("all namespaces by label", "GET", f"/api/v1/configmaps?labelSelector={sel}")


# ------------------------------------------------------------------------------------------ concurrency
def case_concurrency(s):
    ns = "occ"
    s.ensure_ns(ns)
    coll = f"/api/v1/namespaces/{ns}/configmaps"
    c = s.req("create", "POST", coll, {"metadata": {"name": "occ"}, "data": {"v": "1"}}).json
    a = copy.deepcopy(c)
    a["data"]["v"] = "2"
    s.req("update with current rv", "PUT", f"{coll}/occ", a)
    b = copy.deepcopy(c)
    b["data"]["v"] = "3"
    s.req("update with stale rv", "PUT", f"{coll}/occ", b, masks=RV_MASKS)
    u = copy.deepcopy(c)
    u["metadata"].pop("resourceVersion")
    u["data"]["v"] = "4"
    s.req("built-in update without rv (unconditional)", "PUT", f"{coll}/occ", u)
    s.req("update name mismatch", "PUT", f"{coll}/occ", dict(u, metadata={"name": "other"}))
    s.req("update missing object", "PUT", f"{coll}/nothing", dict(u, metadata={"name": "nothing"}))
    s.req("json patch test op fails", "PATCH", f"{coll}/occ", [{"op": "test", "path": "/data/v", "value": "x"}],
          ct=JSONPATCH)
    s.req("json patch remove missing path", "PATCH", f"{coll}/occ", [{"op": "remove", "path": "/data/zz"}],
          ct=JSONPATCH)
    s.req("no-op merge patch keeps rv", "PATCH", f"{coll}/occ", {"data": {"v": "4"}}, ct=MERGE)
    # custom resources need a resourceVersion on update
    wns = "occ"
    s.conn.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", test_crd())
    _wait_crd(s, "widgets.conformance.kofsim.io")
    wc = f"/apis/conformance.kofsim.io/v1/namespaces/{wns}/widgets"
    w = s.req("create widget", "POST", wc, {"apiVersion": "conformance.kofsim.io/v1", "kind": "Widget",
                                            "metadata": {"name": "w"}, "spec": {"size": "small"}}).json
    w2 = copy.deepcopy(w)
    w2["metadata"].pop("resourceVersion")
    s.req("custom resource update without rv", "PUT", f"{wc}/w", w2)
    w3 = copy.deepcopy(w)
    w3["spec"]["replicas"] = 3
    s.req("custom resource update with rv", "PUT", f"{wc}/w", w3)
    s.req("custom resource update with stale rv", "PUT", f"{wc}/w", w3, masks=RV_MASKS)


def _wait_crd(s, name):
    path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
    s.wait(f"CRD {name}", lambda: any(x.get("type") == "Established" and x.get("status") == "True"
                                      for x in ((s.get(path).json or {}).get("status") or {}).get("conditions") or []))
    crd = s.get(path).json
    g, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
    for v in crd["spec"]["versions"]:
        s.wait(f"{plural} served", lambda: s.get(f"/apis/{g}/{v['name']}").status == 200 and plural in {
            r["name"] for r in s.get(f"/apis/{g}/{v['name']}").json.get("resources", [])})


# ------------------------------------------------------------------------------------------ SSA
def case_apply(s):
    ns = "ssa"
    s.ensure_ns(ns)
    cm = f"/api/v1/namespaces/{ns}/configmaps"
    body = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\n  labels:\n    a: one\ndata:\n  k1: v1\n  k2: v2\n"
    s.req("apply creates", "PATCH", f"{cm}/ssa?fieldManager=alice", body, ct=APPLY)
    s.req("apply again (no-op)", "PATCH", f"{cm}/ssa?fieldManager=alice", body, ct=APPLY)
    other = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  k1: changed\n  k3: v3\n"
    s.req("apply conflict", "PATCH", f"{cm}/ssa?fieldManager=bob", other, ct=APPLY)
    s.req("apply conflict, force=false", "PATCH", f"{cm}/ssa?fieldManager=bob&force=false", other, ct=APPLY)
    s.req("apply force", "PATCH", f"{cm}/ssa?fieldManager=bob&force=true", other, ct=APPLY)
    shrink = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  k2: v2\n"
    s.req("apply drops fields it stops applying", "PATCH", f"{cm}/ssa?fieldManager=alice", shrink, ct=APPLY)
    s.req("apply without fieldManager", "PATCH", f"{cm}/ssa", shrink, ct=APPLY)
    s.req("apply dry run", "PATCH", f"{cm}/ssa?fieldManager=carol&dryRun=All",
          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  k9: v9\n", ct=APPLY)
    s.req("get after apply", "GET", f"{cm}/ssa")
    s.req("update by another manager", "PUT", f"{cm}/ssa", dict(s.get(f"{cm}/ssa").json, data={"k2": "upd",
                                                                                              "k3": "v3"}))
    s.req("apply after update conflicts", "PATCH", f"{cm}/ssa?fieldManager=alice",
          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  k2: mine\n", ct=APPLY)
    s.req("apply wrong kind", "PATCH", f"{cm}/ssa?fieldManager=alice",
          "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ssa\n", ct=APPLY)
    s.req("apply name mismatch", "PATCH", f"{cm}/ssa?fieldManager=alice",
          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n", ct=APPLY)
    s.req("apply unknown field", "PATCH", f"{cm}/ssa2?fieldManager=alice",
          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa2\nbogus: 1\n", ct=APPLY)
    s.req("apply unknown field, Strict", "PATCH", f"{cm}/ssa2?fieldManager=alice&fieldValidation=Strict",
          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa2\nbogus: 1\n", ct=APPLY)
    s.req("apply invalid yaml", "PATCH", f"{cm}/ssa2?fieldManager=alice", "a: [b\n", ct=APPLY)
    # deployments: associative lists (containers by name)
    dp = f"/apis/apps/v1/namespaces/{ns}/deployments"
    dep = ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels:\n"
           "      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n"
           "      - name: web\n        image: registry.example/web:1\n")
    P = _list_pick
    s.req("apply deployment", "PATCH", f"{dp}/web?fieldManager=alice", dep, ct=APPLY, pick=P)
    side = ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n"
            "      containers:\n      - name: sidecar\n        image: registry.example/side:1\n")
    s.req("apply another container (merge by name)", "PATCH", f"{dp}/web?fieldManager=bob", side, ct=APPLY, pick=P)
    s.req("apply image conflict", "PATCH", f"{dp}/web?fieldManager=bob",
          side.replace("sidecar", "web").replace("side:1", "web:2"), ct=APPLY)
    # custom resources: list-map and set, conflicts, force
    s.conn.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", test_crd())
    _wait_crd(s, "widgets.conformance.kofsim.io")
    wc = f"/apis/conformance.kofsim.io/v1/namespaces/{ns}/widgets"
    w = ("apiVersion: conformance.kofsim.io/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  size: small\n"
         "  tags: [a, b]\n  ports:\n  - name: http\n    port: 80\n")
    s.req("apply widget", "PATCH", f"{wc}/w?fieldManager=alice", w, ct=APPLY)
    w2 = ("apiVersion: conformance.kofsim.io/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  tags: [c]\n"
          "  ports:\n  - name: https\n    port: 443\n")
    s.req("apply widget by bob (list-map, set)", "PATCH", f"{wc}/w?fieldManager=bob", w2, ct=APPLY)
    s.req("apply widget conflict", "PATCH", f"{wc}/w?fieldManager=bob",
          w2.replace("tags: [c]", "size: large"), ct=APPLY)
    s.req("apply widget force", "PATCH", f"{wc}/w?fieldManager=bob&force=true",
          w2.replace("tags: [c]", "size: medium"), ct=APPLY)
    s.req("apply widget unknown field", "PATCH", f"{wc}/w?fieldManager=bob",
          w2 + "  bogus: 1\n", ct=APPLY)
    s.req("apply widget status is ignored on main resource", "PATCH", f"{wc}/w?fieldManager=bob",
          w2 + "status:\n  phase: Ready\n", ct=APPLY)
    s.req("apply widget status subresource", "PATCH", f"{wc}/w/status?fieldManager=ctl",
          "apiVersion: conformance.kofsim.io/v1\nkind: Widget\nmetadata:\n  name: w\nstatus:\n  phase: Ready\n",
          ct=APPLY)


# ------------------------------------------------------------------------------------------ status
def case_status(s):
    ns = "status"
    s.ensure_ns(ns)
    s.conn.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", test_crd())
    _wait_crd(s, "widgets.conformance.kofsim.io")
    wc = f"/apis/conformance.kofsim.io/v1/namespaces/{ns}/widgets"
    w = s.req("create with status (dropped)", "POST", wc, {
        "apiVersion": "conformance.kofsim.io/v1", "kind": "Widget", "metadata": {"name": "st"},
        "spec": {"size": "small"}, "status": {"phase": "Created"}}).json
    st = copy.deepcopy(w)
    st["status"] = {"phase": "Ready", "replicas": 1}
    st["spec"]["replicas"] = 5
    r = s.req("PUT /status changes only status", "PUT", f"{wc}/st/status", st)
    cur = r.json
    cur["status"] = {"phase": "Hacked"}
    cur["spec"]["replicas"] = 2
    r = s.req("PUT main keeps status, bumps generation", "PUT", f"{wc}/st", cur)
    s.req("merge patch /status", "PATCH", f"{wc}/st/status", {"status": {"replicas": 2}, "spec": {"size": "large"}},
          ct=MERGE)
    s.req("merge patch main with status", "PATCH", f"{wc}/st", {"status": {"phase": "X"},
                                                                 "metadata": {"labels": {"l": "1"}}}, ct=MERGE)
    s.req("get /status", "GET", f"{wc}/st/status")
    s.req("get /scale", "GET", f"{wc}/st/scale")
    s.req("patch /scale", "PATCH", f"{wc}/st/scale", {"spec": {"replicas": 4}}, ct=MERGE)
    s.req("get after scale", "GET", f"{wc}/st")
    s.req("unknown subresource", "GET", f"{wc}/st/bogus")
    # built-in: a Service's status, a Deployment's
    svc = f"/api/v1/namespaces/{ns}/services"
    sv = s.req("service create", "POST", svc, {"metadata": {"name": "svc"}, "spec": {
        "ports": [{"port": 80}], "selector": {"app": "x"}}}).json
    sv["status"] = {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}
    sv["spec"]["ports"][0]["port"] = 81
    s.req("service PUT /status", "PUT", f"{svc}/svc/status", sv)
    s.req("service get", "GET", f"{svc}/svc")
    ns_obj = s.get(f"/api/v1/namespaces/{ns}").json
    ns_obj["status"] = {"phase": "Terminating"}
    s.req("namespace PUT main ignores status", "PUT", f"/api/v1/namespaces/{ns}", ns_obj)


# ------------------------------------------------------------------------------------------ deletion
def case_deletion(s):
    ns = "del"
    s.ensure_ns(ns)
    cm = f"/api/v1/namespaces/{ns}/configmaps"
    s.req("create with finalizer", "POST", cm, {"metadata": {"name": "fin", "finalizers": ["example.com/hold"]}})
    s.req("delete with finalizer", "DELETE", f"{cm}/fin")
    s.req("get terminating", "GET", f"{cm}/fin")
    s.req("delete again", "DELETE", f"{cm}/fin")
    s.req("add finalizer while terminating", "PATCH", f"{cm}/fin",
          {"metadata": {"finalizers": ["example.com/hold", "example.com/new"]}}, ct=MERGE)
    s.req("update while terminating", "PATCH", f"{cm}/fin", {"data": {"a": "b"}}, ct=MERGE)
    s.req("remove finalizer", "PATCH", f"{cm}/fin", {"metadata": {"finalizers": None}}, ct=MERGE)
    s.req("get after finalizer removed", "GET", f"{cm}/fin")
    s.req("delete missing", "DELETE", f"{cm}/fin")
    own = s.req("owner", "POST", cm, {"metadata": {"name": "owner"}}).json
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": own["metadata"]["uid"],
           "blockOwnerDeletion": True}
    s.req("dependent", "POST", cm, {"metadata": {"name": "dep", "ownerReferences": [ref]}})
    s.req("delete precondition uid mismatch", "DELETE", f"{cm}/owner",
          {"kind": "DeleteOptions", "apiVersion": "v1",
           "preconditions": {"uid": "00000000-0000-0000-0000-000000000000"}})
    s.req("delete precondition rv mismatch", "DELETE", f"{cm}/owner",
          {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"resourceVersion": "1"}}, masks=RV_MASKS)
    s.req("delete dry run", "DELETE", f"{cm}/owner?dryRun=All")
    s.req("get after dry-run delete", "GET", f"{cm}/owner")
    s.req("delete bad propagationPolicy", "DELETE", f"{cm}/owner", {"propagationPolicy": "Sideways"})
    s.req("delete foreground", "DELETE", f"{cm}/owner", {"kind": "DeleteOptions", "apiVersion": "v1",
                                                          "propagationPolicy": "Foreground"})
    s.wait_gone(f"{cm}/dep")
    s.wait_gone(f"{cm}/owner")
    s.req("dependent gone (foreground)", "GET", f"{cm}/dep")
    own = s.conn.request("POST", cm, {"metadata": {"name": "owner2"}}).json
    ref = dict(ref, name="owner2", uid=own["metadata"]["uid"])
    s.conn.request("POST", cm, {"metadata": {"name": "dep2", "ownerReferences": [ref]}})
    s.req("delete orphan", "DELETE", f"{cm}/owner2?propagationPolicy=Orphan")
    s.wait_gone(f"{cm}/owner2")
    s.wait("orphaned dependent released", lambda: not s.get(f"{cm}/dep2").json["metadata"].get("ownerReferences"))
    s.req("orphaned dependent", "GET", f"{cm}/dep2")
    own = s.conn.request("POST", cm, {"metadata": {"name": "owner3"}}).json
    ref = dict(ref, name="owner3", uid=own["metadata"]["uid"])
    s.conn.request("POST", cm, {"metadata": {"name": "dep3", "ownerReferences": [ref]}})
    s.req("delete background", "DELETE", f"{cm}/owner3", {"propagationPolicy": "Background"})
    s.wait_gone(f"{cm}/dep3")
    s.req("dependent gone (background)", "GET", f"{cm}/dep3")
    for i in range(3):
        s.conn.request("POST", cm, {"metadata": {"name": f"c{i}", "labels": {"batch": "x"}}})
    s.req("deletecollection by label", "DELETE", f"{cm}?labelSelector=batch%3Dx")
    s.req("list after deletecollection", "GET", f"{cm}?labelSelector=batch%3Dx")
    s.req("deletecollection on namespaces", "DELETE", "/api/v1/namespaces")
    # custom resource with a finalizer
    s.conn.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", test_crd())
    _wait_crd(s, "widgets.conformance.kofsim.io")
    wc = f"/apis/conformance.kofsim.io/v1/namespaces/{ns}/widgets"
    s.req("widget with finalizer", "POST", wc, {"apiVersion": "conformance.kofsim.io/v1", "kind": "Widget",
                                                "metadata": {"name": "wf", "finalizers": ["example.com/hold"]},
                                                "spec": {"size": "small"}})
    s.req("delete widget with finalizer", "DELETE", f"{wc}/wf")
    s.req("release widget", "PATCH", f"{wc}/wf", [{"op": "remove", "path": "/metadata/finalizers"}], ct=JSONPATCH)
    s.req("widget gone", "GET", f"{wc}/wf")
    # namespace deletion
    s.ensure_ns("del-ns")
    s.conn.request("POST", "/api/v1/namespaces/del-ns/configmaps", {"metadata": {"name": "x"}})
    s.req("delete namespace", "DELETE", "/api/v1/namespaces/del-ns")
    s.req("create in terminating namespace", "POST", "/api/v1/namespaces/del-ns/configmaps",
          {"metadata": {"name": "y"}})
    s.wait_gone("/api/v1/namespaces/del-ns")
    s.req("namespace gone", "GET", "/api/v1/namespaces/del-ns")


# ------------------------------------------------------------------------------------------ validation
def case_validation(s):
    ns = "valid"
    s.ensure_ns(ns)
    cm = f"/api/v1/namespaces/{ns}/configmaps"
    unknown = {"metadata": {"name": "u1", "labelz": {"a": "b"}}, "data": {"a": "b"}, "spec": {"x": 1}}
    s.req("unknown fields, default (Warn)", "POST", cm, unknown)
    s.req("unknown fields, Strict", "POST", f"{cm}?fieldValidation=Strict", dict(unknown, metadata={
        "name": "u2", "labelz": {}}))
    s.req("unknown fields, Ignore", "POST", f"{cm}?fieldValidation=Ignore", dict(unknown, metadata={"name": "u3"}))
    s.req("unknown fields, bad fieldValidation", "POST", f"{cm}?fieldValidation=Loud", {"metadata": {"name": "u4"}})
    s.req("duplicate field, Strict", "POST", f"{cm}?fieldValidation=Strict",
          '{"metadata": {"name": "u5"}, "data": {"a": "1"}, "data": {"b": "2"}}')
    s.req("invalid name", "POST", cm, {"metadata": {"name": "Bad_Name"}})
    s.req("missing name", "POST", cm, {"metadata": {}})
    s.req("generateName", "POST", cm, {"metadata": {"generateName": "gen-"}})
    s.req("bad label value", "POST", cm, {"metadata": {"name": "lbl", "labels": {"a": "not ok!"}}})
    s.req("bad data key", "POST", cm, {"metadata": {"name": "key"}, "data": {"bad key": "x"}})
    s.req("label value not a string", "POST", cm, {"metadata": {"name": "lbl2", "labels": {"a": 1}}})
    s.req("malformed json", "POST", cm, "{not json")
    s.req("wrong kind in body", "POST", cm, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "k"}})
    s.req("wrong apiVersion in body", "POST", cm, {"apiVersion": "apps/v1", "kind": "ConfigMap",
                                                  "metadata": {"name": "k"}})
    s.req("namespace mismatch", "POST", cm, {"metadata": {"name": "k", "namespace": "other"}})
    s.req("resourceVersion on create", "POST", cm, {"metadata": {"name": "k", "resourceVersion": "5"}})
    s.req("create in missing namespace", "POST", "/api/v1/namespaces/nope/configmaps", {"metadata": {"name": "k"}})
    s.req("get in missing namespace", "GET", "/api/v1/namespaces/nope/configmaps/k")
    s.req("unsupported media type", "POST", cm, "a=b", ct="text/plain")
    s.req("PUT on a collection", "PUT", cm, {"metadata": {"name": "k"}})
    s.req("bad label selector", "GET", f"{cm}?labelSelector={q('a in b')}")
    s.req("unsupported field selector", "GET", f"{cm}?fieldSelector={q('data.a=b')}")
    s.req("dryRun bad value", "POST", f"{cm}?dryRun=Yes", {"metadata": {"name": "k"}})
    s.req("dryRun create", "POST", f"{cm}?dryRun=All", {"metadata": {"name": "dry"}, "data": {"a": "1"}})
    s.req("get after dry-run create", "GET", f"{cm}/dry")
    s.conn.request("POST", cm, {"metadata": {"name": "dry2"}, "data": {"a": "1"}})
    s.req("dryRun merge patch", "PATCH", f"{cm}/dry2?dryRun=All", {"data": {"a": "2"}}, ct=MERGE)
    s.req("get after dry-run patch", "GET", f"{cm}/dry2")
    # built-in validation
    dp = f"/apis/apps/v1/namespaces/{ns}/deployments"
    s.req("deployment selector mismatch", "POST", dp, {"metadata": {"name": "bad"}, "spec": {
        "selector": {"matchLabels": {"app": "a"}}, "template": {"metadata": {"labels": {"app": "b"}},
                                                                "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
    s.req("deployment without containers", "POST", dp, {"metadata": {"name": "bad2"}, "spec": {
        "selector": {"matchLabels": {"app": "a"}}, "template": {"metadata": {"labels": {"app": "a"}},
                                                                "spec": {"containers": []}}}})
    s.req("service without ports", "POST", f"/api/v1/namespaces/{ns}/services", {"metadata": {"name": "noports"},
                                                                                 "spec": {}})
    s.req("secret bad base64", "POST", f"/api/v1/namespaces/{ns}/secrets", {"metadata": {"name": "b64"},
                                                                            "data": {"a": "%%%"}})
    s.req("immutable configmap", "POST", cm, {"metadata": {"name": "imm"}, "data": {"a": "1"}, "immutable": True})
    s.req("change immutable configmap", "PATCH", f"{cm}/imm", {"data": {"a": "2"}}, ct=MERGE)
    # StatefulSets: only replicas, ordinals, template, updateStrategy, revisionHistoryLimit,
    # persistentVolumeClaimRetentionPolicy and minReadySeconds may change (a chart changing its claim template fails)
    sts = f"/apis/apps/v1/namespaces/{ns}/statefulsets"
    s.req("statefulset with a claim template", "POST", sts, {"metadata": {"name": "db"}, "spec": {
        "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
        "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}})
    s.req("statefulset replicas and minReadySeconds change", "PATCH", f"{sts}/db",
          {"spec": {"replicas": 2, "minReadySeconds": 5}}, ct=MERGE)
    s.req("statefulset claim template size change", "PATCH", f"{sts}/db", {"spec": {"volumeClaimTemplates": [
        {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                "resources": {"requests": {"storage": "2Gi"}}}}]}}, ct=MERGE)
    s.req("statefulset claim template storage class", "PATCH", f"{sts}/db", {"spec": {"volumeClaimTemplates": [
        {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast",
                                                "resources": {"requests": {"storage": "1Gi"}}}}]}}, ct=MERGE)
    s.req("statefulset serviceName change", "PATCH", f"{sts}/db", {"spec": {"serviceName": "other"}}, ct=MERGE)
    s.req("statefulset selector change", "PATCH", f"{sts}/db", {"spec": {
        "selector": {"matchLabels": {"app": "db", "x": "y"}},
        "template": {"metadata": {"labels": {"app": "db", "x": "y"}}}}}, ct=MERGE)
    s.req("rolebinding roleRef change", "POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
          {"metadata": {"name": "rb"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                                   "name": "a"}, "subjects": []})
    s.req("rolebinding roleRef change 2", "PATCH", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings/rb",
          {"roleRef": {"name": "b"}}, ct=MERGE)


# ------------------------------------------------------------------------------------------ CRD schemas
def case_schema(s):
    ns = "schema"
    s.ensure_ns(ns)
    s.conn.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", test_crd())
    _wait_crd(s, "widgets.conformance.kofsim.io")
    wc = f"/apis/conformance.kofsim.io/v1/namespaces/{ns}/widgets"
    base = {"apiVersion": "conformance.kofsim.io/v1", "kind": "Widget"}

    def w(name, spec, **extra):
        return dict(base, metadata={"name": name}, spec=spec, **extra)
    s.req("defaults", "POST", wc, w("d", {"size": "small"}))
    s.req("pruning (Warn)", "POST", wc, w("p", {"size": "small", "bogus": 1, "extra": {"kept": True}},
                                          top=1))
    s.req("pruning, Strict", "POST", f"{wc}?fieldValidation=Strict", w("p2", {"size": "small", "bogus": 1}))
    s.req("pruning, Ignore", "POST", f"{wc}?fieldValidation=Ignore", w("p3", {"size": "small", "bogus": 1}))
    s.req("unknown metadata field, Strict", "POST", f"{wc}?fieldValidation=Strict",
          dict(base, metadata={"name": "m1", "labelz": {}}, spec={"size": "small"}))
    s.req("enum", "POST", wc, w("e", {"size": "huge"}))
    s.req("required", "POST", wc, w("r", {"replicas": 1}))
    s.req("type", "POST", wc, w("t", {"size": "small", "replicas": "three"}))
    s.req("minimum", "POST", wc, w("m", {"size": "small", "replicas": -1}))
    s.req("pattern and maxLength", "POST", wc, w("pt", {"size": "small", "owner": "Not-Lower-And-Long"}))
    s.req("int-or-string", "POST", wc, w("ios", {"size": "small", "port": "http"}))
    s.req("int-or-string wrong type", "POST", wc, w("ios2", {"size": "small", "port": True}))
    s.req("several errors", "POST", wc, w("many", {"size": "huge", "replicas": "x", "owner": "UP"}))
    s.req("null field", "POST", wc, w("nul", {"size": "small", "owner": None}))
    s.req("set list duplicate", "POST", wc, w("dup", {"size": "small", "tags": ["a", "a"]}))
    s.req("map list duplicate key", "POST", wc, w("dupk", {"size": "small", "ports": [{"name": "a", "port": 1},
                                                                                       {"name": "a", "port": 2}]}))
    s.req("dry run with defaults", "POST", f"{wc}?dryRun=All", w("dr", {"size": "medium"}))
    s.req("strategic merge patch on a custom resource", "PATCH", f"{wc}/d", {"spec": {"replicas": 2}}, ct=SMP)
    s.req("table of widgets", "GET", wc, accept=TABLE, pick=_pick_table)
    s.req("table of configmaps", "GET", f"/api/v1/namespaces/{ns}/configmaps?labelSelector=none", accept=TABLE,
          pick=_pick_table)
    s.req("table of one widget", "GET", f"{wc}/d", accept=TABLE, pick=_pick_table)
    s.req("list by short-name kind via category", "GET", f"{wc}?labelSelector={q('!absent')}")


def _pick_table(b):
    if not isinstance(b, dict) or b.get("kind") != "Table":
        return b
    cols = b.get("columnDefinitions", [])
    # ages depend on the clock
    keep = [i for i, c in enumerate(cols) if "date" not in (c.get("format"), c.get("type")) and c.get("name") != "Age"]
    rows = [{"cells": [r["cells"][i] for i in keep if i < len(r["cells"])],
             "object": r.get("object")} for r in b.get("rows", [])]
    return dict(b, rows=rows)


# ------------------------------------------------------------------------------------------ CEL
def case_cel(s):
    ns = "cel"
    s.ensure_ns(ns)
    s.conn.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", test_crd())
    _wait_crd(s, "widgets.conformance.kofsim.io")
    wc = f"/apis/conformance.kofsim.io/v1/namespaces/{ns}/widgets"
    base = {"apiVersion": "conformance.kofsim.io/v1", "kind": "Widget"}
    s.req("rule with fieldPath and reason", "POST", wc, dict(base, metadata={"name": "big"},
                                                             spec={"size": "small", "replicas": 11}))
    s.req("messageExpression", "POST", wc, dict(base, metadata={"name": "lock"},
                                                spec={"size": "small", "mode": "locked"}))
    s.req("valid", "POST", wc, dict(base, metadata={"name": "ok"}, spec={"size": "small", "mode": "locked",
                                                                            "owner": "me"})).json
    s.req("transition rule (size is immutable)", "PATCH", f"{wc}/ok", {"spec": {"size": "large"}}, ct=MERGE)
    s.req("transition rule, allowed change", "PATCH", f"{wc}/ok", {"spec": {"replicas": 3}}, ct=MERGE)
    s.req("dry run runs rules", "POST", f"{wc}?dryRun=All", dict(base, metadata={"name": "big2"},
                                                                 spec={"size": "small", "replicas": 12}))
    # kcm: ClusterTemplateChain / ServiceTemplate spec immutable, chartSpec xor chartRef
    kcm = "/apis/k0rdent.mirantis.com/v1alpha1/namespaces/cel"
    chain = {"apiVersion": "k0rdent.mirantis.com/v1alpha1", "kind": "ClusterTemplateChain",
             "metadata": {"name": "chain"}, "spec": {"supportedTemplates": [{"name": "a-0-1-0"}]}}
    s.req("ClusterTemplateChain create", "POST", f"{kcm}/clustertemplatechains", chain)
    s.req("ClusterTemplateChain spec change", "PATCH", f"{kcm}/clustertemplatechains/chain",
          {"spec": {"supportedTemplates": [{"name": "b-0-2-0"}]}}, ct=MERGE)
    s.req("ClusterTemplateChain metadata change", "PATCH", f"{kcm}/clustertemplatechains/chain",
          {"metadata": {"labels": {"a": "b"}}}, ct=MERGE)
    cur = s.get(f"{kcm}/clustertemplatechains/chain").json
    cur["spec"]["supportedTemplates"].append({"name": "c-0-3-0"})
    s.req("ClusterTemplateChain PUT spec change", "PUT", f"{kcm}/clustertemplatechains/chain", cur)
    st = {"apiVersion": "k0rdent.mirantis.com/v1alpha1", "kind": "ServiceTemplate", "metadata": {"name": "st"},
          "spec": {"helm": {"chartSpec": {"chart": "x", "version": "1.0.0",
                                          "sourceRef": {"kind": "HelmRepository", "name": "r"}},
                            "chartRef": {"kind": "HelmChart", "name": "x"}}}}
    s.req("ServiceTemplate chartSpec and chartRef", "POST", f"{kcm}/servicetemplates", st)
    st["spec"]["helm"] = {}
    s.req("ServiceTemplate neither", "POST", f"{kcm}/servicetemplates", st)
    st["spec"]["helm"] = {"chartRef": {"kind": "HelmChart", "name": "x"}}
    s.req("ServiceTemplate chartRef only", "POST", f"{kcm}/servicetemplates", st)
    s.req("ServiceTemplate spec change", "PATCH", f"{kcm}/servicetemplates/st",
          {"spec": {"helm": {"chartRef": {"name": "y"}}}}, ct=MERGE)
    # grafana-operator: value immutability (a transition rule on a field), exclusive fields
    g = f"/apis/grafana.integreatly.org/v1beta1/namespaces/{ns}"
    ds = {"apiVersion": "grafana.integreatly.org/v1beta1", "kind": "GrafanaDatasource", "metadata": {"name": "ds"},
          "spec": {"uid": "fixed", "instanceSelector": {"matchLabels": {"a": "b"}},
                   "datasource": {"name": "p", "type": "prometheus", "url": "http://p"}}}
    s.req("GrafanaDatasource with uid", "POST", f"{g}/grafanadatasources", ds)
    s.req("GrafanaDatasource uid change", "PATCH", f"{g}/grafanadatasources/ds", {"spec": {"uid": "other"}},
          ct=MERGE)
    s.req("GrafanaDatasource instanceSelector change", "PATCH", f"{g}/grafanadatasources/ds",
          {"spec": {"instanceSelector": {"matchLabels": {"a": "c"}}}}, ct=MERGE)
    fo = {"apiVersion": "grafana.integreatly.org/v1beta1", "kind": "GrafanaFolder", "metadata": {"name": "f"},
          "spec": {"instanceSelector": {"matchLabels": {"a": "b"}}, "parentFolderUID": "u",
                   "parentFolderRef": "r"}}
    s.req("GrafanaFolder both parents", "POST", f"{g}/grafanafolders", fo)
    db = {"apiVersion": "grafana.integreatly.org/v1beta1", "kind": "GrafanaDashboard", "metadata": {"name": "d"},
          "spec": {"instanceSelector": {"matchLabels": {"a": "b"}}, "json": "{}", "folderUID": "u",
                   "folderRef": "r"}}
    s.req("GrafanaDashboard folderUID and folderRef", "POST", f"{g}/grafanadashboards", db)
    db["spec"] = {"instanceSelector": {"matchLabels": {"a": "b"}}, "json": "{}", "folder": "f", "folderUID": "u"}
    s.req("GrafanaDashboard folder and folderUID", "POST", f"{g}/grafanadashboards", db)
    gr = {"apiVersion": "grafana.integreatly.org/v1beta1", "kind": "Grafana", "metadata": {"name": "gr"},
          "spec": {"external": {"url": "https://g", "tls": {"insecureSkipVerify": True,
                                                               "certSecretRef": {"name": "c"}}}}}
    s.req("Grafana insecureSkipVerify and certSecretRef", "POST", f"{g}/grafanas", gr)


# ------------------------------------------------------------------------------------------ misc reads
def case_errors(s):
    s.req("get missing", "GET", "/api/v1/namespaces/default/configmaps/nothing")
    s.req("get missing cluster-scoped", "GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/nothing")
    s.req("get missing custom resource", "GET",
          "/apis/config.projectsveltos.io/v1beta1/clusterprofiles/nothing")
    s.req("namespaced path for cluster kind", "GET", "/api/v1/namespaces/default/nodes/x")
    s.req("POST to an object path", "POST", "/api/v1/namespaces/default/configmaps/x", {"metadata": {"name": "x"}})
    s.req("PATCH with no content type", "PATCH", "/api/v1/namespaces/default/configmaps/nothing", "{}",
          ct="text/plain")
    s.req("namespace finalize subresource of missing", "PUT", "/api/v1/namespaces/nothing/finalize",
          {"metadata": {"name": "nothing"}})
    s.req("list nodes", "GET", "/api/v1/nodes", pick=lambda b: {"kind": b.get("kind"), "apiVersion": b.get(
        "apiVersion")})
    s.req("list namespaces by name", "GET", f"/api/v1/namespaces?fieldSelector={q('metadata.name=default')}")
    s.req("list kube-system namespace by label", "GET",
          f"/api/v1/namespaces?labelSelector={q('kubernetes.io/metadata.name=kube-system')}")
    s.req("default service account", "GET", "/api/v1/namespaces/default/serviceaccounts/default")
    s.req("kube-root-ca.crt", "GET", "/api/v1/namespaces/default/configmaps/kube-root-ca.crt",
          pick=lambda b: {k: v for k, v in b.items() if k != "data"} | {
              "data keys": sorted((b.get("data") or {}).keys())})
    s.req("selfsubjectaccessreview", "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
          {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
           "spec": {"resourceAttributes": {"verb": "get", "resource": "configmaps", "namespace": "default"}}},
          pick=lambda b: {"kind": b.get("kind"), "allowed": (b.get("status") or {}).get("allowed")})


def raw_cases():
    out = [("discovery", case_discovery), ("openapi", case_openapi)]
    for k in builtin_kinds() + custom_kinds():
        out.append((f"kind {k.kind}", kind_case(k)))
    out += [("watch", case_watch), ("pagination", case_pagination), ("concurrency", case_concurrency),
            ("server-side apply", case_apply), ("status subresource", case_status), ("deletion", case_deletion),
            ("validation", case_validation), ("CRD schemas", case_schema), ("CEL", case_cel),
            ("errors and reads", case_errors)]
    return out


def all_cases():
    from .clients import client_cases
    return raw_cases() + client_cases()


class _Lazy:
    def __iter__(self):
        return iter(all_cases())


CASES = _Lazy()
