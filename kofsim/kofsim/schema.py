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
            res.errors.append((path, "FieldValueInvalid",
                               f'Invalid value: "{type(value).__name__}": {path} in body must be of type int-or-string'))
        return
    t = schema.get("type")
    if t:
        ok = (_is_int(value) if t == "integer" else _is_num(value) if t == "number"
              else isinstance(value, _TYPES.get(t, object)))
        if not ok:
            got = ("object" if isinstance(value, dict) else "array" if isinstance(value, list) else
                   "boolean" if isinstance(value, bool) else "integer" if _is_int(value) else
                   "number" if _is_num(value) else "string")
            res.errors.append((path, "FieldValueTypeInvalid",
                               f'Invalid value: "{got}": {path} in body must be of type {t}: "{got}"'))
            return
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(f'"{e}"' for e in schema["enum"])
        res.errors.append((path, "FieldValueNotSupported",
                           f'Unsupported value: {_q(value)}: supported values: {allowed}'))
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            res.errors.append((path, "FieldValueInvalid",
                               f'Invalid value: {_q(value)}: {path} in body should match \'{schema["pattern"]}\''))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            res.errors.append((path, "FieldValueTooLong",
                               f"Too long: may not be more than {schema['maxLength']} bytes"))
        if "minLength" in schema and len(value) < schema["minLength"]:
            res.errors.append((path, "FieldValueInvalid",
                               f"Invalid value: {_q(value)}: {path} in body should be at least "
                               f"{schema['minLength']} chars long"))
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
                if name not in props:
                    if isinstance(addl, dict):
                        _walk(value[name], addl, f"{path}.{name}", res, value, name)
                    elif not schema.get("x-kubernetes-preserve-unknown-fields") and addl is not True:
                        res.unknown.append(f"{path}.{name}")
                        del value[name]
            _defaults(value, schema)
            for name, sub in props.items():
                if name in value:
                    _walk(value[name], sub, f"{path}.{name}", res, value, name)
        elif isinstance(addl, dict):
            for name in list(value.keys()):
                _walk(value[name], addl, f"{path}.{name}", res, value, name)
        elif not schema.get("x-kubernetes-preserve-unknown-fields") and addl is not True and t == "object":
            for name in list(value.keys()):
                res.unknown.append(f"{path}.{name}")
                del value[name]
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
