"""What kofsim's simulated k0rdent needs from a Kubernetes API, and nothing more: the client interface its
controllers are written against, and the scheduling of their work.

Two implementations serve both backends (kofsim/K0RDENT.md, "One controller code, two backends"):

- `inproc.InProcessClient` / `inproc.EmulatorRuntime`: the emulator's own API, in its process (the store's
  write path with admission, validation, resourceVersion preconditions, the status subresource, finalizers),
  events from its watch fan-out;
- `rest.RestClient` / `rest.ThreadRuntime`: any kube-apiserver over HTTPS (list + watch informers, PUT with
  resourceVersion, /status, DELETE with propagation), as `kofsim controllers` runs them against the real
  backend.

Rules every controller follows, as client-go controllers do: objects read from a client are shared and never
modified (clone first); an update carries the resourceVersion it was computed from, and a 409 Conflict requeues
the work (`Runtime.schedule` retries it); status goes through the status subresource; what a controller creates
is owned by what caused it (ownerReferences) and removed by the garbage collector.
"""
from __future__ import annotations

import datetime as _dt
import logging
import time

from .. import errors as E
from ..fastcopy import clone

log = logging.getLogger("kofsim.k0rdent")

# errors worth retrying: the API server or a webhook was unreachable or overloaded, or a write lost a race
RETRY_CODES = {409, 429, 500, 502, 503, 504}


class Res:
    """A served resource (what discovery says): enough to build paths and objects."""

    __slots__ = ("group", "version", "plural", "kind", "namespaced", "status")

    def __init__(self, group, version, plural, kind, namespaced, status=False):
        self.group, self.version, self.plural, self.kind = group, version, plural, kind
        self.namespaced, self.status = namespaced, status

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple:
        return (self.group, self.plural)

    def __repr__(self):
        return f"<Res {self.plural}.{self.group or 'core'}/{self.version}>"


class Client:
    """One cluster's API. Subclasses implement the verbs; the helpers below are shared."""

    name = ""  # cluster id: "" for the management cluster, "<namespace>/<name>" for a workload cluster

    # -- discovery
    def resource(self, group: str, plural: str):
        """The preferred served version of group/plural, or None when it is not served."""
        raise NotImplementedError

    def kind(self, api_version: str, kind: str):
        """The resource serving api_version/kind, or None."""
        raise NotImplementedError

    # -- verbs (objects returned are shared: never modify them)
    def get(self, res, namespace, name) -> dict | None:
        raise NotImplementedError

    def list(self, res, namespace=None, labels: dict | None = None) -> list[dict]:
        raise NotImplementedError

    def create(self, obj: dict, *, manager: str | None = None) -> dict:
        raise NotImplementedError

    def update(self, obj: dict, *, manager: str | None = None) -> dict:
        """PUT: obj carries the resourceVersion it was computed from (409 Conflict when stale)."""
        raise NotImplementedError

    def update_status(self, obj: dict, *, manager: str | None = None) -> dict:
        """PUT to the status subresource (resources without one: the object)."""
        raise NotImplementedError

    def delete(self, res, namespace, name, *, propagation: str | None = None, uid: str | None = None,
               grace_seconds: int | None = None) -> None:
        """DELETE; NotFound is not an error here (the object is gone either way)."""
        raise NotImplementedError

    def watch(self, group: str, plural: str, handler) -> None:
        """Subscribe handler(event_type, obj) to group/plural's events on this cluster (also once it is served
        later, e.g. when a chart installs its CRD). Handlers only schedule work: they run on the event path."""
        raise NotImplementedError

    # -- shared helpers
    def get_kind(self, api_version, kind, namespace, name) -> dict | None:
        res = self.kind(api_version, kind)
        if res is None:
            return None
        return self.get(res, namespace if res.namespaced else "", name or "")

    def ensure(self, obj: dict, *, manager: str | None = None, keep_status: bool = True) -> dict:
        """Create obj, or bring the live object to it: labels, annotations and ownerReferences as given, every
        other top-level field (spec, data, ...) replaced; server-set metadata and finalizers kept. No request
        when the live object already matches. A 409 propagates (the caller's work is requeued)."""
        res = self.kind(obj["apiVersion"], obj["kind"])
        if res is None:
            raise E.ApiError(404, "NotFound", f'no matches for kind "{obj["kind"]}" in version "{obj["apiVersion"]}"')
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace", "") if res.namespaced else ""
        cur = self.get(res, ns, meta["name"])
        if cur is None:
            try:
                return self.create(obj, manager=manager)
            except E.ApiError as err:
                if err.code != 409 or err.reason != "AlreadyExists":
                    raise
                cur = self.get(res, ns, meta["name"])
                if cur is None:
                    raise
        want = desired(cur, obj, keep_status=keep_status)
        if same_object(cur, want):
            return cur
        return self.update(want, manager=manager)

    def set_status(self, obj: dict, status: dict, *, manager: str | None = None) -> dict:
        """Write obj's status (obj as read: its resourceVersion is the precondition); nothing when unchanged."""
        if obj.get("status") == status:
            return obj
        body = dict(obj)
        body["status"] = status
        return self.update_status(body, manager=manager)

    def delete_obj(self, obj: dict, *, propagation: str | None = None) -> None:
        res = self.kind(obj["apiVersion"], obj["kind"])
        if res is not None:
            self.delete(res, obj["metadata"].get("namespace", "") if res.namespaced else "", obj["metadata"]["name"],
                        propagation=propagation)


_SERVER_META = ("uid", "resourceVersion", "creationTimestamp", "generation", "deletionTimestamp",
                "deletionGracePeriodSeconds", "managedFields", "finalizers")


def desired(cur: dict, obj: dict, *, keep_status: bool = True) -> dict:
    """The update that makes cur what obj says (see Client.ensure)."""
    want = {k: v for k, v in obj.items() if k != "status"}
    meta = dict(obj.get("metadata") or {})
    for k in _SERVER_META:
        if k in cur["metadata"]:
            meta[k] = cur["metadata"][k]
    for k in ("labels", "annotations", "ownerReferences"):
        if k not in meta and k in cur["metadata"]:
            meta[k] = cur["metadata"][k]
    want["metadata"] = meta
    if obj.get("kind") == "PersistentVolumeClaim" and (cur.get("spec") or {}).get("volumeName"):
        # a bound claim's spec is immutable but for its requests (what a 3-way merge would leave alone)
        spec = dict(cur["spec"])
        requests = ((obj.get("spec") or {}).get("resources") or {}).get("requests")
        if requests:
            spec["resources"] = dict(spec.get("resources") or {}, requests=requests)
        want["spec"] = spec
    if keep_status and "status" in cur:
        want["status"] = cur["status"]
    elif "status" in obj:
        want["status"] = obj["status"]
    return want


def same_object(cur: dict, want: dict) -> bool:
    ignore = ("managedFields",)
    a = {k: v for k, v in cur.items() if k != "metadata"}
    b = {k: v for k, v in want.items() if k != "metadata"}
    if a.get("kind") != b.get("kind"):
        return False
    a.pop("apiVersion", None)
    b.pop("apiVersion", None)
    if a != b:
        return False
    ma = {k: v for k, v in cur["metadata"].items() if k not in ignore}
    mb = {k: v for k, v in want["metadata"].items() if k not in ignore}
    for m in (ma, mb):  # empty maps are not stored
        for k in ("labels", "annotations"):
            if not m.get(k):
                m.pop(k, None)
    return ma == mb


def now() -> str:
    """A timestamp as the API server writes them (second precision, UTC)."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def mutable(obj: dict) -> dict:
    """A private copy of a shared object, to change and write back."""
    return clone(obj)


def retry_delay(err: BaseException, attempt: int) -> float | None:
    """How long to wait before retrying work that failed with err (None: do not retry)."""
    code = getattr(err, "code", None)
    if isinstance(err, E.ApiError):
        if code not in RETRY_CODES:
            return None
        if code == 409:
            return min(0.05 * (2 ** attempt), 1.0)
    elif not isinstance(err, (OSError, TimeoutError, ConnectionError, Unavailable)):
        # anything else (an answer the controller did not expect, a bug): controller-runtime requeues every error
        # a reconcile returns, with its rate limiter's back-off; dropping it would lose the object's reconcile for
        # good (nothing else may ever schedule it again)
        return min(0.5 * (2 ** attempt), 30.0)
    return min(0.25 * (2 ** attempt), 5.0)


class Unavailable(Exception):
    """The API cannot be reached (connection refused, reset, timeout): retried."""


class Runtime:
    """Runs controller work after a delay, once per key while pending, retrying what failed transiently.
    `scope(name)` gives a view whose pending work is dropped by `drop(name)` (a deleted workload cluster)."""

    quiet = True  # work that failed for good is logged at debug level (the emulator's log stays quiet)

    def schedule(self, key, fn, *args, delay=None):
        raise NotImplementedError

    def scope(self, name: str) -> "Scope":
        return Scope(self, name)

    def drop(self, name: str) -> None:
        pass

    def run_once(self, fn, args) -> BaseException | None:
        """Run fn(*args); returns the exception to retry, None when done (or failed for good: logged)."""
        try:
            fn(*args)
            return None
        except E.ApiError as err:
            if err.code in RETRY_CODES:
                return err
            (log.debug if self.quiet else log.warning)("%s%s: %s", getattr(fn, "__name__", fn), args, err.message)
            return None
        except (OSError, Unavailable) as err:
            return err
        except Exception as err:  # noqa: BLE001 (a bug must not stop every controller; the work is requeued)
            log.warning("%s%s failed (requeued): %r", getattr(fn, "__name__", fn), args, err, exc_info=True)
            return err


class Scope:
    def __init__(self, runtime: Runtime, name: str):
        self.runtime, self.name = runtime, name

    def schedule(self, key, fn, *args, delay=None):
        self.runtime.schedule((self.name,) + tuple(key), fn, *args, delay=delay)
