"""Patch semantics of kube-apiserver: JSON merge (RFC 7386), JSON patch (RFC 6902), strategic merge
(built-in kinds only), and server-side apply with field ownership (managedFields, fieldsV1)."""
from __future__ import annotations

import json

import jsonpatch

from .errors import ApiError
from .fastcopy import clone

# Strategic-merge keys of the built-in kinds, by field name (the apiserver derives them from Go struct tags).
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath", "imagePullSecrets": "name",
    "conditions": "type", "ownerReferences": "uid", "hostAliases": "ip", "secrets": "name",
    "topologySpreadConstraints": "topologyKey", "readinessGates": "conditionType",
    "volumeClaimTemplates": None, "tolerations": None, "envFrom": None, "args": None, "command": None,
}
SET_LISTS = {"finalizers"}  # primitive lists merged as sets


def _merge_key(field: str, items: list) -> str | None:
    if field == "ports":
        sample = next((i for i in items if isinstance(i, dict)), {})
        return "containerPort" if "containerPort" in sample else "port"
    return MERGE_KEYS.get(field)


# ---------------------------------------------------------------------------------------------- merge
def json_merge_patch(target, patch):
    if not isinstance(patch, dict):
        return clone(patch)
    result = clone(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = json_merge_patch(result.get(k), v)
    return result


def json_patch(target, ops):
    if not isinstance(ops, list):
        raise ApiError(400, "BadRequest", "json patch must be an array of operations")
    try:
        return jsonpatch.apply_patch(target, ops)
    except jsonpatch.JsonPatchTestFailed as err:
        raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: {err}")
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, KeyError, IndexError, TypeError) as err:
        raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: {err}")


def strategic_merge_patch(target, patch):
    return _smp(target, patch, "")


def _smp(orig, patch, field):
    if not isinstance(patch, dict):
        return clone(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: clone(v) for k, v in patch.items() if not k.startswith("$")}
    if directive == "delete":
        return None
    result = clone(orig) if isinstance(orig, dict) else {}
    orders = {}
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys"):
            continue
        if k.startswith("$setElementOrder/"):
            orders[k.split("/", 1)[1]] = v
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            name = k.split("/", 1)[1]
            if isinstance(result.get(name), list):
                result[name] = [x for x in result[name] if x not in v]
            continue
        if v is None:
            result.pop(k, None)
        elif isinstance(v, dict):
            merged = _smp(result.get(k), v, k)
            if merged is None:
                result.pop(k, None)
            else:
                result[k] = merged
        elif isinstance(v, list):
            result[k] = _smp_list(k, result.get(k), v)
        else:
            result[k] = v
    if "$retainKeys" in patch:
        keep = set(patch["$retainKeys"])
        result = {k: v for k, v in result.items() if k in keep}
    for name, order in orders.items():
        if isinstance(result.get(name), list):
            result[name] = _reorder(name, result[name], order)
    return result


def _smp_list(field, orig, patch):
    orig = orig if isinstance(orig, list) else []
    if field in SET_LISTS and all(not isinstance(x, (dict, list)) for x in patch):
        out = list(orig)
        for x in patch:
            if x not in out:
                out.append(x)
        return out
    key = _merge_key(field, patch + orig)
    if not key or not all(isinstance(x, dict) for x in patch):
        return [x for x in clone(patch) if not (isinstance(x, dict) and x.get("$patch"))]
    if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
        return [x for x in clone(patch) if not x.get("$patch")]
    out = clone(orig)
    for item in patch:
        ident = item.get(key)
        idx = next((i for i, o in enumerate(out) if isinstance(o, dict) and o.get(key) == ident), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append({k: v for k, v in clone(item).items() if k != "$patch"})
        else:
            out[idx] = _smp(out[idx], item, field)
    return out


def _reorder(field, items, order):
    if not items or not order:
        return items
    if all(not isinstance(x, dict) for x in items):
        ranked = {v: i for i, v in enumerate(order)}
        return sorted(items, key=lambda x: ranked.get(x, len(order)))
    key = _merge_key(field, items)
    if not key:
        return items
    ranked = {o.get(key): i for i, o in enumerate(order) if isinstance(o, dict)}
    return sorted(items, key=lambda x: ranked.get(x.get(key), len(order)))


# -------------------------------------------------------------------------- server-side apply (SSA)
class ListTypes:
    """Tells whether a list at a path is associative (and by which keys), a set, or atomic."""

    def __init__(self, schema: dict | None = None, builtin: bool = True):
        self.schema = schema
        self.builtin = builtin

    def keys_for(self, path: tuple, field: str, items: list, subschema: dict | None):
        if subschema is not None:
            lt = subschema.get("x-kubernetes-list-type")
            if lt == "map":
                return tuple(subschema.get("x-kubernetes-list-map-keys") or ())
            if lt == "set":
                return "set"
            return None
        if not self.builtin:
            return None
        if field in SET_LISTS:
            return "set"
        key = _merge_key(field, items)
        return (key,) if key else None


def _sub(schema, name):
    if not isinstance(schema, dict):
        return None
    props = schema.get("properties")
    if props and name in props:
        return props[name]
    ap = schema.get("additionalProperties")
    return ap if isinstance(ap, dict) else None


def _item_key(item: dict, keys: tuple) -> str:
    return "k:" + json.dumps({k: item.get(k) for k in keys}, separators=(",", ":"), sort_keys=True)


def fieldset(obj: dict, lt: ListTypes, schema=None, path=()) -> set:
    """All field paths set in `obj` (apply configuration semantics). A path is a tuple of
    'f:<name>' / 'k:{...}' / 'v:<json>' elements; a map/list-item path also stands for its own presence."""
    out = set()
    if not isinstance(obj, dict):
        return out
    for name, value in obj.items():
        if path == () and name in ("apiVersion", "kind"):
            continue
        if path == () and name == "metadata":
            meta = value or {}
            for mk in ("labels", "annotations"):
                if meta.get(mk):
                    out.add(("f:metadata",))
                    out.add(("f:metadata", f"f:{mk}"))
                for lk in (meta.get(mk) or {}):
                    out.add(("f:metadata", f"f:{mk}", f"f:{lk}"))
            if meta.get("finalizers"):
                out.add(("f:metadata",))
                out.add(("f:metadata", "f:finalizers"))
            for fz in meta.get("finalizers") or []:
                out.add(("f:metadata", "f:finalizers", "v:" + json.dumps(fz)))
            continue
        p = path + (f"f:{name}",)
        sub = _sub(schema, name)
        out.add(p)
        if isinstance(value, dict):
            if sub is not None and sub.get("x-kubernetes-map-type") == "atomic":
                continue
            out |= fieldset(value, lt, sub, p)
        elif isinstance(value, list):
            items_schema = sub.get("items") if isinstance(sub, dict) else None
            keys = lt.keys_for(p, name, value, sub)
            if keys == "set":
                for v in value:
                    out.add(p + ("v:" + json.dumps(v, sort_keys=True),))
            elif keys and all(isinstance(v, dict) for v in value):
                for v in value:
                    ip = p + (_item_key(v, keys),)
                    out.add(ip)
                    out |= fieldset(v, lt, items_schema, ip)
    return out


def to_fields_v1(paths: set) -> dict:
    tree: dict = {}
    for p in sorted(paths):
        node = tree
        for el in p:
            node = node.setdefault(el, {})
    def mark(node):
        for child in node.values():
            if child:
                mark(child)
                child.setdefault(".", {})  # the field itself is owned too, as in real fieldsV1
    mark(tree)
    return tree


def from_fields_v1(tree: dict, prefix=()) -> set:
    out = set()
    for k, child in (tree or {}).items():
        if k == ".":
            continue
        p = prefix + (k,)
        out.add(p)
        out |= from_fields_v1(child, p)
    return out


def _get_path(obj, path):
    node = obj
    for el in path:
        kind, _, rest = el.partition(":")
        if kind == "f":
            if not isinstance(node, dict) or rest not in node:
                return _MISSING
            node = node[rest]
        elif kind == "k":
            want = json.loads(rest)
            if not isinstance(node, list):
                return _MISSING
            node = next((i for i in node if isinstance(i, dict) and all(i.get(a) == b for a, b in want.items())),
                        _MISSING)
            if node is _MISSING:
                return _MISSING
        elif kind == "v":
            val = json.loads(rest)
            return val if isinstance(node, list) and val in node else _MISSING
    return node


def _remove_path(obj, path):
    parent = _get_path(obj, path[:-1]) if len(path) > 1 else obj
    if parent is _MISSING:
        return
    kind, _, rest = path[-1].partition(":")
    if kind == "f" and isinstance(parent, dict):
        parent.pop(rest, None)
    elif kind == "k" and isinstance(parent, list):
        want = json.loads(rest)
        parent[:] = [i for i in parent if not (isinstance(i, dict) and all(i.get(a) == b for a, b in want.items()))]
    elif kind == "v" and isinstance(parent, list):
        val = json.loads(rest)
        parent[:] = [i for i in parent if i != val]


class _Missing:
    pass


_MISSING = _Missing()


def apply_merge(live, cfg, lt: ListTypes, schema=None, path=()):
    """Merge an apply configuration into the live object: maps merge, associative lists merge by key,
    set lists union, other lists are atomic and replaced."""
    if not isinstance(cfg, dict) or not isinstance(live, dict):
        return clone(cfg)
    out = clone(live)
    for name, value in cfg.items():
        sub = _sub(schema, name) if path != () or name not in ("metadata",) else None
        p = path + (f"f:{name}",)
        if isinstance(value, dict):
            if sub is not None and sub.get("x-kubernetes-map-type") == "atomic":
                out[name] = clone(value)
            else:
                out[name] = apply_merge(out.get(name) if isinstance(out.get(name), dict) else {}, value, lt, sub, p)
        elif isinstance(value, list):
            keys = lt.keys_for(p, name, value, sub) if not (path == ("f:metadata",) and name != "finalizers") else None
            if path == ("f:metadata",) and name == "finalizers":
                keys = "set"
            current = out.get(name) if isinstance(out.get(name), list) else []
            if keys == "set":
                merged = list(current)
                for v in value:
                    if v not in merged:
                        merged.append(v)
                out[name] = merged
            elif keys and all(isinstance(v, dict) for v in value):
                items_schema = sub.get("items") if isinstance(sub, dict) else None
                merged = clone(current)
                for v in value:
                    idx = next((i for i, o in enumerate(merged)
                                if isinstance(o, dict) and all(o.get(k) == v.get(k) for k in keys)), None)
                    if idx is None:
                        merged.append(clone(v))
                    else:
                        merged[idx] = apply_merge(merged[idx], v, lt, items_schema, p)
                out[name] = merged
            else:
                out[name] = clone(value)
        else:
            out[name] = clone(value)
    return out


def server_side_apply(live: dict | None, cfg: dict, manager: str, force: bool, lt: ListTypes, schema, rt,
                      now: str) -> dict:
    """Returns the new object (managedFields updated). Raises 409 Conflict on ownership conflicts."""
    from .errors import ApiError as _E
    cfg_fields = fieldset(cfg, lt, schema)
    if live is None:
        obj = clone(cfg)
        obj.setdefault("metadata", {})["managedFields"] = [_mf_entry(manager, "Apply", cfg_fields, rt, now)]
        return obj
    managed = clone(live.get("metadata", {}).get("managedFields") or [])
    owners = []  # (index, entry, fieldset)
    mine_prev = set()
    for i, e in enumerate(managed):
        fs = from_fields_v1(e.get("fieldsV1"))
        if e.get("manager") == manager and e.get("operation") == "Apply" and not e.get("subresource"):
            mine_prev = fs
        else:
            owners.append((i, e, fs))
    # conflicts: a field another manager owns whose value this configuration changes
    conflicts = []
    for path in cfg_fields:
        want = _get_path(cfg, path)
        have = _get_path(live, path)
        if have is _MISSING or isinstance(want, (dict,)) or _leafless(path):
            continue
        if want != have:
            for _, e, fs in owners:
                if path in fs:
                    conflicts.append((e.get("manager"), path))
    if conflicts and not force:
        msg = "; ".join(f'conflict with "{m}": {".".join(x.split(":", 1)[1] for x in p)}' for m, p in conflicts[:10])
        raise _E(409, "Conflict", f"Apply failed with {len(conflicts)} conflict{'s' if len(conflicts) > 1 else ''}: "
                 f"{msg}", details={"name": live["metadata"].get("name"), "group": rt.group, "kind": rt.plural,
                                    "causes": [{"reason": "FieldManagerConflict",
                                                "message": f'conflict with "{m}"', "field": ".".join(
                                                    x.split(":", 1)[1] for x in p)} for m, p in conflicts]})
    new = apply_merge(live, cfg, lt, schema)
    # fields this manager applied before and no longer applies, owned by nobody else: removed
    others_all = set().union(*[fs for _, _, fs in owners]) if owners else set()
    for path in sorted(mine_prev - cfg_fields, key=len, reverse=True):
        if path in others_all or any(o[:len(path)] == path and len(o) > len(path) for o in others_all):
            continue
        if path[0] == "f:metadata" and (len(path) < 3 or path[1] not in ("f:labels", "f:annotations",
                                                                          "f:finalizers")):
            continue  # only keys inside labels/annotations/finalizers are apply-owned metadata
        _remove_path(new, path)
    # ownership: forced conflicts move to this manager
    new_managed = []
    conflict_paths = {p for _, p in conflicts}
    for i, e, fs in owners:
        if conflict_paths & fs:
            fs = fs - conflict_paths
            if not fs:
                continue
            e = dict(e, fieldsV1=to_fields_v1(fs))
        new_managed.append(e)
    prev_entry = next((e for e in managed if e.get("manager") == manager and e.get("operation") == "Apply"
                       and not e.get("subresource")), None)
    if prev_entry is not None and from_fields_v1(prev_entry.get("fieldsV1")) == cfg_fields:
        entry = prev_entry
    else:
        entry = _mf_entry(manager, "Apply", cfg_fields, rt, now)
    new_managed.append(entry)
    new.setdefault("metadata", {})["managedFields"] = _ordered(managed, new_managed)
    return new


def _leafless(path):
    return path[-1].startswith("k:")


def _ordered(old, new):
    """Keep managedFields order stable so a no-op apply leaves the object byte-identical."""
    pos = {(e.get("manager"), e.get("operation"), e.get("subresource")): i for i, e in enumerate(old)}
    return sorted(new, key=lambda e: pos.get((e.get("manager"), e.get("operation"), e.get("subresource")), 1 << 30))


def _mf_entry(manager, operation, fields, rt, now, subresource=None):
    e = {"manager": manager, "operation": operation, "apiVersion": rt.api_version, "time": now,
         "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(fields)}
    if subresource:
        e["subresource"] = subresource
    return e


def record_update(old: dict | None, new: dict, manager: str, lt: ListTypes, schema, rt, now: str,
                  subresource: str | None = None) -> None:
    """Update-operation bookkeeping: the manager owns the fields it changed; others lose them."""
    old_fields = fieldset(_strip_meta(old), lt, schema) if old else set()
    new_fields = fieldset(_strip_meta(new), lt, schema)
    changed = set()
    for p in new_fields:
        a = _get_path(old, p) if old else _MISSING
        b = _get_path(new, p)
        if a is _MISSING or (not isinstance(b, (dict, list)) and a != b):
            changed.add(p)
    managed = [] if old is None else clone((old.get("metadata") or {}).get("managedFields") or [])
    # fields removed from the object drop out of everyone's sets
    gone = old_fields - new_fields
    out = []
    mine = None
    for e in managed:
        if e.get("manager") == manager and e.get("operation") == "Update" and e.get("subresource") == subresource:
            mine = e
            continue
        fs = from_fields_v1(e.get("fieldsV1"))
        fs2 = fs - changed - gone
        if fs2 != fs:
            if not fs2:
                continue
            e = dict(e, fieldsV1=to_fields_v1(fs2))
        out.append(e)
    prev = from_fields_v1(mine.get("fieldsV1")) - gone if mine else set()
    fs = prev | changed
    if fs:
        if mine is not None and from_fields_v1(mine.get("fieldsV1")) == fs:
            out.append(mine)
        else:
            out.append(_mf_entry(manager, "Update", fs, rt, now, subresource))
    new.setdefault("metadata", {})["managedFields"] = _ordered(managed, out)


def _strip_meta(obj):
    if not obj:
        return obj
    o = dict(obj)
    meta = dict(o.get("metadata") or {})
    o["metadata"] = {k: meta[k] for k in ("labels", "annotations", "finalizers") if k in meta}
    return o
