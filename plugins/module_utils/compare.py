# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Semantic comparison of a wanted object with the live one (pure, no client): a no-op run sends no write,
and fields this collection applied before but no longer sets are detected for removal (server-side apply
ownership in managedFields)."""
from __future__ import annotations

import copy

FIELD_MANAGER = "k0rdent.kof"


def is_subset(want, have) -> bool:
    """True when every value in `want` is present and equal in `have` (maps recursively, lists whole)."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return False
        return all(k in have and is_subset(v, have[k]) for k, v in want.items())
    if isinstance(want, list) and isinstance(have, list) and any(isinstance(w, dict) for w in want):
        # same items in the same order; the server may have defaulted fields inside them
        return len(want) == len(have) and all(is_subset(w, h) for w, h in zip(want, have))
    return want == have


def fieldset(obj: dict) -> set:
    """Field paths an apply configuration sets, in managedFields (fieldsV1) notation. Custom resources'
    lists are atomic, so a list is one field."""
    out = set()

    def walk(node, prefix):
        for key, val in node.items():
            path = prefix + ("f:" + key,)
            out.add(path)
            if isinstance(val, dict) and val:
                walk(val, path)
    for key, val in obj.items():
        if key in ("apiVersion", "kind"):
            continue
        if key == "metadata":
            for mk in ("labels", "annotations"):
                if val.get(mk):
                    out.add(("f:metadata",))
                    out.add(("f:metadata", "f:" + mk))
                    for lk in val[mk]:
                        out.add(("f:metadata", "f:" + mk, "f:" + lk))
            continue
        out.add(("f:" + key,))
        if isinstance(val, dict) and val:
            walk(val, ("f:" + key,))
    return out


def owned_fields(live: dict, manager: str = FIELD_MANAGER):
    """The fields `manager` applied last time, or None when it never applied this object."""
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") == manager and entry.get("operation") == "Apply" and not entry.get("subresource"):
            paths = set()

            def walk(node, prefix):
                for key, child in (node or {}).items():
                    if key == ".":
                        continue
                    paths.add(prefix + (key,))
                    walk(child, prefix + (key,))
            walk(entry.get("fieldsV1") or {}, ())
            return paths
    return None


def needs_apply(want: dict, live: dict | None, manager: str = FIELD_MANAGER) -> bool:
    if live is None:
        return True
    meta_w, meta_l = want.get("metadata") or {}, live.get("metadata") or {}
    for mk in ("labels", "annotations"):
        if not is_subset(meta_w.get(mk) or {}, meta_l.get(mk) or {}):
            return True
    body_w = {k: v for k, v in want.items() if k not in ("apiVersion", "kind", "metadata")}
    if not is_subset(body_w, live):
        return True
    owned = owned_fields(live, manager)
    # fields applied before and no longer wanted must go: re-apply so the server removes them
    return owned is not None and any(_stale(path, owned, want, live) for path in owned)


def _at(obj, path):
    """The value at a fieldsV1 path of `f:` segments, or _MISSING."""
    node = obj
    for seg in path:
        if not isinstance(node, dict) or not seg.startswith("f:") or seg[2:] not in node:
            return _MISSING
        node = node[seg[2:]]
    return node


_MISSING = object()


def _stale(path, owned, want, live) -> bool:
    """True when a field this manager applied before is no longer wanted as it is.

    A path into a list (`k:`/`v:`/`i:` segments) is covered by the wanted list (compared by value). A path the
    server recorded without children although the wanted value there is a map is an atomic map (a CRD's
    x-kubernetes-map-type: atomic, such as a GrafanaDatasource's instanceSelector): its keys must be the wanted
    ones, since the server replaces it whole."""
    node = want
    for i, seg in enumerate(path):
        if isinstance(node, list):
            return False
        if not seg.startswith("f:") or not isinstance(node, dict) or seg[2:] not in node:
            return True
        node = node[seg[2:]]
        if isinstance(node, list):
            return False
    if isinstance(node, dict) and node and not any(p[:len(path)] == path and len(p) > len(path) for p in owned):
        return not _same_keys(node, _at(live, path))
    return False


def _same_keys(want, have) -> bool:
    """The same map keys at every level (the values were compared by is_subset already)."""
    if not isinstance(want, dict):
        return True
    return isinstance(have, dict) and set(want) == set(have) and all(_same_keys(v, have[k]) for k, v in want.items())


def view(obj: dict | None) -> dict:
    """What a diff shows of an object: no server-managed noise."""
    if not obj:
        return {}
    out = copy.deepcopy(obj)
    meta = out.get("metadata") or {}
    for k in ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "selfLink"):
        meta.pop(k, None)
    out.pop("status", None)
    return out
