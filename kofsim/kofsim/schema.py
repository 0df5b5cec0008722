"""Structural-schema handling of custom resources, as kube-apiserver does it: defaulting, pruning of
unknown fields, and validation (type, required, enum, nullable, int-or-string, pattern, bounds)."""
from __future__ import annotations

import re

from .fastcopy import clone

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool}


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v):
    return (isinstance(v, (int, float))) and not isinstance(v, bool)


class Result:
    def __init__(self):
        self.errors: list[tuple[str, str, str]] = []   # (field, reason, message)
        self.unknown: list[str] = []


def process(obj: dict, schema: dict | None) -> Result:
    """Default, prune and validate `obj` in place against an openAPIV3Schema (root of a CR)."""
    res = Result()
    if not schema:
        return res
    props = schema.get("properties") or {}
    for name in list(obj.keys()):
        if name in ("apiVersion", "kind", "metadata"):
            continue
        if name not in props and not schema.get("x-kubernetes-preserve-unknown-fields"):
            res.unknown.append(name)
            del obj[name]
        elif name in props:
            _prune(obj[name], props[name], name, res)
    _defaults(obj, schema)
    for name, sub in props.items():
        if name in ("apiVersion", "kind", "metadata"):
            continue
        if name in obj:
            _walk(obj[name], sub, name, res, obj, name)
    for req in schema.get("required") or []:
        if req not in obj and req not in ("apiVersion", "kind", "metadata"):
            res.errors.append((req, "FieldValueRequired", "Required value"))
    return res


def _prune(value, schema, path, res: Result):
    """Pruning of fields the schema does not declare, in document order (what the decoder reports)."""
    if not isinstance(schema, dict) or schema.get("x-kubernetes-int-or-string"):
        return
    if isinstance(value, dict):
        props = schema.get("properties")
        addl = schema.get("additionalProperties")
        if schema.get("x-kubernetes-embedded-resource") or schema.get("x-kubernetes-preserve-unknown-fields"):
            if not props:
                return
        for name in list(value.keys()):
            if props is not None and name in props:
                _prune(value[name], props[name], f"{path}.{name}", res)
            elif isinstance(addl, dict):
                _prune(value[name], addl, f"{path}.{name}", res)
            elif schema.get("x-kubernetes-preserve-unknown-fields") or addl is True:
                continue
            elif props is not None or schema.get("type") == "object":
                res.unknown.append(f"{path}.{name}")
                del value[name]
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _prune(item, schema["items"], f"{path}[{i}]", res)


def _go_type(value) -> str:
    return ("object" if isinstance(value, dict) else "array" if isinstance(value, list) else
            "boolean" if isinstance(value, bool) else "integer" if _is_int(value) else
            "number" if _is_num(value) else "string" if isinstance(value, str) else "null")


def _defaults(obj, schema):
    for name, sub in (schema.get("properties") or {}).items():
        if name not in obj and isinstance(sub, dict) and "default" in sub:
            obj[name] = clone(sub["default"])


def _walk(value, schema, path, res: Result, parent, key):
    if not isinstance(schema, dict):
        return
    if value is None:
        if schema.get("nullable"):
            return
        # kube-apiserver drops explicit nulls of non-nullable fields during pruning/defaulting
        if isinstance(parent, dict):
            parent.pop(key, None)
        return
    if schema.get("x-kubernetes-int-or-string"):
        if not (_is_int(value) or isinstance(value, str)):
            got = _go_type(value)
            res.errors.append((path, "FieldValueTypeInvalid",
                               f'Invalid value: "{got}": {path} in body must be of type integer,string: "{got}"'))
        return
    t = schema.get("type")
    if t:
        ok = (_is_int(value) if t == "integer" else _is_num(value) if t == "number"
              else isinstance(value, _TYPES.get(t, object)))
        if not ok:
            got = _go_type(value)
            res.errors.append((path, "FieldValueTypeInvalid",
                               f'Invalid value: "{got}": {path} in body must be of type {t}: "{got}"'))
            return
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(f'"{e}"' for e in schema["enum"])
        res.errors.append((path, "FieldValueNotSupported",
                           f'Unsupported value: {_q(value)}: supported values: {allowed}'))
    if isinstance(value, str):
        # kube-openapi's string validator stops at the first failure: maxLength, minLength, pattern
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            res.errors.append((path, "FieldValueTooLong",
                               f"Too long: may not be more than {schema['maxLength']} bytes"))
        elif "minLength" in schema and len(value) < schema["minLength"]:
            res.errors.append((path, "FieldValueInvalid",
                               f"Invalid value: {_q(value)}: {path} in body should be at least "
                               f"{schema['minLength']} chars long"))
        elif "pattern" in schema and not re.search(schema["pattern"], value):
            res.errors.append((path, "FieldValueInvalid",
                               f'Invalid value: {_q(value)}: {path} in body should match \'{schema["pattern"]}\''))
    if _is_num(value):
        if "minimum" in schema and value < schema["minimum"]:
            res.errors.append((path, "FieldValueInvalid", f"Invalid value: {value}: {path} in body should be "
                               f"greater than or equal to {schema['minimum']}"))
        if "maximum" in schema and value > schema["maximum"]:
            res.errors.append((path, "FieldValueInvalid", f"Invalid value: {value}: {path} in body should be "
                               f"less than or equal to {schema['maximum']}"))
    if isinstance(value, dict):
        if schema.get("x-kubernetes-embedded-resource") or schema.get("x-kubernetes-preserve-unknown-fields"):
            props = schema.get("properties")
            if not props:
                return
        props = schema.get("properties")
        addl = schema.get("additionalProperties")
        if props is not None:
            for name in list(value.keys()):
                if name not in props and isinstance(addl, dict):
                    _walk(value[name], addl, f"{path}.{name}", res, value, name)
            _defaults(value, schema)
            for name, sub in props.items():
                if name in value:
                    _walk(value[name], sub, f"{path}.{name}", res, value, name)
        elif isinstance(addl, dict):
            for name in list(value.keys()):
                _walk(value[name], addl, f"{path}.{name}", res, value, name)
        for req in schema.get("required") or []:
            if req not in value:
                res.errors.append((f"{path}.{req}", "FieldValueRequired", "Required value"))
    elif isinstance(value, list):
        items = schema.get("items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            res.errors.append((path, "FieldValueTooMany", f"Too many: {len(value)}: must have at most "
                               f"{schema['maxItems']} items"))
        if isinstance(items, dict):
            for i, item in enumerate(list(value)):
                _walk(item, items, f"{path}[{i}]", res, value, i)
            # nulls removed from lists by _walk leave holes; compact them
            value[:] = [v for v in value if v is not None or items.get("nullable")]
        lt = schema.get("x-kubernetes-list-type")
        if lt in ("set", "map"):
            keys = schema.get("x-kubernetes-list-map-keys") or []
            seen = []
            for i, item in enumerate(value):
                ident = item if lt == "set" else ({k: item.get(k) for k in keys if k in item}
                                                  if isinstance(item, dict) else item)
                if ident in seen:
                    shown = _json.dumps(ident, separators=(",", ":"), sort_keys=True)
                    res.errors.append((f"{path}[{i}]", "FieldValueDuplicate", f"Duplicate value: {shown}"))
                else:
                    seen.append(ident)


def _q(v):
    return f'"{v}"' if isinstance(v, str) else str(v)


# ------------------------------------------------------------------- built-in kinds: known top-level fields
# kofsim carries no full schema of the built-in kinds; it knows their top-level fields and ObjectMeta, which
# is where unknown-field mistakes (a `spec` in a ConfigMap, `metadata.label`) are caught by the apiserver.
OBJECT_META_FIELDS = {"name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
                      "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
                      "annotations", "ownerReferences", "finalizers", "managedFields"}
_SPEC_STATUS = {"spec", "status"}
BUILTIN_FIELDS = {
    ("", "configmaps"): {"data", "binaryData", "immutable"},
    ("", "secrets"): {"data", "stringData", "type", "immutable"},
    ("", "serviceaccounts"): {"secrets", "imagePullSecrets", "automountServiceAccountToken"},
    ("", "events"): {"involvedObject", "reason", "message", "source", "firstTimestamp", "lastTimestamp", "count",
                     "type", "eventTime", "series", "action", "related", "reportingComponent",
                     "reportingInstance"},
    ("", "endpoints"): {"subsets"},
    ("", "limitranges"): {"spec"},
    ("apps", "controllerrevisions"): {"data", "revision"},
    ("rbac.authorization.k8s.io", "roles"): {"rules"},
    ("rbac.authorization.k8s.io", "clusterroles"): {"rules", "aggregationRule"},
    ("rbac.authorization.k8s.io", "rolebindings"): {"subjects", "roleRef"},
    ("rbac.authorization.k8s.io", "clusterrolebindings"): {"subjects", "roleRef"},
    ("storage.k8s.io", "storageclasses"): {"provisioner", "parameters", "reclaimPolicy", "mountOptions",
                                           "allowVolumeExpansion", "volumeBindingMode", "allowedTopologies"},
    ("networking.k8s.io", "ingressclasses"): {"spec"},
    ("networking.k8s.io", "networkpolicies"): {"spec"},
    ("scheduling.k8s.io", "priorityclasses"): {"value", "globalDefault", "description", "preemptionPolicy"},
    ("coordination.k8s.io", "leases"): {"spec"},
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"): {"webhooks"},
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"): {"webhooks"},
    ("discovery.k8s.io", "endpointslices"): {"addressType", "endpoints", "ports"},
    ("events.k8s.io", "events"): {"eventTime", "series", "reportingController", "reportingInstance", "action",
                                  "reason", "regarding", "related", "note", "type", "deprecatedSource",
                                  "deprecatedFirstTimestamp", "deprecatedLastTimestamp", "deprecatedCount"},
}


def unknown_builtin_fields(rt, obj: dict) -> list[str]:
    """Unknown top-level and ObjectMeta fields of a built-in kind's object, as dotted paths."""
    allowed = BUILTIN_FIELDS.get((rt.group, rt.plural), _SPEC_STATUS)
    out = [k for k in obj if k not in ("apiVersion", "kind", "metadata") and k not in allowed]
    return out + unknown_meta_fields(obj)


def unknown_meta_fields(obj: dict) -> list[str]:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return []
    return [f"metadata.{k}" for k in meta if k not in OBJECT_META_FIELDS]


def drop_fields(obj: dict, paths: list[str]) -> None:
    for path in paths:
        parts = path.split(".")
        node = obj
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(parts[-1], None)


# ------------------------------------------------------------------- typed schemas (built-ins and CRDs)
# kube-apiserver's field manager (structured-merge-diff) walks objects with a schema: which fields are structs,
# maps, associative lists (and their keys), sets, atomic values. Built-in kinds take theirs from the real
# server's OpenAPI v3 documents (openapi_builtin.json.gz, made by kofsim.conformance.gen_openapi); custom
# resources from their CRD's structural schema.
import gzip as _gzip
import json as _json
from pathlib import Path as _Path

_BUILTIN_FILE = _Path(__file__).with_name("openapi_builtin.json.gz")
_BUILTIN = None


def builtin_openapi() -> dict:
    """{"kubernetes": version, "docs": {"api/v1": {"paths", "schemas", ...}, "apis/apps/v1": ...}}"""
    global _BUILTIN
    if _BUILTIN is None:
        try:
            _BUILTIN = _json.loads(_gzip.decompress(_BUILTIN_FILE.read_bytes()))
        except FileNotFoundError:
            _BUILTIN = {"kubernetes": "", "docs": {}}
    return _BUILTIN


class Node:
    """A resolved schema node. kind: "struct" (properties), "map" (additionalProperties), "list", "scalar" or
    "any" (no type: deduced from the value, as structured-merge-diff does)."""
    __slots__ = ("s", "schemas", "kind", "atomic", "list_type", "keys", "_fields", "_elem", "builtin")

    def __init__(self, s: dict, schemas: dict | None, builtin: bool):
        self.s, self.schemas, self.builtin = s, schemas, builtin
        self._fields = {}
        self._elem = None
        t = s.get("type")
        if s.get("x-kubernetes-int-or-string"):
            self.kind = "scalar"
        elif "properties" in s:
            self.kind = "struct"
        elif isinstance(s.get("additionalProperties"), dict) or s.get("additionalProperties") is True:
            self.kind = "map"
        elif t == "object":
            # no properties, no additionalProperties: an empty struct (or anything, when unknown fields are kept)
            self.kind = "any" if s.get("x-kubernetes-preserve-unknown-fields") else "struct"
        elif t == "array":
            self.kind = "list"
        elif t in ("string", "integer", "number", "boolean"):
            self.kind = "scalar"
        else:
            self.kind = "any"
        self.atomic = s.get("x-kubernetes-map-type") == "atomic"
        self.list_type, self.keys = "atomic", ()
        if self.kind == "list":
            lt = s.get("x-kubernetes-list-type")
            if lt == "map":
                self.list_type, self.keys = "map", tuple(s.get("x-kubernetes-list-map-keys") or ())
            elif lt == "set":
                self.list_type = "set"
            elif lt is None and builtin and s.get("x-kubernetes-patch-strategy") in ("merge", "merge,retainKeys") \
                    and s.get("x-kubernetes-patch-merge-key"):
                self.list_type, self.keys = "map", (s["x-kubernetes-patch-merge-key"],)
            self.atomic = self.list_type == "atomic"

    def field(self, name: str):
        """The node of field `name` (None: not declared)."""
        if name in self._fields:
            return self._fields[name]
        sub = None
        props = self.s.get("properties")
        if props is not None and name in props:
            sub = resolve(props[name], self.schemas, self.builtin)
        else:
            ap = self.s.get("additionalProperties")
            if isinstance(ap, dict):
                sub = resolve(ap, self.schemas, self.builtin)
            elif self.kind in ("any",) or ap is True or (self.kind == "map" and ap is None):
                sub = ANY
        self._fields[name] = sub
        return sub

    def elem(self):
        if self._elem is None:
            items = self.s.get("items")
            self._elem = resolve(items, self.schemas, self.builtin) if isinstance(items, dict) else ANY
        return self._elem

    def present_in_empty(self) -> set:
        """Fields an empty object of this struct type carries (Go non-omitempty fields and value structs)."""
        if self.kind != "struct":
            return set()
        req = set(self.s.get("required") or ())
        return {k for k, v in (self.s.get("properties") or {}).items() if "default" in v or k in req}


_RESOLVED: dict = {}
# Go types that hold arbitrary JSON (no schema below them)
OPAQUE_TYPES = {"FieldsV1", "RawExtension", "JSON", "JSONSchemaPropsOrBool", "JSONSchemaPropsOrArray",
                "JSONSchemaPropsOrStringArray"}


def resolve(s: dict, schemas: dict | None, builtin: bool) -> Node:
    """A Node for schema `s` ($ref and allOf: [$ref] followed; sibling keys such as default kept)."""
    key = (id(s), builtin)
    hit = _RESOLVED.get(key)
    if hit is not None and hit[0] is s:
        return hit[1]
    merged = s
    ref = s.get("$ref")
    if ref is None and isinstance(s.get("allOf"), list) and len(s["allOf"]) == 1 and "$ref" in s["allOf"][0]:
        ref = s["allOf"][0]["$ref"]
    if ref and schemas is not None:
        tname = ref.rsplit("/", 1)[-1]
        target = schemas.get(tname, {})
        merged = dict(target)
        for k, v in s.items():
            if k not in ("$ref", "allOf"):
                merged[k] = v
        if tname.rsplit(".", 1)[-1] in OPAQUE_TYPES:
            merged = {"x-kubernetes-preserve-unknown-fields": True, "type": "object"}
    node = Node(merged, schemas, builtin)
    _RESOLVED[key] = (s, node)
    return node


ANY = Node({}, None, False)


class BuiltinTypes:
    """Schemas of the built-in kinds by (group, version, kind)."""

    def __init__(self):
        self._roots = {}
        data = builtin_openapi()["docs"]
        for gv, doc in data.items():
            for name, sch in doc["schemas"].items():
                for gvk in sch.get("x-kubernetes-group-version-kind") or []:
                    key = (gvk.get("group", ""), gvk.get("version"), gvk.get("kind"))
                    if "properties" in sch and key not in self._roots:
                        self._roots[key] = (sch, doc["schemas"])

    def root(self, group: str, version: str, kind: str) -> Node | None:
        hit = self._roots.get((group, version, kind))
        if hit is None:
            return None
        return resolve(hit[0], hit[1], True)


_BUILTIN_TYPES = None


def builtin_types() -> BuiltinTypes:
    global _BUILTIN_TYPES
    if _BUILTIN_TYPES is None:
        _BUILTIN_TYPES = BuiltinTypes()
    return _BUILTIN_TYPES


def type_root(rt, schema: dict | None = None) -> Node:
    """The root Node of objects of `rt`: a built-in kind's OpenAPI schema or a CRD's structural schema."""
    if rt.builtin:
        node = builtin_types().root(rt.group, rt.version, rt.kind)
        return node if node is not None else ANY
    if schema is None:
        return ANY
    return resolve(schema, None, False)


def zero_object(node: Node, depth: int = 0):
    """What an empty Go object of a built-in kind serializes to: its non-omitempty fields (structs as their own
    zero objects, slices and pointers as null)."""
    if node.kind != "struct" or depth > 12:
        return {}
    out = {}
    req = set(node.s.get("required") or ())
    for k, v in (node.s.get("properties") or {}).items():
        if "default" in v:
            d = v["default"]
            sub = node.field(k)
            if d == {} and sub is not None and sub.kind == "struct":
                out[k] = zero_object(sub, depth + 1)
            else:
                out[k] = clone(d)
        elif k in req:
            out[k] = None
    return out


def unknown_typed_fields(value, node: Node, path: str, out: list) -> None:
    """Paths of fields `node`'s schema does not declare (built-in kinds: at any depth), in document order."""
    if node is None or node.kind == "any":
        return
    if node.kind == "struct" and isinstance(value, dict):
        for k, v in value.items():
            sub = node.field(k)
            p = f"{path}.{k}" if path else k
            if sub is None:
                out.append(p)
            elif v is not None:
                unknown_typed_fields(v, sub, p, out)
    elif node.kind == "map" and isinstance(value, dict):
        elem = node.field("")
        if elem is not None and elem.kind in ("struct", "list", "map"):
            for k, v in value.items():
                unknown_typed_fields(v, elem, f"{path}.{k}" if path else k, out)
    elif node.kind == "list" and isinstance(value, list):
        elem = node.elem()
        if elem.kind in ("struct", "list", "map"):
            for i, v in enumerate(value):
                unknown_typed_fields(v, elem, f"{path}[{i}]", out)


def drop_empty_omitted(value, node: Node) -> None:
    """Go's encoding drops empty slices and maps (and nulls) of omitempty fields: a built-in object read back
    has no `labels: {}` or `subjects: []`. In place."""
    if node is None or not isinstance(value, dict) or node.kind != "struct":
        return
    props = node.s.get("properties") or {}
    req = node.s.get("required") or ()
    for k in list(value):
        v = value[k]
        sub = node.field(k)
        if sub is None:
            continue
        p = props.get(k, {})
        keep = "default" in p or k in req
        if v is None:
            if not keep:
                del value[k]
            continue
        if isinstance(v, (list, dict)) and not v and sub.kind in ("map", "list") and not keep:
            del value[k]
            continue
        if isinstance(v, dict):
            if sub.kind == "struct":
                drop_empty_omitted(v, sub)
            elif sub.kind == "map":
                elem = sub.field("")
                if elem is not None and elem.kind == "struct":
                    for x in v.values():
                        drop_empty_omitted(x, elem)
        elif isinstance(v, list) and sub.kind == "list":
            elem = sub.elem()
            if elem.kind == "struct":
                for x in v:
                    drop_empty_omitted(x, elem)


def drop_paths(obj: dict, paths: list[str]) -> None:
    """Removes fields given as unknown-field paths (a.b[0].c)."""
    for path in paths:
        parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
        node = obj
        for part in parts[:-1]:
            if part.startswith("["):
                i = int(part[1:-1])
                node = node[i] if isinstance(node, list) and i < len(node) else None
            else:
                node = node.get(part) if isinstance(node, dict) else None
            if node is None:
                break
        if isinstance(node, dict):
            node.pop(parts[-1], None)


_OBJECT_META_REF = {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}


def cr_root(schema: dict) -> Node:
    """A custom resource's root Node: its CRD schema, with metadata typed as ObjectMeta (as the apiserver's
    field manager sees it)."""
    docs = builtin_openapi()["docs"]
    core = (docs.get("api/v1") or {}).get("schemas")
    root = dict(schema or {})
    props = dict(root.get("properties") or {})
    props["metadata"] = _OBJECT_META_REF
    props.setdefault("apiVersion", {"type": "string"})
    props.setdefault("kind", {"type": "string"})
    root["properties"] = props
    root.setdefault("type", "object")
    node = Node(root, core, False)
    return node


def validate_cel(obj: dict, old: dict | None, schema: dict) -> list:
    """x-kubernetes-validations of a CRD schema (cel.py)."""
    from .cel import validate
    return validate(obj, old, schema)
