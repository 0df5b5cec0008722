# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""The collection's one converge engine: desired object -> compare with the live one -> apply (server-side apply,
which creates or updates) or delete -> wait -> result (changed, action, before / after; check mode is the server's
dry run). Used by the resource modules (kof_module.py), the fleet plugins (plugin_utils/fleet.py:
cluster_deployments, regional_registrations) and the day-2 plugins (plugin_utils/day2.py: kube_objects, restore).

What an object is, where it lives and what counts as done stay with the caller: the engine takes REST paths,
desired objects and predicates. Comparison is compare.needs_apply (no write when the live object already holds
everything wanted and the fields this manager owned are still wanted).

Outcome of one object (a dict, as the plugins report it per host or per object):
  {"changed": bool, "action": "created" | "updated" | "unchanged" | "deleted" | "absent",
   "before": show(live), "after": show(new), "object": the object as the API returned it (or the live one)}
  or, in a batch, {"failed": True, "changed": False, "msg": one line} for an object whose request failed.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.k0rdent.kof.plugins.module_utils.compare import FIELD_MANAGER, needs_apply, view
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import KubeError


def ref(obj: dict) -> str:
    """An object in messages: `Kind namespace/name` (`Kind name` for a cluster-scoped one)."""
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')} {meta['namespace'] + '/' if meta.get('namespace') else ''}{meta.get('name')}"


# what `changed` means for each action, and the modules' name of it (their `method` return value)
METHODS = {"created": "create", "updated": "update", "deleted": "delete", "unchanged": "none", "absent": "none"}


class Converger:
    """Converge objects on one cluster. `check`: writes are server-side dry runs. show(obj, other=None) turns a
    live or returned object into what an outcome's before / after hold (`other`: the live object, when showing
    the new one); by default compare.view, without server-managed fields."""

    def __init__(self, kube, *, check: bool = False, manager: str = FIELD_MANAGER, concurrency: int = 1,
                 show=None):
        self.kube = kube
        self.check = check
        self.manager = manager
        self.concurrency = max(1, concurrency)
        self.show = show or (lambda obj, other=None: view(obj))

    # ------------------------------------------------------------------------------------ one object
    def differs(self, obj: dict, live: dict | None) -> bool:
        """Whether present() would write: the object does not exist, or it lacks what `obj` wants (compare.py)."""
        return live is None or needs_apply(obj, live, self.manager)

    def present(self, path: str, obj: dict, live: dict | None, *, prepare=None, only_missing=False) -> dict:
        """Apply `obj` at `path` unless `live` (the object now, None when it does not exist) holds it already.
        prepare(obj, live) runs before a write only (e.g. a referenced-Secret check) and may raise KubeError.
        only_missing: an existing object is left as it is."""
        if live is not None and (only_missing or not self.differs(obj, live)):
            return {"changed": False, "action": "unchanged", "object": live}
        if prepare is not None:
            prepare(obj, live)
        new = self.kube.apply(path, obj, dry_run=self.check, field_manager=self.manager)
        return {"changed": True, "action": "created" if live is None else "updated", "object": new,
                "before": self.show(live), "after": self.show(new, live)}

    def absent(self, path: str, live: dict | None, *, propagation: str = "Foreground") -> dict:
        """Delete the object at `path` when it exists (`live`)."""
        if live is None:
            return {"changed": False, "action": "absent"}
        self.kube.delete(path, propagation=propagation, dry_run=self.check)
        return {"changed": True, "action": "deleted", "before": self.show(live), "after": {}}

    # ------------------------------------------------------------------------------------------ batch
    def present_all(self, items: dict, live: dict | None = None, *, prepare=None) -> dict:
        """{key: (path, obj)} -> {key: outcome}. `live`: {key: live object or None}, already read (one list for
        the batch); without it each object is read first. Only objects that differ are written, `concurrency` at
        a time; a failed request fails that key only."""
        return self._batch(items, live, lambda path, obj, cur: self.present(path, obj, cur, prepare=prepare),
                           self.differs)

    def absent_all(self, items: dict, live: dict | None = None, *, propagation: str = "Foreground") -> dict:
        """{key: (path, obj or None)} -> {key: outcome}, deleting what exists."""
        return self._batch(items, live, lambda path, _obj, cur: self.absent(path, cur, propagation=propagation),
                           lambda _obj, cur: cur is not None)

    def _batch(self, items, live, one, writes):
        def run(entry):
            key, (path, obj) = entry
            try:
                return key, one(path, obj, live.get(key) if live is not None else self.kube.get(path))
            except KubeError as err:
                return key, {"failed": True, "changed": False, "msg": str(err)}
        out, todo = {}, []
        for key, (path, obj) in items.items():
            if live is not None and not writes(obj, live.get(key)):
                out[key] = one(path, obj, live.get(key))  # settled without a request
            else:
                todo.append((key, (path, obj)))
        if self.concurrency == 1 or len(todo) < 2:
            out.update(run(entry) for entry in todo)
        else:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(todo))) as pool:
                out.update(pool.map(run, todo))
        return {key: out[key] for key in items}


# ------------------------------------------------------------------------------------------------ waits
def wait_until(probe, timeout: float, sleep: float) -> tuple[bool, str]:
    """Poll probe() -> (done, why) every `sleep` seconds until done or `timeout` seconds passed. Returns
    (done, the last reason it was not done)."""
    deadline = time.monotonic() + timeout
    while True:
        done, why = probe()
        if done or time.monotonic() >= deadline:
            return done, why
        time.sleep(max(0.2, sleep))


def wait_for(kube, path: str, names: set, predicate, timeout: float, label_selector=None,
             known: dict | None = None) -> dict:
    """Wait until predicate(obj) holds for every name of the collection at `path` (obj None = the object is gone).
    One list, then one watch from its resourceVersion (re-listing only if the watch ends early). `known` are
    objects already read in this run: when they all satisfy the predicate no request is sent.
    Returns {"pending": names not done, "last": {name: last seen}}."""
    deadline = time.monotonic() + timeout
    last = {}
    pending = set(names)
    for n, obj in (known or {}).items():
        if n in pending and predicate(obj):
            pending.discard(n)
            last[n] = obj
    while pending and time.monotonic() < deadline:
        items, rv = kube.list_all(path, label_selector=label_selector)
        items = {i["metadata"]["name"]: i for i in items}
        for n in list(pending):
            last[n] = items.get(n)
            if predicate(items.get(n)):
                pending.discard(n)
        if not pending:
            break

        def on_event(type_, obj):
            n = (obj.get("metadata") or {}).get("name")
            if n not in pending:
                return False
            cur = None if type_ == "DELETED" else obj
            last[n] = cur
            if predicate(cur):
                pending.discard(n)
            return not pending
        q = {"resourceVersion": rv, "allowWatchBookmarks": "true"}
        if label_selector:
            q["labelSelector"] = label_selector
        if kube.watch(path, q, on_event, deadline):
            break
    return {"pending": pending, "last": last}


# -------------------------------------------------------------------------------------- generation-aware
def condition(obj: dict, type_: str) -> dict | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return c
    return None


def is_ready(obj: dict) -> bool:
    """Ready=True for the current generation (a stale Ready from before an update does not count)."""
    st = obj.get("status") or {}
    gen = (obj.get("metadata") or {}).get("generation")
    observed = st.get("observedGeneration")
    if gen is not None and observed is not None and observed < gen:
        return False
    c = condition(obj, "Ready")
    return bool(c and c.get("status") == "True")
