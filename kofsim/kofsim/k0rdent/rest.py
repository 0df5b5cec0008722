"""kofsim's simulated k0rdent against any kube-apiserver: api.Client over HTTPS, informers, and a runtime.

`RestClient` speaks the Kubernetes REST API with the credentials of a kubeconfig (client certificate or bearer
token): discovery (cached, refreshed on a miss and when CRDs change), GET/LIST (paginated), POST, PUT with the
resourceVersion the controller read (409 Conflict when stale), PUT to /status, DELETE with propagationPolicy and
preconditions. Errors are the server's `Status` (kofsim.errors.ApiError with its code, reason and message);
an unreachable server raises api.Unavailable. Both are retried by the runtime.

`watch(group, plural, handler)` starts an informer: LIST, then WATCH from the list's resourceVersion with
bookmarks, resuming after a dropped connection and relisting after 410 Expired (what a restarted kube-apiserver or
a compaction gives), delivering ADDED/MODIFIED/DELETED as a client-go informer does (a relist compares with what
it had). A resource that is not served yet (a CRD a chart installs later) is watched once its CRD is served.
Events are handed to `dispatch` (ThreadRuntime.call_soon): every controller runs on the runtime's one worker
thread, so their in-memory state needs no locks.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import ssl
import tempfile
import threading
import time
import urllib.parse

import urllib3
import yaml

from .. import errors as E
from . import api

log = logging.getLogger("kofsim.k0rdent.rest")
JSON = "application/json"
USER_AGENT = "kofsim-controllers/0.1 (k0rdent simulation)"
CRDS = ("apiextensions.k8s.io", "customresourcedefinitions")
MISS_REFRESH = 0.5  # seconds before a group-version document that lacked a resource is fetched again


def load_kubeconfig(source) -> dict:
    """(server, ssl context, bearer token) of a kubeconfig path, text or dict (its current context)."""
    if isinstance(source, dict):
        cfg = source
    else:
        text = source if "\n" in str(source) else open(source, encoding="utf-8").read()
        cfg = yaml.safe_load(text)
    ctx_name = cfg.get("current-context")
    ctx = next((c["context"] for c in cfg.get("contexts") or [] if c["name"] == ctx_name),
               (cfg.get("contexts") or [{}])[0].get("context", {}))
    cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx.get("cluster", c["name"]))
    user = next((u["user"] for u in cfg.get("users") or [] if u["name"] == ctx.get("user")),
                (cfg.get("users") or [{"user": {}}])[0]["user"])
    sslctx = ssl.create_default_context()
    if cluster.get("certificate-authority-data"):
        sslctx.load_verify_locations(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    elif cluster.get("certificate-authority"):
        sslctx.load_verify_locations(cafile=cluster["certificate-authority"])
    if cluster.get("insecure-skip-tls-verify"):
        sslctx.check_hostname = False
        sslctx.verify_mode = ssl.CERT_NONE
    token = user.get("token")
    crt, key = user.get("client-certificate-data"), user.get("client-key-data")
    if crt and key:
        with tempfile.TemporaryDirectory() as tmp:  # ssl loads a chain from files only
            cf, kf = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
            with open(cf, "wb") as f:
                f.write(base64.b64decode(crt))
            with open(kf, "wb") as f:
                f.write(base64.b64decode(key))
            sslctx.load_cert_chain(cf, kf)
    elif user.get("client-certificate"):
        sslctx.load_cert_chain(user["client-certificate"], user.get("client-key"))
    return {"server": cluster["server"].rstrip("/"), "ssl": sslctx, "token": token}


def object_path(res, namespace=None, name=None, sub=None) -> str:
    base = f"/apis/{res.group}/{res.version}" if res.group else f"/api/{res.version}"
    if res.namespaced and namespace:
        base += f"/namespaces/{namespace}"
    base += f"/{res.plural}"
    if name:
        base += f"/{name}"
    if sub:
        base += f"/{sub}"
    return base


class RestClient(api.Client):
    def __init__(self, kubeconfig, *, name: str = "", dispatch=None, timeout: float = 30.0):
        cfg = load_kubeconfig(kubeconfig)
        self.name = name
        self.server = cfg["server"]
        self.token = cfg["token"]
        self.timeout = timeout
        self.dispatch = dispatch or (lambda fn, *a: fn(*a))
        # one connection per informer's watch stream, plus the requests of the worker and the webhook
        self.pool = urllib3.PoolManager(num_pools=4, maxsize=64, ssl_context=cfg["ssl"], retries=False)
        self._groups: dict[str, tuple] = {}     # group -> (preferred version, expires)
        self._gv: dict[str, tuple] = {}         # group/version -> ({plural: Res}, {kind: Res}, expires)
        self._disc_lock = threading.Lock()
        self._subs: dict[tuple, list] = {}
        self._informers: dict[tuple, Informer] = {}
        self._subs_lock = threading.Lock()
        self.stopped = threading.Event()
        self._crd_informer = None

    # ------------------------------------------------------------------------------------- HTTP
    def request(self, method, path, body=None, *, params=None, content_type=JSON, timeout=None, stream=False):
        url = self.server + path
        if params:
            url += "?" + urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        headers = {"Accept": JSON, "User-Agent": USER_AGENT}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        t = timeout or self.timeout
        try:
            resp = self.pool.request(method, url, body=data, headers=headers, preload_content=not stream,
                                     timeout=urllib3.Timeout(connect=5.0, read=t), redirect=False)
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise api.Unavailable(f"{method} {self.server}{path}: {err}") from None
        if stream:
            return resp
        payload = resp.data
        if resp.status >= 400:
            raise _api_error(resp.status, payload)
        return json.loads(payload) if payload else None

    # -------------------------------------------------------------------------------- discovery
    def _group_version(self, gv: str, *, refresh: bool = False):
        now = time.monotonic()
        with self._disc_lock:
            hit = self._gv.get(gv)
        if hit and hit[2] > now and not (refresh and now - hit[3] > MISS_REFRESH):
            return hit
        try:
            doc = self.request("GET", "/api/v1" if gv == "v1" else f"/apis/{gv}")
        except E.ApiError as err:
            if err.code not in (404, 503):
                raise
            doc = None
        group, _, version = gv.rpartition("/")
        plurals, kinds = {}, {}
        for r in (doc or {}).get("resources") or []:
            if "/" in r["name"]:
                continue
            res = api.Res(group, version, r["name"], r["kind"], r["namespaced"])
            plurals[r["name"]] = res
            kinds[r["kind"]] = res
        for r in (doc or {}).get("resources") or []:
            if r["name"].endswith("/status") and r["name"].split("/")[0] in plurals:
                plurals[r["name"].split("/")[0]].status = True
        # what is served stays cached until a CRD changes; what is not is asked again after a second (a group's
        # discovery document lags its CRDs' Established condition: a kind missing from it is asked again too)
        entry = (plurals, kinds, now + (3600 if doc else 1.0), now)
        with self._disc_lock:
            self._gv[gv] = entry
        return entry

    def _preferred(self, group: str):
        if not group:
            return "v1"
        now = time.monotonic()
        with self._disc_lock:
            hit = self._groups.get(group)
        if hit and hit[1] > now:
            return hit[0]
        try:
            doc = self.request("GET", f"/apis/{group}")
            version = ((doc or {}).get("preferredVersion") or {}).get("version")
        except E.ApiError as err:
            if err.code not in (404, 503):
                raise
            version = None
        with self._disc_lock:
            self._groups[group] = (version, now + (3600 if version else 1.0))
        return version

    def forget_discovery(self, group: str | None = None):
        with self._disc_lock:
            if group is None:
                self._groups.clear()
                self._gv.clear()
            else:
                self._groups.pop(group, None)
                for gv in [g for g in self._gv if g.rpartition("/")[0] == group]:
                    self._gv.pop(gv, None)

    def resource(self, group, plural):
        version = self._preferred(group)
        if version is None:
            return None
        gv = f"{group}/{version}" if group else "v1"
        res = self._group_version(gv)[0].get(plural)
        return res if res is not None else self._group_version(gv, refresh=True)[0].get(plural)

    def kind(self, api_version, kind):
        res = self._group_version(api_version)[1].get(kind)
        return res if res is not None else self._group_version(api_version, refresh=True)[1].get(kind)

    # ------------------------------------------------------------------------------------ verbs
    def get(self, res, namespace, name):
        try:
            return self.request("GET", object_path(res, namespace, name))
        except E.ApiError as err:
            if err.code == 404:
                return None
            raise

    def list(self, res, namespace=None, labels=None):
        return self.list_with_rv(res, namespace, labels)[0]

    def list_with_rv(self, res, namespace=None, labels=None):
        items, cont, rv = [], None, ""
        params = {"limit": 500}
        if labels:
            params["labelSelector"] = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        while True:
            doc = self.request("GET", object_path(res, namespace or None), params=dict(params, **{"continue": cont}))
            for item in doc.get("items") or []:
                item.setdefault("apiVersion", res.api_version)
                item.setdefault("kind", res.kind)
                items.append(item)
            rv = (doc.get("metadata") or {}).get("resourceVersion", rv)
            cont = (doc.get("metadata") or {}).get("continue")
            if not cont:
                return items, rv

    def _res_of(self, obj):
        res = self.kind(obj.get("apiVersion", ""), obj.get("kind", ""))
        if res is None:
            raise E.ApiError(404, "NotFound", f'no matches for kind "{obj.get("kind")}" in version '
                                              f'"{obj.get("apiVersion")}"')
        return res

    def create(self, obj, *, manager=None):
        res = self._res_of(obj)
        ns = (obj.get("metadata") or {}).get("namespace") or "default"
        return self.request("POST", object_path(res, ns if res.namespaced else None), obj,
                            params={"fieldManager": manager})

    def update(self, obj, *, manager=None):
        res = self._res_of(obj)
        meta = obj["metadata"]
        return self.request("PUT", object_path(res, meta.get("namespace"), meta["name"]), obj,
                            params={"fieldManager": manager})

    def update_status(self, obj, *, manager=None):
        res = self._res_of(obj)
        meta = obj["metadata"]
        if not res.status:
            return self.update(obj, manager=manager)
        return self.request("PUT", object_path(res, meta.get("namespace"), meta["name"], "status"), obj,
                            params={"fieldManager": manager})

    def delete(self, res, namespace, name, *, propagation=None, uid=None, grace_seconds=None):
        body = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation:
            body["propagationPolicy"] = propagation
        if uid:
            body["preconditions"] = {"uid": uid}
        if grace_seconds is not None:
            body["gracePeriodSeconds"] = grace_seconds
        try:
            self.request("DELETE", object_path(res, namespace, name), body)
        except E.ApiError as err:
            if err.code != 404:
                raise

    def subresource(self, method, res, namespace, name, sub, body):
        return self.request(method, object_path(res, namespace, name, sub), body)

    # ----------------------------------------------------------------------------------- events
    def watch(self, group, plural, handler):
        with self._subs_lock:
            self._subs.setdefault((group, plural), []).append(handler)
            if self._crd_informer is None:
                crd = api.Res("apiextensions.k8s.io", "v1", "customresourcedefinitions",
                              "CustomResourceDefinition", False)
                self._crd_informer = Informer(self, crd, self._on_crd)
                self._crd_informer.start()
        if (group, plural) != CRDS:  # the CRD informer serves those
            self._start_informer(group, plural)

    def _start_informer(self, group, plural, res=None):
        with self._subs_lock:
            inf = self._informers.get((group, plural))
            if inf is not None and inf.alive():
                return
            if self.stopped.is_set():
                return
        res = res or self.resource(group, plural)
        if res is None:
            return  # not served (yet): a CRD event starts it
        with self._subs_lock:
            if (group, plural) in self._informers and self._informers[(group, plural)].alive():
                return
            inf = self._informers[(group, plural)] = Informer(self, res, lambda t, o, k=(group, plural):
                                                              self._deliver(k, t, o))
        inf.start()

    def _deliver(self, key, type_, obj):
        for fn in list(self._subs.get(key, ())):
            self.dispatch(fn, type_, obj)

    def _on_crd(self, type_, crd):
        spec = crd.get("spec") or {}
        group, plural = spec.get("group", ""), (spec.get("names") or {}).get("plural", "")
        self.forget_discovery(group)
        established = any(c.get("type") == "Established" and c.get("status") == "True"
                          for c in (crd.get("status") or {}).get("conditions") or [])
        key = (group, plural)
        if type_ != "DELETED" and established and key in self._subs:
            # the resource as the CRD serves it: discovery may not list it yet (it lags Established), the
            # informer waits for the endpoint to answer
            versions = [v for v in spec.get("versions") or [] if v.get("served", True)]
            v = next((v for v in versions if v.get("storage")), versions[0] if versions else None)
            if v is not None:
                res = api.Res(group, v["name"], plural, (spec.get("names") or {}).get("kind", ""),
                              spec.get("scope") == "Namespaced", bool((v.get("subresources") or {}).get("status")))
                self._start_informer(group, plural, res)
        self._deliver(CRDS, type_, crd)

    def close(self):
        self.stopped.set()
        with self._subs_lock:
            informers = list(self._informers.values()) + ([self._crd_informer] if self._crd_informer else [])
        for inf in informers:
            inf.stop()
        self.pool.clear()


class Informer:
    """LIST + WATCH of one resource on one cluster, in a thread (see the module's docstring)."""

    def __init__(self, client: RestClient, res, deliver):
        self.client, self.res, self.deliver = client, res, deliver
        self.cache: dict[tuple, dict] = {}
        self._stop = threading.Event()
        self._resp = None
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name=f"informer {client.name or 'mgmt'} {res.plural}")

    def start(self):
        self.thread.start()

    def alive(self):
        return self.thread.is_alive() and not self._stop.is_set()

    def stop(self):
        self._stop.set()
        resp = self._resp
        if resp is not None:
            try:
                resp.release_conn()
                resp.shutdown()
            except Exception:  # noqa: BLE001 (closing a stream that may be gone already)
                pass

    @staticmethod
    def _key(obj):
        return (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])

    def _relist(self):
        items, rv = self.client.list_with_rv(self.res)
        seen = {}
        for obj in items:
            k = self._key(obj)
            seen[k] = obj
            old = self.cache.get(k)
            if old is None:
                self.deliver("ADDED", obj)
            elif old["metadata"].get("resourceVersion") != obj["metadata"].get("resourceVersion"):
                self.deliver("MODIFIED", obj)
        for k, old in self.cache.items():
            if k not in seen:
                self.deliver("DELETED", old)
        self.cache = seen
        return rv

    def _run(self):
        rv, backoff, listed, started = None, 0.2, False, time.monotonic()
        while not self._stop.is_set() and not self.client.stopped.is_set():
            try:
                if rv is None:
                    rv = self._relist()
                    listed = True
                rv = self._watch(rv)
                backoff = 0.2
            except E.ApiError as err:
                if err.code == 410:
                    rv = None
                    continue
                if err.code == 404 and not listed and time.monotonic() - started < 60:
                    time.sleep(0.2)  # a CRD just Established: its endpoint answers a moment later
                    continue
                if err.code == 404:  # the resource is no longer served (its CRD went away)
                    for old in list(self.cache.values()):
                        self.deliver("DELETED", old)
                    self.cache.clear()
                    return
                time.sleep(backoff)
                backoff = min(backoff * 2, 3.0)
            except Exception as err:  # noqa: BLE001 (a dropped stream, a server restarting, a stream closed by stop())
                if self._stop.is_set() or self.client.stopped.is_set():
                    return
                if not isinstance(err, (api.Unavailable, OSError, ValueError, urllib3.exceptions.HTTPError)):
                    log.warning("informer %s %s: %r", self.client.name or "mgmt", self.res.plural, err)
                time.sleep(backoff)
                backoff = min(backoff * 2, 3.0)

    def _watch(self, rv):
        params = {"watch": "true", "resourceVersion": rv, "allowWatchBookmarks": "true", "timeoutSeconds": 240}
        path = object_path(self.res) + "?" + urllib.parse.urlencode(params)
        resp = self.client.request("GET", path, stream=True, timeout=270)
        self._resp = resp
        try:
            if resp.status >= 400:
                raise _api_error(resp.status, resp.read())
            buf = b""
            for chunk in resp.stream(65536, decode_content=True):
                if self._stop.is_set():
                    return rv
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if not line.strip():
                        continue
                    ev = json.loads(line)
                    obj = ev.get("object") or {}
                    typ = ev.get("type")
                    if typ == "ERROR":
                        raise _api_error(obj.get("code", 500), json.dumps(obj).encode())
                    new_rv = (obj.get("metadata") or {}).get("resourceVersion")
                    if typ == "BOOKMARK":
                        rv = new_rv or rv
                        continue
                    obj.setdefault("apiVersion", self.res.api_version)
                    obj.setdefault("kind", self.res.kind)
                    k = self._key(obj)
                    if typ == "DELETED":
                        self.cache.pop(k, None)
                    else:
                        self.cache[k] = obj
                    rv = new_rv or rv
                    self.deliver(typ, obj)
            return rv
        finally:
            self._resp = None
            resp.release_conn()


def _api_error(code: int, payload: bytes) -> E.ApiError:
    try:
        body = json.loads(payload or b"{}")
    except ValueError:
        body = {"message": (payload or b"").decode(errors="replace")[:500]}
    if not isinstance(body, dict):
        body = {"message": str(body)}
    return E.ApiError(int(body.get("code") or code), body.get("reason", ""), body.get("message", ""),
                      details=body.get("details"))


class ThreadRuntime(api.Runtime):
    """Controller work on one worker thread: timers, one pending run per key, retries with back-off for what
    failed transiently (409, 429, 5xx, an unreachable server) or unexpectedly (an exception that is not an API
    error: requeued, as controller-runtime requeues every error, never dropped), events from informers
    (call_soon)."""

    quiet = False

    def __init__(self, default_delay: float = 0.02):
        import heapq  # noqa: WPS433
        import itertools  # noqa: WPS433
        self._heapq = heapq
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._heap: list = []
        self._pending: set = set()
        self._attempts: dict = {}
        self._dropped: set = set()
        self.default_delay = default_delay
        self._stopped = False
        self.thread = threading.Thread(target=self._loop, daemon=True, name="kofsim-controllers")
        self.errors = 0

    def start(self):
        self.thread.start()

    def stop(self):
        with self._cv:
            self._stopped = True
            self._cv.notify_all()
        if self.thread.is_alive():
            self.thread.join(timeout=10)

    def scope(self, name):
        with self._cv:
            self._dropped.discard(name)
        return api.Scope(self, name)

    def drop(self, name):
        with self._cv:
            self._dropped.add(name)

    def _push(self, due, key, fn, args):
        self._heapq.heappush(self._heap, (due, next(self._seq), key, fn, args))
        self._cv.notify()

    def schedule(self, key, fn, *args, delay=None):
        with self._cv:
            if key in self._pending or self._stopped:
                return
            self._pending.add(key)
            self._push(time.monotonic() + (self.default_delay if delay is None else delay), key, fn, args)

    def call_soon(self, fn, *args):
        with self._cv:
            if not self._stopped:
                self._push(time.monotonic(), None, fn, args)

    def _loop(self):
        while True:
            with self._cv:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    self._cv.wait(timeout=(self._heap[0][0] - time.monotonic()) if self._heap else None)
                if self._stopped:
                    return
                _, _, key, fn, args = self._heapq.heappop(self._heap)
                if key is not None:
                    self._pending.discard(key)
                    if key[0] in self._dropped:
                        continue
            err = self.run_once(fn, args)
            if key is None:
                if err is not None:
                    log.warning("event handler %s failed: %s", getattr(fn, "__name__", fn), err)
                continue
            if err is None:
                self._attempts.pop(key, None)
                continue
            self.errors += 1
            attempt = self._attempts.get(key, 0)
            wait = api.retry_delay(err, attempt)
            if wait is None:
                self._attempts.pop(key, None)
                continue
            self._attempts[key] = attempt + 1
            log.info("retrying %s in %.2fs: %s", key, wait, getattr(err, "message", None) or err)
            self.schedule(key, fn, *args, delay=wait)
