# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# Apache License 2.0 (see LICENSE)
"""Fleet-scale helpers for action plugins: per-host variable resolution inside one run_once task, semantic
comparison against the live object (so a no-op run sends no write), batched server-side apply with bounded
concurrency, and generation-aware waits driven by one list + one watch.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from ansible.errors import AnsibleError
from ansible.template import Templar

from ansible_collections.k0rdent.kof.plugins.module_utils.compare import (  # noqa: F401 (re-exported) pylint: disable=unused-import
    FIELD_MANAGER, fieldset, is_subset, needs_apply, owned_fields, view)
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import KubeError, object_path


# --------------------------------------------------------------------------- per-host definitions
def resolve_per_host(action, task_vars: dict, hosts: list, var_name: str, names: dict | None = None) -> dict:
    """Evaluate variable `var_name` once per host, in that host's own variable context (inventory,
    group_vars, role defaults, play and extra vars, with Ansible's precedence), from one task.

    This is what running a per-host task would give, without a per-host task: at 1000 hosts a per-host task
    costs more than the whole batch. Returns {host: value or AnsibleError}. With `names` (a dict), also records
    the `kof_*` variable names each host sees (names[host] = set), for the inventory's unknown-variable check.
    """
    hostvars = task_vars.get("hostvars")
    vm = getattr(hostvars, "_variable_manager", None)
    inventory = getattr(hostvars, "_inventory", None)
    if vm is None or inventory is None:
        raise AnsibleError("k0rdent.kof fleet plugins need the variable manager of ansible-core >= 2.17")
    play = action._task.get_play()
    play_hosts = list(task_vars.get("ansible_play_hosts") or hosts)
    play_hosts_all = list(task_vars.get("ansible_play_hosts_all") or hosts)
    out = {}
    # one Templar for every host (its variables swapped per host), whose Jinja environment compiles each template
    # source once: the same definitions are rendered for every host, and compiling them again for each host was
    # most of the cost at 1000 hosts
    templar = Templar(loader=action._loader, variables={})
    _cache_compiled_templates(templar)
    for name in hosts:
        host = inventory.get_host(name)
        if host is None:
            out[name] = AnsibleError(f"host {name} is not in the inventory")
            continue
        try:
            ctx = vm.get_vars(play=play, host=host, task=action._task, _hosts=play_hosts,
                              _hosts_all=play_hosts_all)
            if names is not None:
                names[name] = {k for k in ctx if k.startswith("kof_")}
            if var_name not in ctx:
                raise AnsibleError(f"variable {var_name} is not defined for host {name}")
            templar.available_variables = ctx
            out[name] = templar.template(ctx[var_name])
        except Exception as err:  # an undefined or invalid variable of one host fails that host only
            out[name] = err if isinstance(err, AnsibleError) else AnsibleError(str(err))
    return out


def _cache_compiled_templates(templar) -> None:
    """Memoize template compilation on this Templar's own Jinja environment (compiled templates do not depend
    on the variables they are rendered with). Only this Templar is affected; where ansible-core's internals are
    not the expected ones nothing is cached (slower, same results)."""
    try:
        env = templar._engine.environment  # pylint: disable=protected-access
        from_string = env.from_string
        from ansible._internal._templating._jinja_bits import _TemplateCompileContext  # pylint: disable=import-outside-toplevel
    except (AttributeError, ImportError):
        return
    compiled = {}

    def cached(source, *args, **kwargs):
        if args or kwargs or not isinstance(source, str):
            return from_string(source, *args, **kwargs)
        ctx = _TemplateCompileContext.current(optional=True)
        key = (source, type(source), getattr(ctx, "escape_backslashes", None))
        if key not in compiled:
            compiled[key] = from_string(source)
        return compiled[key]
    env.from_string = cached


# comparison helpers live in module_utils (shared with the modules)
# ------------------------------------------------------------------------------------ batch apply
def list_all(kube, path, label_selector=None, page=500) -> tuple[dict, str]:
    """{name: object} of a collection, paginated, and the list's resourceVersion."""
    items, token, rv = {}, None, ""
    while True:
        q = {"limit": str(page)}
        if token:
            q["continue"] = token
        if label_selector:
            q["labelSelector"] = label_selector
        data = kube.list(path, q)
        for item in data.get("items") or []:
            items[item["metadata"]["name"]] = item
        rv = (data.get("metadata") or {}).get("resourceVersion", rv)
        token = (data.get("metadata") or {}).get("continue")
        if not token:
            return items, rv


def apply_batch(kube, desired: dict, live: dict, *, api_version: str, plural: str, namespace: str,
                check_mode: bool, concurrency: int = 8, manager: str = FIELD_MANAGER) -> dict:
    """Apply each host's object when it differs from the live one. Returns {host: result}."""
    results = {}
    todo = []
    for host, obj in desired.items():
        name = obj["metadata"]["name"]
        cur = live.get(name)
        if needs_apply(obj, cur, manager):
            todo.append((host, obj, cur))
        else:
            results[host] = {"changed": False, "action": "unchanged", "object": cur}

    def one(item):
        host, obj, cur = item
        path = object_path(api_version, plural, namespace, obj["metadata"]["name"])
        try:
            new = kube.apply(path, obj, dry_run=check_mode, field_manager=manager)
            return host, {"changed": True, "action": "created" if cur is None else "updated", "object": new,
                          "before": view(cur), "after": view(new)}
        except KubeError as err:
            return host, {"failed": True, "changed": False, "msg": str(err)}
    if todo:
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(todo)))) as pool:
            for host, res in pool.map(one, todo):
                results[host] = res
    return results


def delete_batch(kube, names: dict, live: dict, *, api_version: str, plural: str, namespace: str,
                 check_mode: bool, concurrency: int = 8, propagation: str = "Foreground") -> dict:
    results = {}
    todo = [(h, n) for h, n in names.items() if n in live]
    for h, n in names.items():
        if n not in live:
            results[h] = {"changed": False, "action": "absent"}

    def one(item):
        host, name = item
        try:
            kube.delete(object_path(api_version, plural, namespace, name), propagation=propagation,
                        dry_run=check_mode)
            return host, {"changed": True, "action": "deleted", "before": view(live[name]), "after": {}}
        except KubeError as err:
            return host, {"failed": True, "changed": False, "msg": str(err)}
    if todo:
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(todo)))) as pool:
            for host, res in pool.map(one, todo):
                results[host] = res
    return results


# ------------------------------------------------------------------------------------------ waits
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


def wait_for(kube, path: str, names: set, predicate, timeout: float, label_selector=None,
             known: dict | None = None) -> dict:
    """Wait until predicate(obj) holds for every name (None = the object is gone). One list, then one
    watch from its resourceVersion (re-listing only if the watch ends early). `known` are objects already
    read in this run: when they all satisfy the predicate no request is sent. Returns {name: last seen}."""
    deadline = time.monotonic() + timeout
    last = {}
    pending = set(names)
    for n, obj in (known or {}).items():
        if n in pending and predicate(obj):
            pending.discard(n)
            last[n] = obj
    while pending and time.monotonic() < deadline:
        items, rv = list_all(kube, path, label_selector)
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
