"""The emulator's own API, in process, for kofsim's simulated k0rdent controllers (api.Client), and their
scheduling on the emulator's event loop (api.Runtime).

`InProcessClient` answers as the HTTP handlers of server.py do for the same request, on the same write path
(store.Cluster.write / delete): admission (kcm's webhooks included), validation, defaulting, the status
subresource, resourceVersion preconditions (a stale update is 409), finalizers and deletion propagation. It adds
no log entry (the request log records what clients sent over HTTP). Objects it returns are the stored ones,
shared as an informer's cache is: controllers never modify them.

Events come from the cluster's watch fan-out (Cluster.listeners), dispatched by group/resource to the
subscribed handlers; a handler only schedules work, which runs later on the event loop.
"""
from __future__ import annotations

from .. import errors as E
from . import api


def _labels_match(obj, labels):
    have = obj["metadata"].get("labels") or {}
    return all(have.get(k) == v for k, v in labels.items())


class InProcessClient(api.Client):
    def __init__(self, cluster):
        self.c = cluster
        self.name = cluster.name
        self._subs: dict[tuple, list] = {}
        cluster.listeners.append(self._dispatch)

    # -------------------------------------------------------------------------------- discovery
    def resource(self, group, plural):
        rts = self.c.registry.versions_of(group, plural)
        return self.c.storage_rt(rts[0]) if rts else None

    def kind(self, api_version, kind):
        return self.c.rt_for(api_version, kind)

    def _rt_of(self, obj):
        rt = self.c.rt_for(obj.get("apiVersion", ""), obj.get("kind", ""))
        if rt is None:
            raise E.ApiError(404, "NotFound", f'no matches for kind "{obj.get("kind")}" in version '
                                              f'"{obj.get("apiVersion")}"')
        return rt

    def _out(self, obj, rt):
        if obj is None or obj.get("apiVersion") == rt.api_version:
            return obj
        return self.c.view(obj, rt)

    # ------------------------------------------------------------------------------------ verbs
    def get(self, res, namespace, name):
        return self._out(self.c.find(res, namespace if res.namespaced else "", name), res)

    def list(self, res, namespace=None, labels=None):
        items = self.c.list_objects(res, namespace or None)
        if labels:
            items = [o for o in items if _labels_match(o, labels)]
        return [self._out(o, res) for o in items]

    def create(self, obj, *, manager=None):
        rt = self._rt_of(obj)
        meta = obj.get("metadata") or {}
        ns = (meta.get("namespace") or "default") if rt.namespaced else None
        if rt.namespaced and self.c.namespace_obj(ns) is None:
            raise E.ns_not_found(ns)
        if meta.get("resourceVersion") not in (None, ""):
            raise E.bad_request("resourceVersion should not be set on objects to be created")
        if self.c.crd_terminating(rt):
            raise E.ApiError(405, "MethodNotAllowed", "create not allowed while custom resource definition is "
                             "terminating", details={"group": rt.group, "kind": rt.plural})
        stored, _, _ = self.c.write(rt, obj, namespace=ns, manager=manager)
        return self._out(stored, rt)

    def _update(self, obj, manager, subresource):
        rt = self._rt_of(obj)
        meta = obj.get("metadata") or {}
        ns = (meta.get("namespace") or "default") if rt.namespaced else ""
        old = self.c.find(rt, ns, meta.get("name", ""))
        if old is None:
            raise E.not_found(rt, meta.get("name", ""))
        if not rt.builtin and not meta.get("resourceVersion"):
            raise E.invalid(rt, meta.get("name", ""), [("metadata.resourceVersion", "FieldValueInvalid",
                                                        "Invalid value: 0x0: must be specified for an update")])
        stored, _, _ = self.c.write(rt, obj, namespace=ns or None, old=old, subresource=subresource, manager=manager)
        return self._out(stored, rt)

    def update(self, obj, *, manager=None):
        return self._update(obj, manager, None)

    def update_status(self, obj, *, manager=None):
        rt = self._rt_of(obj)
        return self._update(obj, manager, "status" if rt.status else None)

    def delete(self, res, namespace, name, *, propagation=None, uid=None, grace_seconds=None):
        options = {}
        if propagation:
            options["propagationPolicy"] = propagation
        if uid:
            options["preconditions"] = {"uid": uid}
        if grace_seconds is not None:
            options["gracePeriodSeconds"] = grace_seconds
        try:
            self.c.delete(res, namespace if res.namespaced else "", name, options)
        except E.ApiError as err:
            if err.code != 404:
                raise

    # ----------------------------------------------------------------------------------- events
    def watch(self, group, plural, handler):
        self._subs.setdefault((group, plural), []).append(handler)

    def _dispatch(self, type_, rt, obj):
        for fn in self._subs.get(rt.key, ()):
            fn(type_, obj)


class EmulatorRuntime(api.Runtime):
    """Work scheduled on the emulator's event loop through a cluster's built-in Controllers (whose `stopped`
    drops it when the cluster goes). Transient failures (409, 5xx) are retried with a short back-off."""

    def __init__(self, sim):
        self.sim = sim

    def schedule(self, key, fn, *args, delay=None):
        scope, rest = key[0], key[1:]
        ctl = self.sim.controllers.get(scope)
        if ctl is None:
            return
        self._submit(ctl, ("k0rdent",) + tuple(rest), fn, args, delay, 0)

    def _submit(self, ctl, key, fn, args, delay, attempt):
        def run(*a):
            err = self.run_once(fn, a)
            if err is not None:
                wait = api.retry_delay(err, attempt)
                if wait is not None and attempt < 12:
                    self._submit(ctl, key, fn, a, wait, attempt + 1)
        ctl.schedule(key, run, *args, delay=delay)


class EmulatorFleet:
    """The workload clusters as the emulator serves them: one virtual cluster per ClusterDeployment, in this
    process, at https://127.0.0.1:<port>/clusters/<namespace>/<name> with its own bearer token."""

    kind = "emulator"

    def __init__(self, sim, on_attach=None):
        self.sim = sim
        self.clients: dict[str, InProcessClient] = {}
        self.kubeconfigs: dict[str, str] = {}
        self.on_attach = on_attach  # fn(cid, client): a new cluster's controllers

    def ensure(self, cid: str, *, region: str = "us-east-2"):
        """The cluster's client once it serves (here: at once)."""
        if cid in self.clients and cid in self.sim.clusters:
            return self.clients[cid]
        c = self.sim.clusters.get(cid) or self.sim.add_cluster(cid, lb_domain=f"{region}.elb.amazonaws.com")
        client = self.clients[cid] = InProcessClient(c)
        if self.on_attach:
            self.on_attach(cid, client)
        return client

    def client(self, cid):
        return self.clients.get(cid) if cid in self.sim.clusters else None

    def ids(self):
        return [cid for cid in self.clients if cid in self.sim.clusters]

    def kubeconfig(self, cid: str, context: str) -> str | None:
        from ..tls import kubeconfig
        c = self.sim.clusters.get(cid)
        if c is None:
            return None
        if cid not in self.kubeconfigs:
            self.kubeconfigs[cid] = kubeconfig(self.sim.cluster_url(cid), self.sim.ca_pem, c.token, context, "default")
        return self.kubeconfigs[cid]

    def k8s_version(self, cid):
        c = self.sim.clusters.get(cid)
        return c.k8s_version if c else None

    def remove(self, cid):
        self.clients.pop(cid, None)
        self.kubeconfigs.pop(cid, None)
        if cid in self.sim.clusters:
            self.sim.remove_cluster(cid)

    def crashloop(self, cid, namespace, prefix):
        """Scenario: pods of that prefix never become Ready (the emulator's kubelet reads the set)."""
        c = self.sim.clusters.get(cid)
        if c is not None:
            c.crashloop.add((namespace, prefix))
            return True
        return False

    def crashloops(self, cid):
        c = self.sim.clusters.get(cid)
        return set(c.crashloop) if c is not None else set()

    def restart_pods(self, cid, namespace, prefix):
        c = self.sim.clusters.get(cid)
        ctl = self.sim.controllers.get(cid)
        if c is None or ctl is None:
            return
        for pod in c.list_objects(c.registry.get("", "v1", "pods"), namespace):
            if pod["metadata"]["name"].startswith(prefix):
                ctl.schedule((("", "pods"), namespace, pod["metadata"]["name"]), ctl.pod, namespace,
                             pod["metadata"]["name"])

    def stop(self):
        pass
