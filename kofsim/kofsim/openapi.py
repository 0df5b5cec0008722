"""OpenAPI v3 (and v2 as JSON) documents, shaped as kube-apiserver publishes them.

Built-in group-versions serve the real server's own documents (openapi_builtin.json.gz, descriptions dropped),
limited to the resources kofsim serves. CRD group-versions are generated as apiextensions-apiserver's builder
does: the same operations, operation ids, parameters and schema names (reversed group + version + kind), the
CRD's structural schema with apiVersion, kind and metadata set to the standard ones.
"""
from __future__ import annotations

import hashlib
import json

from aiohttp import web

from . import errors as E
from . import schema as S
from .fastcopy import clone

META = "io.k8s.apimachinery.pkg.apis.meta.v1"
REF = "#/components/schemas/"
API_VERSION_DESC = ("APIVersion defines the versioned schema of this representation of an object. Servers should "
                    "convert recognized schemas to the latest internal value, and may reject unrecognized values. "
                    "More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"
                    "#resources")
KIND_DESC = ("Kind is a string value representing the REST resource this object represents. Servers may infer this "
             "from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: "
             "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds")
METADATA_DESC = ("Standard object's metadata. More info: "
                 "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata")
LIST_PARAMS = ["allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit", "resourceVersion",
               "resourceVersionMatch", "sendInitialEvents", "shardSelector", "timeoutSeconds", "watch"]
WRITE_PARAMS = ["dryRun", "fieldManager", "fieldValidation"]
PATCH_PARAMS = ["dryRun", "fieldManager", "fieldValidation", "force"]
DELETE_PARAMS = ["dryRun", "gracePeriodSeconds", "ignoreStoreReadErrorWithClusterBreakingPotential",
                 "orphanDependents", "propagationPolicy"]
_PARAM_TYPES = {"allowWatchBookmarks": "boolean", "sendInitialEvents": "boolean", "watch": "boolean",
                "force": "boolean", "limit": "integer", "timeoutSeconds": "integer", "gracePeriodSeconds": "integer",
                "orphanDependents": "boolean", "ignoreStoreReadErrorWithClusterBreakingPotential": "boolean"}
META_SCHEMAS = ("DeleteOptions", "FieldsV1", "ListMeta", "ManagedFieldsEntry", "ObjectMeta", "OwnerReference",
                "Patch", "Preconditions", "ShardInfo", "Status", "StatusCause", "StatusDetails", "Time")


def _param(name: str) -> dict:
    return {"name": name, "in": "query", "schema": {"type": _PARAM_TYPES.get(name, "string"), "uniqueItems": True}}


def _gv_key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def schema_name(group: str, version: str, kind: str) -> str:
    """The definition name of a custom kind: the group reversed (grafana.integreatly.org -> org.integreatly.grafana)."""
    return ".".join(reversed(group.split("."))) + f".{version}.{kind}"


def _camel(s: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in s.replace("-", ".").split(".") if p)


# ------------------------------------------------------------------------------------------ index
def openapi_index(c) -> dict:
    cached = c.extra.get("openapi_index")
    if cached and cached[0] == c.registry.generation:
        return cached[1]
    paths = {}
    for g in c.registry.group_names():
        for v in c.registry.groups[g]:
            doc = openapi_doc(c, _gv_key(g, v))
            if doc is None:
                continue
            digest = hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest().upper()
            paths[_gv_key(g, v)] = {"serverRelativeURL": f"/openapi/v3/{_gv_key(g, v)}?hash={digest}"}
    out = {"paths": dict(sorted(paths.items()))}
    c.extra["openapi_index"] = (c.registry.generation, out)
    return out


# ------------------------------------------------------------------------------------------ documents
def openapi_doc(c, gv_path: str) -> dict | None:
    parts = gv_path.strip("/").split("/")
    if parts[0] == "api" and len(parts) == 2:
        group, version = "", parts[1]
    elif parts[0] == "apis" and len(parts) == 3:
        group, version = parts[1], parts[2]
    else:
        return None
    rts = c.registry.resources(group, version)
    if not rts:
        return None
    cache = c.extra.setdefault("openapi_docs", {})
    hit = cache.get(gv_path)
    if hit and hit[0] == c.registry.generation:
        return hit[1]
    if all(rt.builtin for rt in rts):
        doc = _builtin_doc(c, group, version, rts)
    else:
        doc = _crd_doc(c, group, version, [rt for rt in rts if not rt.builtin])
    cache[gv_path] = (c.registry.generation, doc)
    return doc


def _served_path(path: str, prefix: str, served: dict) -> bool:
    rest = path[len(prefix):].strip("/").split("/")
    if rest and rest[0] == "watch":
        rest = rest[1:]
    if len(rest) >= 2 and rest[0] == "namespaces" and rest[1] == "{namespace}" and len(rest) > 2:
        rest = rest[2:]
    if not rest or not rest[0]:
        return False
    plural = rest[0]
    if plural == "namespaces" and len(rest) == 1 and "namespaces" in served:
        return True
    if plural not in served:
        return False
    sub = rest[2] if len(rest) > 2 else None
    return sub is None or sub in served[plural]


def _builtin_doc(c, group, version, rts) -> dict:
    real = (S.builtin_openapi().get("docs") or {}).get(_gv_key(group, version))
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    if real is None:
        return _minimal_doc(c, group, version, rts)
    served = {rt.plural: set((["status"] if rt.status else []) + (["scale"] if rt.scale else [])
                             + list(rt.extra_subresources)) for rt in rts}
    paths = {p: item for p, item in real["paths"].items() if _served_path(p, prefix, served)}
    return {"openapi": real.get("openapi", "3.0.0"), "info": real.get("info") or {"title": "Kubernetes",
                                                                                  "version": c.k8s_version},
            "paths": paths, "components": {"schemas": real["schemas"]}}


def _minimal_doc(c, group, version, rts) -> dict:
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": c.k8s_version}, "paths": {},
            "components": {"schemas": {}}}


def _op(op_id, action, gvk, params, group_tag, response_ref=None, body=False, patch=False):
    op = {"tags": [group_tag], "operationId": op_id, "x-kubernetes-action": action,
          "x-kubernetes-group-version-kind": gvk, "parameters": [_param(p) for p in params],
          "responses": {"200": {"description": "OK"}, "401": {"description": "Unauthorized"}}}
    if response_ref:
        content = {"application/json": {"schema": {"$ref": REF + response_ref}},
                   "application/yaml": {"schema": {"$ref": REF + response_ref}}}
        op["responses"]["200"]["content"] = content
    if patch:
        op["requestBody"] = {"content": {ct: {"schema": {"$ref": REF + f"{META}.Patch"}} for ct in (
            "application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json")},
            "required": True}
    elif body and response_ref:
        op["requestBody"] = {"content": {"*/*": {"schema": {"$ref": REF + response_ref}}}, "required": True}
    return op


def _path_params(names) -> list:
    return [{"name": n, "in": "path", "required": True, "schema": {"type": "string", "uniqueItems": True}}
            for n in names] + [_param("pretty")]


def _crd_doc(c, group, version, rts) -> dict:
    paths, schemas = {}, {}
    tag = _camel(group)[:1].lower() + _camel(group)[1:] + "_" + version
    gvc = _camel(group) + _camel(version)
    core = (S.builtin_openapi().get("docs") or {}).get("api/v1", {}).get("schemas", {})
    for name in META_SCHEMAS:
        if f"{META}.{name}" in core:
            schemas[f"{META}.{name}"] = core[f"{META}.{name}"]
    for rt in sorted(rts, key=lambda r: r.plural):
        gvk = {"group": group, "version": version, "kind": rt.kind}
        name = schema_name(group, version, rt.kind)
        base = f"/apis/{group}/{version}"
        ns = "Namespaced" if rt.namespaced else ""
        coll = f"{base}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else f"{base}/{rt.plural}"
        item = f"{coll}/{{name}}"
        if rt.namespaced:
            paths[f"{base}/{rt.plural}"] = {
                "get": _op(f"list{gvc}{rt.kind}ForAllNamespaces", "list", gvk, [], tag, name + "List"),
                "parameters": [_param(p) for p in LIST_PARAMS[:5] + ["pretty"] + LIST_PARAMS[5:]]}
        paths[coll] = {
            "get": _op(f"list{gvc}{ns}{rt.kind}", "list", gvk, LIST_PARAMS, tag, name + "List"),
            "post": _op(f"create{gvc}{ns}{rt.kind}", "post", gvk, WRITE_PARAMS, tag, name, body=True),
            "delete": _op(f"delete{gvc}Collection{ns}{rt.kind}", "deletecollection", gvk, LIST_PARAMS, tag,
                          f"{META}.Status"),
            "parameters": _path_params(["namespace"] if rt.namespaced else [])}
        names = ["name", "namespace"] if rt.namespaced else ["name"]
        paths[item] = {
            "get": _op(f"read{gvc}{ns}{rt.kind}", "get", gvk, ["resourceVersion"], tag, name),
            "put": _op(f"replace{gvc}{ns}{rt.kind}", "put", gvk, WRITE_PARAMS, tag, name, body=True),
            "delete": _op(f"delete{gvc}{ns}{rt.kind}", "delete", gvk, DELETE_PARAMS, tag, f"{META}.Status",
                          body=True),
            "patch": _op(f"patch{gvc}{ns}{rt.kind}", "patch", gvk, PATCH_PARAMS, tag, name, patch=True),
            "parameters": _path_params(names)}
        subs = (["status"] if rt.status else []) + (["scale"] if rt.scale else [])
        for sub in subs:
            sgvk = gvk if sub == "status" else {"group": "autoscaling", "version": "v1", "kind": "Scale"}
            ref = name if sub == "status" else "io.k8s.api.autoscaling.v1.Scale"
            suffix = _camel(sub)
            paths[f"{item}/{sub}"] = {
                "get": _op(f"read{gvc}{ns}{rt.kind}{suffix}", "get", sgvk, ["resourceVersion"], tag, ref),
                "put": _op(f"replace{gvc}{ns}{rt.kind}{suffix}", "put", sgvk, WRITE_PARAMS, tag, ref, body=True),
                "patch": _op(f"patch{gvc}{ns}{rt.kind}{suffix}", "patch", sgvk, PATCH_PARAMS, tag, ref, patch=True),
                "parameters": _path_params(names)}
        sch = clone(c.storage_rt(rt).schema if c.storage_rt(rt).version == rt.version else rt.schema) or {}
        props = dict(sch.get("properties") or {})
        props["apiVersion"] = {"description": API_VERSION_DESC, "type": "string"}
        props["kind"] = {"description": KIND_DESC, "type": "string"}
        props["metadata"] = {"description": METADATA_DESC, "allOf": [{"$ref": REF + f"{META}.ObjectMeta"}]}
        sch["properties"] = props
        sch.setdefault("type", "object")
        sch["x-kubernetes-group-version-kind"] = [gvk]
        schemas[name] = sch
        schemas[name + "List"] = {
            "description": f"{rt.kind}List is a list of {rt.kind}", "type": "object", "required": ["items"],
            "properties": {"apiVersion": {"description": API_VERSION_DESC, "type": "string"},
                           "items": {"description": f"List of {rt.plural}. More info: https://git.k8s.io/community/"
                                                    "contributors/devel/sig-architecture/api-conventions.md",
                                     "type": "array", "items": {"$ref": REF + name}},
                           "kind": {"description": KIND_DESC, "type": "string"},
                           "metadata": {"description": "Standard list metadata. More info: https://git.k8s.io/"
                                                       "community/contributors/devel/sig-architecture/"
                                                       "api-conventions.md#types-kinds",
                                        "allOf": [{"$ref": REF + f"{META}.ListMeta"}]}},
            "x-kubernetes-group-version-kind": [dict(gvk, kind=rt.kind + "List")]}
        if rt.scale:
            autoscaling = (S.builtin_openapi().get("docs") or {}).get("apis/autoscaling/v1", {}).get("schemas", {})
            for n in ("io.k8s.api.autoscaling.v1.Scale", "io.k8s.api.autoscaling.v1.ScaleSpec",
                      "io.k8s.api.autoscaling.v1.ScaleStatus"):
                if n in autoscaling:
                    schemas[n] = autoscaling[n]
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes CRD Swagger", "version": "v0.1.0"},
            "paths": dict(sorted(paths.items())), "components": {"schemas": dict(sorted(schemas.items()))}}


# ------------------------------------------------------------------------------------------ v2
def _v3_to_v2(x):
    if isinstance(x, dict):
        out = {}
        for k, v in x.items():
            if k == "$ref" and isinstance(v, str):
                out[k] = v.replace(REF, "#/definitions/")
            elif k == "allOf" and isinstance(v, list) and len(v) == 1 and "$ref" in v[0]:
                out["$ref"] = v[0]["$ref"].replace(REF, "#/definitions/")
            else:
                out[k] = _v3_to_v2(v)
        return out
    if isinstance(x, list):
        return [_v3_to_v2(v) for v in x]
    return x


def openapi_v2(c, request) -> web.StreamResponse:
    """/openapi/v2 as JSON (kofsim cannot encode the protobuf form: other media types get 406)."""
    accept = request.headers.get("Accept", "")
    if accept and not any(a.split(";")[0].strip() in ("application/json", "*/*", "")
                          for a in accept.split(",")):
        raise E.ApiError(406, "NotAcceptable", "only the following media types are accepted: application/json")
    cached = c.extra.get("openapi_v2")
    if not cached or cached[0] != c.registry.generation:
        paths, defs = {}, {}
        for g in c.registry.group_names():
            for v in c.registry.groups[g]:
                doc = openapi_doc(c, _gv_key(g, v))
                if doc is None:
                    continue
                for name, sch in doc["components"]["schemas"].items():
                    defs.setdefault(name, _v3_to_v2(sch))
                for p, item in doc["paths"].items():
                    out = {}
                    for m, op in item.items():
                        if m == "parameters" or not isinstance(op, dict):
                            continue
                        o = {k: _v3_to_v2(val) for k, val in op.items() if k not in ("requestBody", "responses")}
                        if "requestBody" in op:
                            o["consumes"] = list(op["requestBody"].get("content", {}).keys())
                        out[m] = o
                    paths[p] = out
        body = json.dumps({"swagger": "2.0", "info": {"title": "Kubernetes", "version": c.k8s_version},
                           "paths": paths, "definitions": defs}, separators=(",", ":")).encode()
        cached = c.extra["openapi_v2"] = (c.registry.generation, body)
    return web.Response(body=cached[1], headers={"Content-Type": "application/json"})
