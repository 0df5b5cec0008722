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
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, KeyError, IndexError, TypeError):
        # kube-apiserver does not say which operation failed
        raise ApiError(422, "Invalid", "the server rejected our request due to an error in our request",
                       details={})


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


# -------------------------------------------------------------------------- field management (SSA, managedFields)
# What kube-apiserver's field manager (sigs.k8s.io/structured-merge-diff) does, on a schema Node (schema.py):
# - a field set holds *members*: leaves (scalars, atomic maps and lists, empty containers), associative list
#   items (k:{keys}) and set items (v:value), and containers that an Update added (their "." in fieldsV1);
# - Update: Compare(live, new) -> Added / Modified / Removed; the writer gets Added+Modified, everyone loses
#   Removed and what the writer took;
# - Apply: the configuration's own field set; merged into live; fields this manager applied last time and no
#   one owns any more are pruned; other managers' fields that the result changes are conflicts (409) unless
#   forced, then they change hands.
from .schema import ANY, Node  # noqa: E402

_ABSENT = object()

# fields no manager owns (fieldmanager's stripMeta): exact members
STRIPPED = {("f:apiVersion",), ("f:kind",), ("f:metadata",), ("f:metadata", "f:name"),
            ("f:metadata", "f:namespace"), ("f:metadata", "f:creationTimestamp"), ("f:metadata", "f:selfLink"),
            ("f:metadata", "f:uid"), ("f:metadata", "f:clusterName"), ("f:metadata", "f:generation"),
            ("f:metadata", "f:managedFields"), ("f:metadata", "f:resourceVersion")}


def _kind(node: Node, *values) -> str:
    k = node.kind
    if k != "any":
        return k
    for v in values:  # deduced: maps are granular, lists atomic, the rest scalars
        if isinstance(v, dict):
            return "map"
        if isinstance(v, list):
            return "atomic-list"
        if v is not _ABSENT and v is not None:
            return "scalar"
    return "scalar"


def _eq(a, b) -> bool:
    if type(a) is not type(b):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) \
                and not isinstance(b, bool):
            return a == b
        return False
    return a == b


def _item_pe(node: Node, item):
    """The path element of a list item (None when the item cannot be keyed)."""
    if node.list_type == "set":
        return "v:" + json.dumps(item, separators=(",", ":"), sort_keys=True)
    if not isinstance(item, dict):
        return None
    keys = {}
    props = node.elem().s.get("properties") or {}
    for k in node.keys:
        if k in item:
            keys[k] = item[k]
        elif "default" in (props.get(k) or {}):  # a key field left out takes its schema default (protocol: TCP)
            keys[k] = props[k]["default"]
    return "k:" + json.dumps(keys, separators=(",", ":"), sort_keys=True)


def to_set(value, node: Node, path=(), out=None) -> set:
    """ToFieldSet: every leaf and list item of `value`."""
    if out is None:
        out = set()
    k = _kind(node, value)
    if k in ("struct", "map"):
        if not isinstance(value, dict):
            if value is not None:
                out.add(path)
            return out
        if node.atomic or (not value and path):  # an empty map is a leaf of its own
            out.add(path)
            return out
        for key, v in value.items():
            sub = node.field(key) if node is not ANY else ANY
            to_set(v, sub if sub is not None else ANY, path + ("f:" + key,), out)
        return out
    if k == "list":
        if not isinstance(value, list) or node.list_type == "atomic" or not value:
            out.add(path)
            return out
        elem = node.elem()
        for item in value:
            pe = _item_pe(node, item)
            if pe is None:
                continue
            out.add(path + (pe,))
            if node.list_type == "map":
                to_set(item, elem, path + (pe,), out)
        return out
    if path:
        out.add(path)
    return out


def compare(lhs, rhs, node: Node, path=(), added=None, modified=None, removed=None):
    """typed.Compare: (added, modified, removed) between two values (_ABSENT for a missing side)."""
    if added is None:
        added, modified, removed = set(), set(), set()
    k = _kind(node, lhs, rhs)
    leaf = True
    if k in ("struct", "map") and not node.atomic:
        lm = lhs if isinstance(lhs, dict) else None
        rm = rhs if isinstance(rhs, dict) else None
        if lm or rm:
            leaf = False
            keys = list(lm or ()) + [x for x in (rm or ()) if not lm or x not in lm]
            for key in keys:
                sub = node.field(key) if node is not ANY else ANY
                compare(lm.get(key, _ABSENT) if lm is not None else _ABSENT,
                        rm.get(key, _ABSENT) if rm is not None else _ABSENT,
                        sub if sub is not None else ANY, path + ("f:" + key,), added, modified, removed)
    elif k == "list" and node.list_type != "atomic":
        ll = lhs if isinstance(lhs, list) else None
        rl = rhs if isinstance(rhs, list) else None
        if ll or rl:
            leaf = False
            elem = node.elem()
            li, ri = {}, {}
            for src, idx in ((ll or (), li), (rl or (), ri)):
                for item in src:
                    pe = _item_pe(node, item)
                    if pe is not None and pe not in idx:
                        idx[pe] = item
            for pe in list(li) + [x for x in ri if x not in li]:
                a, b = li.get(pe, _ABSENT), ri.get(pe, _ABSENT)
                ip = path + (pe,)
                if node.list_type == "set":
                    if a is _ABSENT:
                        added.add(ip)
                    elif b is _ABSENT:
                        removed.add(ip)
                    continue
                compare(a, b, elem, ip, added, modified, removed)
    if leaf:
        if lhs is _ABSENT and rhs is _ABSENT:
            return added, modified, removed
        if lhs is _ABSENT:
            added.add(path)
        elif rhs is _ABSENT:
            removed.add(path)
        elif not _eq(lhs, rhs):
            modified.add(path)
    elif path:
        if lhs is _ABSENT:
            added.add(path)
        elif rhs is _ABSENT:
            removed.add(path)
    return added, modified, removed


def _filter(fs: set, exclude_prefixes=()) -> set:
    out = set()
    for p in fs:
        if p in STRIPPED:
            continue
        if any(p[:len(x)] == x for x in exclude_prefixes):
            continue
        out.add(p)
    return out


def to_fields_v1(paths: set) -> dict:
    tree: dict = {}
    for p in sorted(paths):
        node = tree
        for el in p:
            node = node.setdefault(el, {})
    members = set(paths)

    def mark(node, prefix):
        for k, child in node.items():
            if k == ".":
                continue
            p = prefix + (k,)
            if child:
                mark(child, p)
                if p in members:
                    child["."] = {}
    mark(tree, ())
    return _sorted_tree(tree)


def _sorted_tree(t: dict) -> dict:
    return {k: _sorted_tree(t[k]) for k in sorted(t)}


def from_fields_v1(tree: dict, prefix=()) -> set:
    out = set()
    for k, child in (tree or {}).items():
        if k == ".":
            continue
        p = prefix + (k,)
        if not child or "." in child:
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
        parent[:] = [i for i in parent if not (isinstance(i, dict) and all(i.get(a) == b for a, b in want.items())
                                                 and all(k in i for k in want))]
    elif kind == "v" and isinstance(parent, list):
        val = json.loads(rest)
        parent[:] = [i for i in parent if i != val]


class _Missing:
    pass


_MISSING = _Missing()


def _named_fields(fs: set, root: Node) -> set:
    """EnsureNamedFieldsAreMembers: struct fields above members become members themselves."""
    out = set(fs)
    for p in fs:
        node = root
        for i, el in enumerate(p[:-1]):
            if node is None:
                break
            kind, _, rest = el.partition(":")
            if kind == "f":
                is_named = node.kind == "struct" and rest in (node.s.get("properties") or {})
                node = node.field(rest) if node is not ANY else ANY
                if is_named:
                    out.add(p[:i + 1])
            else:
                node = node.elem() if node.kind == "list" else ANY
    return out


def apply_merge(live, cfg, node: Node):
    """typed.Merge: the configuration wins for leaves; maps merge; associative lists merge by key; sets union;
    atomic values are replaced."""
    k = _kind(node, live, cfg)
    if k in ("struct", "map") and not node.atomic and isinstance(cfg, dict):
        out = clone(live) if isinstance(live, dict) else {}
        for name, value in cfg.items():
            sub = node.field(name) if node is not ANY else ANY
            out[name] = apply_merge(out.get(name, _ABSENT), value, sub if sub is not None else ANY)
        return out
    if k == "list" and node.list_type != "atomic" and isinstance(cfg, list):
        current = clone(live) if isinstance(live, list) else []
        if node.list_type == "set":
            for v in cfg:
                if v not in current:
                    current.append(clone(v))
            return current
        elem = node.elem()
        index = {_item_pe(node, i): n for n, i in enumerate(current)}
        for item in cfg:
            pe = _item_pe(node, item)
            if pe in index:
                current[index[pe]] = apply_merge(current[index[pe]], item, elem)
            else:
                index[pe] = len(current)
                current.append(clone(item))
        return current
    return clone(cfg)


def _paths_str(p: tuple) -> str:
    """fieldpath.Path.String(): .data.k1, .spec.containers[name="web"].image, .metadata.finalizers[="x"]."""
    out = []
    for el in p:
        kind, _, rest = el.partition(":")
        if kind == "f":
            out.append("." + rest)
        elif kind == "k":
            keys = json.loads(rest)
            out.append("[" + ",".join(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in sorted(keys.items()))
                       + "]")
        elif kind == "v":
            out.append("[=" + rest + "]")
    return "".join(out)


class Managed:
    """A managedFields list, parsed: entries keyed by identity (manager, operation, apiVersion, subresource)."""

    def __init__(self, entries):
        self.entries = []
        for e in entries or []:
            self.entries.append({"e": e, "set": from_fields_v1(e.get("fieldsV1") or {}), "changed": False})

    @staticmethod
    def ident(manager, operation, api_version, subresource):
        return (manager, operation, api_version if operation == "Update" else "", subresource or "")

    def find(self, ident):
        for x in self.entries:
            e = x["e"]
            if self.ident(e.get("manager"), e.get("operation"), e.get("apiVersion"), e.get("subresource")) == ident:
                return x
        return None

    def render(self, now: str) -> list:
        out = []
        for x in self.entries:
            if not x["set"]:
                continue
            e = dict(x["e"])
            if x["changed"]:
                e["fieldsV1"] = to_fields_v1(x["set"])
                if x.get("touch", True) and e.get("subresource") != "scale":
                    e["time"] = now  # (the scale subresource's entries carry no time)
            if not e.get("time"):
                e.pop("time", None)
            out.append(e)
        return sort_entries(out)


def sort_entries(entries: list) -> list:
    """The apiserver's order: operation (Apply before Update), time, manager, apiVersion, subresource."""
    return sorted(entries, key=lambda e: (e.get("operation", ""), e.get("time") or "", e.get("manager", ""),
                                          e.get("apiVersion", ""), e.get("subresource", "")))


def _new_entry(manager, operation, api_version, subresource):
    e = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": "",
         "fieldsType": "FieldsV1", "fieldsV1": {}}
    if subresource:
        e["subresource"] = subresource
    return e


def _strip_managed(obj):
    if not isinstance(obj, dict):
        return obj
    o = dict(obj)
    meta = o.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        o["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return o


def _reset_prefixes(has_status: bool, subresource: str | None):
    if subresource == "status":
        return (("f:spec",),)
    return (("f:status",),) if has_status else ()


def _compare_kept(lhs, rhs, root: Node, reset) -> tuple[set, set, set]:
    """compare() without the fields the write resets (the spec of a status write, the status of a main-resource
    write): they are filtered out of the result anyway, so their top-level keys are not walked at all (a status
    write's spec, copied from the stored object, is most of what a fleet's controllers would compare)."""
    skip = {p[0][2:] for p in reset if len(p) == 1}
    if skip:
        lhs = {k: v for k, v in lhs.items() if k not in skip} if isinstance(lhs, dict) else lhs
        rhs = {k: v for k, v in rhs.items() if k not in skip} if isinstance(rhs, dict) else rhs
    added, modified, removed = compare(lhs, rhs, root)
    return _filter(added, reset), _filter(modified, reset), _filter(removed, reset)


def record_update(old: dict | None, new: dict, manager: str, root: Node, zero: dict, rt, now: str,
                  subresource: str | None = None) -> None:
    """Update bookkeeping (create, update, patch): the writer owns what it added or changed; others lose what was
    removed or taken. Sets new.metadata.managedFields."""
    live = _strip_managed(old) if old is not None else zero
    reset = _reset_prefixes(rt.status, subresource)
    added, modified, removed = _compare_kept(live, _strip_managed(new), root, reset)
    # managedFields the writer sends (and that differ from the stored ones) are taken as they are: that is how
    # clients set them directly (kubectl's client-side to server-side apply migration); an object without them
    # keeps the stored ones
    provided = (new.get("metadata") or {}).get("managedFields")
    base = provided if provided and not subresource and _valid_entries(provided) else \
        ((old or {}).get("metadata", {}).get("managedFields") if old is not None else None)
    m = Managed(base)
    taken = added | modified
    for x in m.entries:
        s2 = x["set"] - taken - removed
        if s2 != x["set"]:
            x["set"], x["changed"], x["touch"] = s2, True, False
    if taken:
        ident = Managed.ident(manager, "Update", rt.api_version, subresource)
        mine = m.find(ident)
        if mine is None:
            mine = {"e": _new_entry(manager, "Update", rt.api_version, subresource), "set": set(), "changed": True}
            m.entries.append(mine)
        mine["set"] = mine["set"] | taken
        mine["changed"], mine["touch"] = True, True
    out = m.render(now)
    meta = new.setdefault("metadata", {})
    if out:
        meta["managedFields"] = out
    else:
        meta.pop("managedFields", None)


def _valid_entries(entries) -> bool:
    return isinstance(entries, list) and all(isinstance(e, dict) and e.get("manager") is not None and
                                             e.get("operation") in ("Apply", "Update") for e in entries)


def server_side_apply(live: dict | None, cfg: dict, manager: str, force: bool, root: Node, zero: dict, rt,
                      now: str, subresource: str | None = None) -> dict:
    """Returns the new object (managedFields updated). Raises 409 Conflict on ownership conflicts."""
    base = _strip_managed(live) if live is not None else zero
    reset = _reset_prefixes(rt.status, subresource)
    cfg_set = _filter(to_set(cfg, root), reset)
    merged = apply_merge(base, cfg, root)
    m = Managed((live or {}).get("metadata", {}).get("managedFields") if live is not None else None)
    ident = Managed.ident(manager, "Apply", "", subresource)
    mine = m.find(ident)
    last = mine["set"] if mine is not None else set()
    is_new = mine is None
    if mine is None:
        mine = {"e": _new_entry(manager, "Apply", rt.api_version, subresource), "set": set(), "changed": True}
        m.entries.append(mine)
    prev_set = mine["set"]
    mine["set"] = cfg_set
    # prune: what this manager applied last time, does not apply now, and nobody owns
    if last:
        owned = set()
        for x in m.entries:
            owned |= x["set"]
        owned = _named_fields(owned, root)
        merged_set = _named_fields(to_set(_strip_managed(merged), root), root)
        drop = (merged_set & _named_fields(last, root)) - owned
        for p in sorted(drop - STRIPPED, key=len, reverse=True):
            _remove_path(merged, p)
    added, modified, removed = _compare_kept(base, _strip_managed(merged), root, reset)
    taken = added | modified
    conflicts = []
    for x in m.entries:
        if x is mine:
            continue
        c = x["set"] & taken
        if c:
            conflicts.append((x, c))
    if conflicts and not force:
        raise _conflict_error(conflicts)
    for x in m.entries:
        if x is mine:
            continue
        s2 = x["set"] - taken - removed
        if s2 != x["set"]:
            x["set"], x["changed"], x["touch"] = s2, True, False
    changed_obj = bool(taken or removed)
    # the entry's time moves when the object changed (managedFieldsUpdater.Apply)
    mine["changed"] = is_new or changed_obj or prev_set != cfg_set
    mine["touch"] = changed_obj or live is None  # a new entry of an apply that changed nothing has no time
    if not is_new and mine["e"].get("apiVersion") != rt.api_version and mine["changed"]:
        mine["e"] = dict(mine["e"], apiVersion=rt.api_version)
    merged.setdefault("metadata", {})
    out = m.render(now)
    if out:
        merged["metadata"]["managedFields"] = out
    else:
        merged["metadata"].pop("managedFields", None)
    return merged


def _print_manager(e: dict) -> str:
    if e.get("operation") == "Update":
        return f'"{e.get("manager")}" using {e.get("apiVersion")}'
    return f'"{e.get("manager")}"'


def _conflict_error(conflicts) -> ApiError:
    items = []
    for x, c in conflicts:
        for p in sorted(c, key=_path_sort_key):
            items.append((_print_manager(x["e"]), _paths_str(p)))
    causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {m}", "field": p} for m, p in items]
    if len(items) == 1:
        msg = f"Apply failed with 1 conflict: conflict with {items[0][0]}: {items[0][1]}"
    else:
        by = {}
        for m, p in items:
            by.setdefault(m, []).append(p)
        lines = []
        for m in sorted(by):
            lines.append(f"conflicts with {m}:")
            lines += [f"- {p}" for p in by[m]]
        msg = f"Apply failed with {len(items)} conflicts: " + "\n".join(lines)
    return ApiError(409, "Conflict", msg, details={"causes": causes})


def _path_sort_key(p):
    return p
