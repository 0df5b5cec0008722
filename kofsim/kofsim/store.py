"""One cluster's API state: objects, resourceVersions, admission, subresources, deletion and watch events.

Every write goes through `Cluster.write`, which is what kube-apiserver's registry + etcd do: defaulting,
validation, status/spec separation, generation tracking, no-op detection (a write that changes nothing keeps
the resourceVersion), finalizers and garbage collection. HTTP concerns live in server.py.
"""
from __future__ import annotations

import base64
import binascii
import contextvars
import datetime as _dt
import itertools
import json
import random
import re
import uuid
from collections import deque

from . import errors as E
from . import schema as S
from .fastcopy import clone
from .patch import record_update
from .registry import Registry, ResourceType
from .selectors import match_fields, match_labels

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
# the spec fields of a StatefulSet an update may change, and kube-apiserver's message for any other change
STS_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit",
               "persistentVolumeClaimRetentionPolicy", "minReadySeconds")
STS_FORBIDDEN = ("updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
                 "'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and "
                 "'minReadySeconds' are forbidden")
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_GEN_CHARS = "bcdfghjklmnpqrstvwxz2456789"
CRD_CLEANUP = "customresourcecleanup.apiextensions.k8s.io"

SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
             "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
             "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
NAME_PART_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                 "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
                 "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                   "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
                   "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
CONFIG_KEY_MSG = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  "
                  "or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")
DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
               "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
               "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")


# The request being served (set by the HTTP front end): a write that stores a change marks it "persisted" in the
# request log. Only while the request is open: work it schedules for later is not the request's own write.
WRITE_SINK: contextvars.ContextVar = contextvars.ContextVar("kofsim_write_sink", default=None)


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rand_suffix(n=5) -> str:
    return "".join(random.choice(_GEN_CHARS) for _ in range(n))


class Event:
    __slots__ = ("rv", "type", "key", "namespace", "obj")

    def __init__(self, rv, type_, key, namespace, obj):
        self.rv, self.type, self.key, self.namespace, self.obj = rv, type_, key, namespace, obj


class Cluster:
    """A Kubernetes API's persistent state. `name` is '' for the management cluster."""

    # Events kept per resource for watch resumption, like kube-apiserver's per-resource watch cache.
    HISTORY = 10000

    def __init__(self, name: str, token: str, *, k8s_version: str = "v1.36.1"):
        self.name = name
        self.token = token
        self.k8s_version = k8s_version
        self.registry = Registry()
        self.objects: dict[tuple, dict[tuple, dict]] = {}
        # (namespace, service, port) -> URL: what answers for the Service's proxy subresource (server.py)
        self.service_backends: dict[tuple, str] = {}
        self._rv = itertools.count(1)
        self.rv = 0
        self.history_size = self.HISTORY
        self.history: dict[tuple, deque] = {}       # resource key -> recent events (the watch cache)
        self.history_floor: dict[tuple, int] = {}   # resource key -> rv of the newest event dropped from it
        self.compacted = 0                          # rv of the last compaction (etcd's): older rvs are gone
        self.watchers: dict[tuple, list] = {}       # resource key -> server-side watches
        self.by_uid: dict[str, tuple] = {}          # uid -> (resource key, (namespace, name))
        self.owned: dict[str, set] = {}             # owner uid -> {(resource key, (namespace, name))}
        self.in_namespace: dict[str, set] = {}      # namespace -> {(resource key, (namespace, name))}
        self.listeners: list = []         # controllers: callable(event_type, rt, obj)
        self.lb_domain: str | None = None  # virtual cloud clusters hand out load-balancer hostnames
        self.crashloop: set = set()       # (namespace, pod name prefix) of pods that never become Ready
        self._ip = itertools.count(10)
        self.extra: dict = {}             # controller-private state
        # CEL rules also for kofsim's own writes (controllers, the k0rdent layer)? Off: those are trusted.
        self.cel_for_internal = False
        # validating admission webhooks: fn(operation, rt, new, old) raising ApiError to deny.
        # They run for dry runs too (kcm's webhooks declare sideEffects: None).
        self.admission: list = []

    # ------------------------------------------------------------------------------------ helpers
    def next_rv(self) -> int:
        self.rv = next(self._rv)
        sink = WRITE_SINK.get()
        if sink is not None and sink["open"]:
            sink["entry"]["persisted"] = True
        return self.rv

    def bucket(self, rt: ResourceType) -> dict:
        return self.objects.setdefault(rt.key, {})

    def view(self, obj: dict, rt: ResourceType) -> dict:
        """An object as served at `rt`'s version (CRDs with conversion strategy None just relabel)."""
        out = clone(obj)
        out["apiVersion"] = rt.api_version
        return out

    def storage_rt(self, rt: ResourceType) -> ResourceType:
        for cand in self.registry.versions_of(rt.group, rt.plural):
            if cand.version == rt.storage_version:
                return cand
        return rt

    def find(self, rt: ResourceType, namespace: str | None, name: str) -> dict | None:
        return self.bucket(rt).get((namespace or "", name))

    def namespace_obj(self, ns: str) -> dict | None:
        return self.objects.get(("", "namespaces"), {}).get(("", ns))

    def rt_for(self, api_version: str, kind: str) -> ResourceType | None:
        return self.registry.by_kind(api_version, kind)

    def lookup(self, api_version, kind, namespace, name) -> dict | None:
        rt = self.rt_for(api_version, kind)
        if rt is None:
            return None
        obj = self.find(rt, namespace if rt.namespaced else "", name)
        return self.view(obj, rt) if obj else None

    def list_objects(self, rt: ResourceType, namespace: str | None = None, label_reqs=None, field_reqs=None):
        bucket = self.bucket(rt)
        keys = sorted(k for k in bucket if not namespace or k[0] == namespace)  # filter first, sort the few
        items = []
        for k in keys:
            obj = bucket[k]
            if label_reqs and not match_labels(label_reqs, obj["metadata"].get("labels")):
                continue
            if field_reqs and not match_fields(field_reqs, obj):
                continue
            items.append(obj)
        return items

    def _emit(self, type_: str, rt: ResourceType, obj: dict, rv: int) -> None:
        ev = Event(rv, type_, rt.key, obj["metadata"].get("namespace", ""), obj)
        hist = self.history.get(rt.key)
        if hist is None:
            hist = self.history[rt.key] = deque()
        while len(hist) >= self.history_size:
            self.history_floor[rt.key] = hist.popleft().rv
        hist.append(ev)
        for w in list(self.watchers.get(rt.key, ())):
            w.offer(ev)
        for fn in list(self.listeners):
            fn(type_, rt, obj)

    def events_since(self, rt: ResourceType, since: int) -> list:
        """Events of `rt` newer than `since`; 410 Expired when some of them are no longer kept."""
        floor = max(self.compacted, self.history_floor.get(rt.key, 0))
        if since < floor:
            raise E.gone(f"too old resource version: {since} ({floor + 1})")
        return [ev for ev in self.history.get(rt.key, ()) if ev.rv > since]

    def compact(self) -> int:
        """What etcd compaction does to clients: resourceVersions up to now can no longer be watched from
        or continued from (410 Gone)."""
        self.compacted = self.rv
        self.history.clear()
        return self.compacted

    # object set + indexes (uid, owner references); every store mutation goes through these two
    def _put(self, rt: ResourceType, obj: dict) -> None:
        meta = obj["metadata"]
        okey = (meta.get("namespace", "") if rt.namespaced else "", meta["name"])
        bucket = self.bucket(rt)
        old = bucket.get(okey)
        if old is not None:
            self._unindex(rt.key, okey, old)
        bucket[okey] = obj
        self.by_uid[meta["uid"]] = (rt.key, okey)
        if okey[0]:
            self.in_namespace.setdefault(okey[0], set()).add((rt.key, okey))
        for ref in meta.get("ownerReferences") or []:
            if ref.get("uid"):
                self.owned.setdefault(ref["uid"], set()).add((rt.key, okey))

    def _pop(self, rt_key: tuple, okey: tuple) -> dict | None:
        cur = self.objects.get(rt_key, {}).pop(okey, None)
        if cur is not None:
            self._unindex(rt_key, okey, cur)
        return cur

    def _unindex(self, rt_key, okey, obj) -> None:
        meta = obj["metadata"]
        if self.by_uid.get(meta.get("uid")) == (rt_key, okey):
            del self.by_uid[meta["uid"]]
        members = self.in_namespace.get(okey[0])
        if members is not None:
            members.discard((rt_key, okey))
            if not members:
                del self.in_namespace[okey[0]]
        for ref in meta.get("ownerReferences") or []:
            deps = self.owned.get(ref.get("uid"))
            if deps is not None:
                deps.discard((rt_key, okey))
                if not deps:
                    del self.owned[ref.get("uid")]

    def namespace_content(self, ns: str) -> list[tuple[ResourceType, dict]]:
        """Every object in namespace `ns` (an index lookup, not a scan of the store)."""
        out = []
        for rt_key, okey in sorted(self.in_namespace.get(ns, ())):
            rts = self.registry.versions_of(*rt_key)
            obj = self.objects.get(rt_key, {}).get(okey)
            if rts and obj is not None:
                out.append((self.storage_rt(rts[0]), obj))
        return out

    def crd_terminating(self, rt: ResourceType) -> bool:
        if rt.builtin:
            return False
        crd = self.objects.get(("apiextensions.k8s.io", "customresourcedefinitions"), {}).get(
            ("", f"{rt.plural}.{rt.group}"))
        return bool(crd and crd["metadata"].get("deletionTimestamp"))

    def exists_uid(self, uid: str) -> bool:
        return uid in self.by_uid

    # ------------------------------------------------------------------------------ validation
    def _validate_name(self, rt: ResourceType, name: str, path="metadata.name"):
        if not name:
            raise E.invalid(rt, name, [(path, "FieldValueRequired", "Required value: name or generateName is "
                                                                    "required")])
        if rt.group == "rbac.authorization.k8s.io":
            if name in (".", "..") or "/" in name or "%" in name:
                raise E.invalid(rt, name, [(path, "FieldValueInvalid", f'Invalid value: "{name}": may not contain '
                                                                       f"'/' or '%'")])
            return
        if rt.plural == "namespaces":
            ok, msg, limit = DNS1123_LABEL.match(name), LABEL_MSG, 63
        elif rt.plural == "services":
            ok, msg, limit = DNS1035_LABEL.match(name), DNS1035_MSG, 63
        else:
            ok, msg, limit = DNS1123_SUBDOMAIN.match(name), SUBDOMAIN_MSG, 253
        if not ok:
            raise E.invalid(rt, name, [(path, "FieldValueInvalid", f'Invalid value: "{name}": {msg}')])
        if len(name) > limit:
            raise E.invalid(rt, name, [(path, "FieldValueTooLong", f'Invalid value: "{name}": must be no more '
                                                                   f"than {limit} characters")])

    @staticmethod
    def _label_key_ok(key: str) -> bool:
        prefix, _, nm = key.rpartition("/")
        if prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
            return False
        return bool(nm) and len(nm) <= 63 and bool(LABEL_NAME.match(nm))

    def _validate_meta(self, rt, obj):
        meta = obj["metadata"]
        name = meta.get("name", "")
        causes = []
        for k, v in (meta.get("labels") or {}).items():
            if not self._label_key_ok(k):
                causes.append(("metadata.labels", "FieldValueInvalid", f'Invalid value: "{k}": {NAME_PART_MSG}'))
            if not isinstance(v, str):
                raise E.bad_request(f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: json: '
                                    f"cannot unmarshal {_go_json_type(v)} into Go struct field "
                                    f"ObjectMeta.metadata.labels of type string")
            if v and len(v) > 63:
                causes.append(("metadata.labels", "FieldValueTooLong", 'Too long: may not be more than 63 bytes'))
            elif v and not LABEL_NAME.match(v):
                causes.append(("metadata.labels", "FieldValueInvalid", f'Invalid value: "{v}": {LABEL_VALUE_MSG}'))
        for k, v in (meta.get("annotations") or {}).items():
            if not self._label_key_ok(k.lower()):
                causes.append(("metadata.annotations", "FieldValueInvalid", f'Invalid value: "{k}": name part '
                                                                          f"must consist of alphanumeric characters"))
            if not isinstance(v, str):
                raise E.bad_request(f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: json: '
                                    f"cannot unmarshal {_go_json_type(v)} into Go struct field "
                                    f"ObjectMeta.metadata.annotations of type string")
        if len(json.dumps(meta.get("annotations") or {})) > 262144:
            causes.append(("metadata.annotations", "FieldValueTooLong", "Too long: must have at most 262144 bytes"))
        if causes:
            raise E.invalid(rt, name, causes)

    def _validate_builtin(self, rt: ResourceType, obj: dict, old: dict | None):
        name = obj["metadata"].get("name", "")
        spec = obj.get("spec") or {}
        causes = []
        if rt.plural in ("configmaps", "secrets"):
            for field_ in ("data", "binaryData", "stringData"):
                for k in (obj.get(field_) or {}):
                    if not CONFIG_KEY.match(k) or len(k) > 253:
                        causes.append((f"{field_}[{k}]", "FieldValueInvalid", f'Invalid value: "{k}": {CONFIG_KEY_MSG}'))
            if old and old.get("immutable"):
                for field_ in ("data", "binaryData", "stringData"):
                    if obj.get(field_) != old.get(field_):
                        causes.append((field_, "FieldValueForbidden",
                                       "Forbidden: field is immutable when `immutable` is set"))
                if obj.get("immutable") is not True:
                    causes.append(("immutable", "FieldValueForbidden",
                                   "Forbidden: field is immutable when `immutable` is set"))
            if rt.plural == "secrets" and old and obj.get("type") != old.get("type"):
                causes.append(("type", "FieldValueInvalid", f'Invalid value: "{obj.get("type")}": field is '
                                                          "immutable"))
        if rt.group in ("apps", "batch") and rt.plural in ("deployments", "replicasets", "statefulsets",
                                                           "daemonsets", "jobs"):
            tpl = spec.get("template") or {}
            sel = spec.get("selector")
            if rt.group == "apps" and not sel:
                causes.append(("spec.selector", "FieldValueRequired", "Required value"))
            elif sel and rt.group == "apps":
                from .selectors import match_label_selector_obj
                if not match_label_selector_obj(sel, (tpl.get("metadata") or {}).get("labels")):
                    causes.append(("spec.template.metadata.labels", "FieldValueInvalid",
                                   "Invalid value: " + _go_json((tpl.get("metadata") or {}).get("labels") or {})
                                   + ": `selector` does not match template `labels`"))
            causes += self._pod_spec_causes(tpl.get("spec") or {}, "spec.template.spec")
            if (old is not None and rt.group == "apps" and rt.plural != "statefulsets"
                    and (old.get("spec") or {}).get("selector") != sel):
                causes.append(("spec.selector", "FieldValueInvalid", "Invalid value: " + json.dumps(sel) +
                               ": field is immutable"))
            if old is not None and rt.plural == "statefulsets":
                # apps/validation ValidateStatefulSetUpdate (v1.36.3): only these spec fields may change; anything
                # else (volumeClaimTemplates, serviceName, selector, podManagementPolicy) is one Forbidden on spec
                a, b = ({k: v for k, v in (o.get("spec") or {}).items() if k not in STS_MUTABLE} for o in (old, obj))
                if a != b:
                    causes.append(("spec", "FieldValueForbidden", "Forbidden: " + STS_FORBIDDEN))
            if old is not None and rt.plural == "jobs" and (old.get("spec") or {}).get("template") != tpl:
                causes.append(("spec.template", "FieldValueInvalid", "Invalid value: ...: field is immutable"))
        if rt.plural == "pods" and rt.group == "":
            causes += self._pod_spec_causes(spec, "spec")
        if rt.plural == "services" and rt.group == "":
            stype = spec.get("type", "ClusterIP")
            if stype != "ExternalName" and spec.get("clusterIP") != "None" and not spec.get("ports"):
                causes.append(("spec.ports", "FieldValueRequired", "Required value"))
            for i, p in enumerate(spec.get("ports") or []):
                if not isinstance(p.get("port"), int) or not 0 < p["port"] < 65536:
                    causes.append((f"spec.ports[{i}].port", "FieldValueInvalid",
                                   f"Invalid value: {p.get('port')}: must be between 1 and 65535, inclusive"))
            if old is not None:
                oip = (old.get("spec") or {}).get("clusterIP")
                if oip and spec.get("clusterIP") not in (None, "", oip):
                    causes.append(("spec.clusterIPs[0]", "FieldValueInvalid",
                                   f'Invalid value: []string{{"{spec.get("clusterIP")}"}}: may not change once set'))
        if rt.plural == "services" and rt.group == "":
            ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress")
            if ingress and spec.get("type", "ClusterIP") != "LoadBalancer":
                causes.append(("status.loadBalancer.ingress", "FieldValueForbidden",
                               "Forbidden: may only be used when `spec.type` is 'LoadBalancer'"))
        if rt.plural == "persistentvolumeclaims" and old is not None:
            a = {k: v for k, v in (old.get("spec") or {}).items() if k not in ("resources", "volumeName")}
            b = {k: v for k, v in spec.items() if k not in ("resources", "volumeName")}
            if a != b:
                causes.append(("spec", "FieldValueForbidden", "Forbidden: spec is immutable after creation except "
                                                             "resources.requests and volumeAttributesClassName for "
                                                             "bound claims"))
        if rt.plural in ("rolebindings", "clusterrolebindings"):
            if not obj.get("roleRef"):
                causes.append(("roleRef.name", "FieldValueRequired", "Required value"))
            elif old is not None and old.get("roleRef") != obj.get("roleRef"):
                ref = obj.get("roleRef") or {}
                shown = _go_json({"APIGroup": ref.get("apiGroup", ""), "Kind": ref.get("kind", ""),
                                  "Name": ref.get("name", "")})
                causes.append(("roleRef", "FieldValueInvalid", f"Invalid value: {shown}: cannot change roleRef"))
        if rt.plural == "storageclasses" and old is not None:
            for f_ in ("provisioner", "parameters", "reclaimPolicy", "volumeBindingMode"):
                if old.get(f_) != obj.get(f_):
                    causes.append((f_, "FieldValueForbidden", "Forbidden: updates to " + f_ + " are forbidden."))
        if rt.plural == "customresourcedefinitions":
            causes += self._crd_causes(obj, old)
        if causes:
            raise E.invalid(rt, name, causes)

    @staticmethod
    def _pod_spec_causes(pspec: dict, path: str):
        causes = []
        containers = pspec.get("containers") or []
        if not containers:
            causes.append((f"{path}.containers", "FieldValueRequired", "Required value"))
        for i, c in enumerate(containers):
            if not c.get("name"):
                causes.append((f"{path}.containers[{i}].name", "FieldValueRequired", "Required value"))
            if not c.get("image"):
                causes.append((f"{path}.containers[{i}].image", "FieldValueRequired", "Required value"))
        return causes

    @staticmethod
    def _crd_causes(obj, old):
        spec = obj.get("spec") or {}
        names = spec.get("names") or {}
        causes = []
        group, plural = spec.get("group", ""), names.get("plural", "")
        if obj["metadata"].get("name") != f"{plural}.{group}":
            causes.append(("metadata.name", "FieldValueInvalid",
                           f'Invalid value: "{obj["metadata"].get("name")}": must be spec.names.plural+"."+spec.group'))
        if spec.get("scope") not in ("Namespaced", "Cluster"):
            causes.append(("spec.scope", "FieldValueNotSupported", f'Unsupported value: "{spec.get("scope")}": '
                                                                 'supported values: "Cluster", "Namespaced"'))
        if not names.get("kind"):
            causes.append(("spec.names.kind", "FieldValueRequired", "Required value"))
        versions = spec.get("versions") or []
        if not versions:
            causes.append(("spec.versions", "FieldValueInvalid", "Invalid value: []: must have exactly one version "
                                                                "marked as storage version"))
        elif sum(1 for v in versions if v.get("storage")) != 1:
            causes.append(("spec.versions", "FieldValueInvalid", "Invalid value: ...: must have exactly one version "
                                                                "marked as storage version"))
        for i, v in enumerate(versions):
            sch = ((v.get("schema") or {}).get("openAPIV3Schema"))
            if not sch:
                causes.append((f"spec.versions[{i}].schema.openAPIV3Schema", "FieldValueRequired",
                               "Required value: schemas are required"))
        if old is not None and (old.get("spec") or {}).get("scope") != spec.get("scope"):
            causes.append(("spec.scope", "FieldValueInvalid", "Invalid value: ...: field is immutable"))
        return causes

    # --------------------------------------------------------------------------- defaulting
    def type_root(self, rt: ResourceType):
        """The schema Node the field manager walks objects of `rt` with (cached per schema)."""
        if rt.builtin:
            return S.type_root(rt)
        sch = self.storage_rt(rt).schema or {}
        cache = self.extra.setdefault("type_roots", {})
        hit = cache.get(rt.key)
        if hit is None or hit[0] is not sch:
            hit = cache[rt.key] = (sch, S.cr_root(sch))
        return hit[1]

    def zero_object(self, rt: ResourceType) -> dict:
        """What the field manager compares a created object with: an empty object of the kind."""
        if not rt.builtin:
            return {}
        cache = _ZERO.get((rt.group, rt.version, rt.kind))
        if cache is None:
            cache = _ZERO[(rt.group, rt.version, rt.kind)] = S.zero_object(S.type_root(rt))
        return clone(cache)

    def _has_cel(self, rt: ResourceType, schema: dict) -> bool:
        cache = self.extra.setdefault("has_cel", {})
        hit = cache.get(rt.key)
        if hit is None or hit[0] is not schema:
            from .cel import has_rules
            hit = cache[rt.key] = (schema, has_rules(schema))
        return hit[1]

    @staticmethod
    def _scale_errors(rt: ResourceType, obj: dict) -> list:
        """The custom resource strategy's checks of the scale subresource's replicas paths."""
        if not rt.scale:
            return []
        out = []
        for key in ("specReplicasPath", "statusReplicasPath"):
            path = rt.scale.get(key)
            if not path:
                continue
            node = obj
            for part in path.lstrip(".").split("."):
                node = node.get(part, _NO) if isinstance(node, dict) else _NO
            if node is _NO or node is None:
                continue
            if not isinstance(node, int) or isinstance(node, bool):
                got = {str: "string", bool: "bool", float: "float64", dict: "map[string]interface {}",
                       list: "[]interface {}"}.get(type(node), type(node).__name__)
                shown = str(node).lower() if isinstance(node, bool) else node
                out.append((path, "FieldValueInvalid", f"Invalid value: 0: {path} accessor error: {shown} is of "
                                                       f"the type {got}, expected int64"))
            elif node < 0:
                out.append((path, "FieldValueInvalid", f"Invalid value: {node}: should be a non-negative integer"))
            elif node > 2147483647:
                out.append((path, "FieldValueInvalid", f"Invalid value: {node}: should be less than or equal to "
                                                       "2147483647"))
        return out

    def _decode_builtin(self, rt: ResourceType, obj: dict):
        """What decoding into the Go type does before defaulting: Secret stringData folded into data."""
        if rt.plural == "secrets" and rt.group == "":
            if "stringData" in obj:
                sd = obj.pop("stringData") or {}
                data = obj.get("data") or {}
                obj["data"] = data
                for k, v in sd.items():
                    data[k] = base64.b64encode(str(v).encode()).decode()
            for k, v in list((obj.get("data") or {}).items()):
                if v is None:
                    continue
                try:
                    base64.b64decode(v, validate=True)
                except (binascii.Error, ValueError, TypeError):
                    raise E.bad_request('Secret in version "v1" cannot be handled as a Secret: illegal base64 '
                                        'data at input byte 0')

    def _default_builtin(self, rt: ResourceType, obj: dict, old: dict | None):
        """SetDefaults_* of the built-in kinds (what the writer of the object then owns)."""
        spec = obj.get("spec")
        if rt.plural == "namespaces":
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        elif rt.plural == "secrets":
            if not obj.get("type"):  # SetDefaults_Secret: an empty type (protobuf sends "") is Opaque
                obj["type"] = "Opaque"
        elif rt.plural == "services" and spec is not None:
            spec.setdefault("type", "ClusterIP")
            spec.setdefault("sessionAffinity", "None")
            if spec["type"] != "ExternalName":
                spec.setdefault("internalTrafficPolicy", "Cluster")
            if spec["type"] in ("NodePort", "LoadBalancer"):
                spec.setdefault("externalTrafficPolicy", "Cluster")
            if spec["type"] == "LoadBalancer":
                spec.setdefault("allocateLoadBalancerNodePorts", True)
            for p in spec.get("ports") or []:
                p.setdefault("protocol", "TCP")
                if "targetPort" not in p and "port" in p:
                    p["targetPort"] = p["port"]
        elif rt.plural == "pods" and rt.group == "" and spec is not None:
            _default_pod_spec(spec)
            for c in spec.get("containers") or []:
                res = c.get("resources") or {}
                if res.get("limits"):
                    req = res.setdefault("requests", {})
                    for k, v in res["limits"].items():
                        req.setdefault(k, v)
            spec.setdefault("enableServiceLinks", True)
        elif rt.group in ("apps", "batch") and spec is not None:
            tpl_spec = (spec.get("template") or {}).get("spec")
            if rt.plural == "deployments":
                spec.setdefault("replicas", 1)
                strategy = spec.setdefault("strategy", {})
                strategy.setdefault("type", "RollingUpdate")
                if strategy["type"] == "RollingUpdate":
                    ru = strategy.setdefault("rollingUpdate", {})
                    ru.setdefault("maxUnavailable", "25%")
                    ru.setdefault("maxSurge", "25%")
                spec.setdefault("revisionHistoryLimit", 10)
                spec.setdefault("progressDeadlineSeconds", 600)
            elif rt.plural == "replicasets":
                spec.setdefault("replicas", 1)
            elif rt.plural == "statefulsets":
                spec.setdefault("replicas", 1)
                spec.setdefault("podManagementPolicy", "OrderedReady")
                us = spec.setdefault("updateStrategy", {})
                us.setdefault("type", "RollingUpdate")
                if us["type"] == "RollingUpdate":
                    us.setdefault("rollingUpdate", {}).setdefault("partition", 0)
                spec.setdefault("revisionHistoryLimit", 10)
                spec.setdefault("persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain",
                                                                         "whenScaled": "Retain"})
                for t in spec.get("volumeClaimTemplates") or []:
                    (t.setdefault("spec", {})).setdefault("volumeMode", "Filesystem")
                    # apps/v1 conversion sets the templates' TypeMeta; SetDefaults_PersistentVolumeClaim the phase
                    t["apiVersion"], t["kind"] = "v1", "PersistentVolumeClaim"
                    t.setdefault("status", {}).setdefault("phase", "Pending")
                # StatefulSetStatus' replicas and availableReplicas are not omitempty: always serialized
                st = obj.get("status") if isinstance(obj.get("status"), dict) else {}
                obj["status"] = dict({"replicas": 0, "availableReplicas": 0}, **st)
            elif rt.plural == "daemonsets":
                us = spec.setdefault("updateStrategy", {})
                us.setdefault("type", "RollingUpdate")
                if us["type"] == "RollingUpdate":
                    ru = us.setdefault("rollingUpdate", {})
                    ru.setdefault("maxUnavailable", 1)
                    ru.setdefault("maxSurge", 0)
                spec.setdefault("revisionHistoryLimit", 10)
            elif rt.plural == "jobs":
                spec.setdefault("backoffLimit", 6)
                spec.setdefault("completions", 1)
                spec.setdefault("parallelism", 1)
            if isinstance(tpl_spec, dict):
                _default_pod_spec(tpl_spec)
        elif rt.plural == "persistentvolumeclaims" and spec is not None:
            spec.setdefault("volumeMode", "Filesystem")
        elif rt.plural in ("rolebindings", "clusterrolebindings"):
            ref = obj.get("roleRef")
            if isinstance(ref, dict) and not ref.get("apiGroup"):
                ref["apiGroup"] = "rbac.authorization.k8s.io"
            for sub in obj.get("subjects") or []:
                if isinstance(sub, dict) and "apiGroup" not in sub:
                    if sub.get("kind") in ("User", "Group"):
                        sub["apiGroup"] = "rbac.authorization.k8s.io"
                    # a ServiceAccount's apiGroup defaults to "" (omitted)
        elif rt.plural == "storageclasses":
            obj.setdefault("reclaimPolicy", "Delete")
            obj.setdefault("volumeBindingMode", "Immediate")
        elif rt.plural == "customresourcedefinitions" and spec is not None:
            names = spec.get("names") or {}
            if names.get("kind"):
                names.setdefault("singular", names["kind"].lower())
                names.setdefault("listKind", names["kind"] + "List")
            spec.setdefault("conversion", {"strategy": "None"})

    def _admit_builtin(self, rt: ResourceType, obj: dict, old: dict | None, internal: bool = False,
                       subresource: str | None = None):
        """What happens after the field manager: admission plugins (ServiceAccount, DefaultStorageClass,
        DefaultTolerationSeconds, Priority, StorageObjectInUseProtection) and the registry strategies
        (namespace finalizers and phase, Service IP allocation, Pod status). Nobody owns these fields."""
        spec = obj.get("spec")
        meta = obj["metadata"]
        if rt.plural == "namespaces" and rt.group == "":
            spec = obj.setdefault("spec", {})
            if old is None:
                spec["finalizers"] = ["kubernetes"]
                obj["status"] = {"phase": "Active"}
            else:
                # spec.finalizers change only through /finalize (the namespace strategy keeps the old ones)
                fins = spec.get("finalizers") if subresource == "finalize" else \
                    (old.get("spec") or {}).get("finalizers")
                if fins:
                    spec["finalizers"] = list(fins)
                else:
                    spec.pop("finalizers", None)
                if subresource != "status":
                    obj["status"] = clone(old.get("status")) if old.get("status") is not None else obj.get("status")
        elif rt.plural == "services" and rt.group == "" and spec is not None:
            if old is not None and (old.get("spec") or {}).get("clusterIP") and not spec.get("clusterIP"):
                spec["clusterIP"] = old["spec"]["clusterIP"]
                spec["clusterIPs"] = old["spec"].get("clusterIPs", [old["spec"]["clusterIP"]])
            if spec.get("type") != "ExternalName":
                if not spec.get("clusterIP"):
                    n = next(self._ip)
                    spec["clusterIP"] = f"10.96.{n // 250}.{n % 250 + 1}"
                    spec["clusterIPs"] = [spec["clusterIP"]]
                elif not spec.get("clusterIPs"):
                    spec["clusterIPs"] = [spec["clusterIP"]]
                spec.setdefault("ipFamilies", ["IPv4"])
                spec.setdefault("ipFamilyPolicy", "SingleStack")
            if old is None:
                obj["status"] = {"loadBalancer": {}}
        elif rt.plural == "persistentvolumeclaims" and rt.group == "" and old is None:
            if spec is not None and "storageClassName" not in spec:
                default = self.default_storage_class()
                if default:
                    spec["storageClassName"] = default
            fins = meta.setdefault("finalizers", [])
            if "kubernetes.io/pvc-protection" not in fins:
                fins.append("kubernetes.io/pvc-protection")
            obj["status"] = {"phase": "Pending"}
        elif rt.plural == "pods" and rt.group == "" and old is None and spec is not None:
            self._admit_pod(obj, internal)
        elif rt.plural == "customresourcedefinitions" and old is None:
            # the CRD strategy's PrepareForCreate: status reset, the storage version recorded
            storage = [v["name"] for v in (spec or {}).get("versions") or [] if v.get("storage")]
            obj["status"] = {"acceptedNames": {"kind": "", "plural": ""}, "conditions": None,
                             "storedVersions": storage}

    def _admit_pod(self, pod: dict, internal: bool):
        spec = pod["spec"]
        ns = pod["metadata"].get("namespace", "")
        sa_name = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        sa_rt = self.registry.get("", "v1", "serviceaccounts")
        sa = self.find(sa_rt, ns, sa_name) if sa_rt else None
        if sa is None and not internal:
            raise E.ApiError(403, "Forbidden", f'pods "{pod["metadata"].get("name", "")}" is forbidden: error looking '
                             f'up service account {ns}/{sa_name}: serviceaccount "{sa_name}" not found',
                             details=E._details(pod["metadata"].get("name", ""), "", "pods"))
        spec["serviceAccountName"] = sa_name
        spec["serviceAccount"] = sa_name
        automount = spec.get("automountServiceAccountToken")
        if automount is None and sa is not None:
            automount = sa.get("automountServiceAccountToken")
        if automount is not False and not any(v.get("name", "").startswith("kube-api-access-")
                                              for v in spec.get("volumes") or []):
            vol = "kube-api-access-" + rand_suffix()
            spec.setdefault("volumes", []).append({"name": vol, "projected": {"sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                    "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}], "defaultMode": 420}})
            for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
                mounts = c.setdefault("volumeMounts", [])
                if not any(m.get("mountPath") == "/var/run/secrets/kubernetes.io/serviceaccount" for m in mounts):
                    mounts.append({"name": vol, "readOnly": True,
                                   "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"})
        tol = spec.setdefault("tolerations", [])
        for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
            if not any(t.get("key") == key and t.get("effect") in ("NoExecute", None, "") for t in tol):
                tol.append({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})
        if not spec.get("priorityClassName"):
            spec.setdefault("priority", 0)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        pod["status"] = {"phase": "Pending", "qosClass": _qos_class(spec)}

    def default_storage_class(self) -> str | None:
        for (_, name), sc in sorted(self.objects.get(("storage.k8s.io", "storageclasses"), {}).items()):
            ann = sc["metadata"].get("annotations") or {}
            if ann.get("storageclass.kubernetes.io/is-default-class") == "true":
                return name
        return None

    # ---------------------------------------------------------------------------- the write path
    def prepare(self, rt: ResourceType, obj: dict, *, namespace: str | None, old: dict | None,
                field_validation: str = "Warn", subresource: str | None = None, internal: bool = False,
                manager: str | None = None) -> tuple[dict, list[str]]:
        """Compute the object that would be stored. Returns (object, warnings). Pure: does not persist."""
        warnings: list[str] = []
        if not isinstance(obj, dict):
            raise E.bad_request("the body of the request was in an unknown format")
        if subresource == "status" and old is not None and isinstance(obj.get("metadata"), dict):
            # a status write keeps only the body's status, managedFields and (apps) annotations of it, on a copy of
            # the stored object (below): copy those, not the whole body (status writes are most of a fleet's)
            obj = dict(obj, metadata=dict(obj["metadata"]))
            if "status" in obj:
                obj["status"] = clone(obj["status"])
            if "managedFields" in obj["metadata"]:
                obj["metadata"]["managedFields"] = clone(obj["metadata"]["managedFields"])
        else:
            obj = clone(obj)
        # the caller's apiVersion/kind must match the endpoint
        kind = obj.get("kind")
        if rt.builtin and subresource is None and not internal and (
                (kind and kind != rt.kind) or (obj.get("apiVersion") and obj["apiVersion"] != rt.api_version)):
            raise E.bad_request(_decode_mismatch(rt, obj.get("apiVersion") or rt.api_version, kind or rt.kind))
        if kind and kind != rt.kind and subresource is None:
            raise E.bad_request(f"the API version in the data ({obj.get('apiVersion')}) does not match the expected "
                                f"API version ({rt.api_version})" if obj.get("apiVersion") not in (
                                    None, rt.api_version) else f'Object of kind "{kind}" cannot be handled as '
                                                              f'{rt.kind}')
        if obj.get("apiVersion") and obj["apiVersion"] != rt.api_version and subresource is None:
            served = {v.api_version for v in self.registry.versions_of(rt.group, rt.plural)}
            if obj["apiVersion"] not in served:
                raise E.bad_request(f"the API version in the data ({obj['apiVersion']}) does not match the "
                                    f"expected API version ({rt.api_version})")
        obj["apiVersion"] = self.storage_rt(rt).api_version
        obj["kind"] = rt.kind
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise E.bad_request("metadata must be an object")
        # namespace
        if rt.namespaced:
            if meta.get("namespace") and namespace and meta["namespace"] != namespace:
                raise E.bad_request("the namespace of the provided object does not match the namespace sent on "
                                    "the request")
            meta["namespace"] = namespace or meta.get("namespace") or "default"
        else:
            meta.pop("namespace", None)
        if old is None:
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + rand_suffix()
            self._validate_name(rt, meta.get("name", ""))
            if not internal:
                for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
                    meta.pop(k, None)
                meta.pop("resourceVersion", None)
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", now())
            if rt.status and not internal and subresource is None:
                obj.pop("status", None)
        else:
            if meta.get("name") != old["metadata"]["name"]:
                raise E.bad_request(f"the name of the object ({meta.get('name')}) does not match the name on the "
                                    f"URL ({old['metadata']['name']})")
            rv = meta.get("resourceVersion")
            if rv not in (None, "") and str(rv) != old["metadata"]["resourceVersion"]:
                raise E.conflict(rt, old["metadata"]["name"])
            if old["metadata"].get("deletionTimestamp") and not internal:
                added = [f for f in meta.get("finalizers") or [] if f not in (old["metadata"].get("finalizers") or [])]
                if added:
                    cause = ("metadata.finalizers", "FieldValueForbidden",
                             "Forbidden: no new finalizers can be added if the object is being deleted, found new "
                             "finalizers []string{" + ", ".join(json.dumps(f) for f in added) + "}")
                    # kube-apiserver's update validation reports it twice (ValidateObjectMetaUpdate runs in both
                    # the generic and the type's ValidateUpdate)
                    raise E.invalid(rt, old["metadata"]["name"], [cause, cause] if rt.builtin else [cause])
            # server-owned metadata survives client writes
            for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
                if k in old["metadata"]:
                    meta[k] = old["metadata"][k]
                else:
                    meta.pop(k, None)
            if subresource == "status":
                keep_status = obj.get("status")
                applied_fields = meta.get("managedFields") if manager is None and not internal else None
                new_annotations = meta.get("annotations", _NO)
                obj = clone({k: v for k, v in old.items() if k != "status"})  # the old status is replaced
                if applied_fields is not None:  # server-side apply computed them already
                    obj["metadata"]["managedFields"] = applied_fields
                if rt.group == "apps" and new_annotations is not _NO:
                    # the workloads' status strategies keep spec and labels, not annotations (the deployment
                    # controller records deployment.kubernetes.io/revision with its status)
                    if new_annotations:
                        obj["metadata"]["annotations"] = clone(new_annotations)
                    else:
                        obj["metadata"].pop("annotations", None)
                if keep_status is None:
                    obj.pop("status", None)
                else:
                    obj["status"] = keep_status
                meta = obj["metadata"]
            elif rt.status and not internal:
                if "status" in old:
                    obj["status"] = clone(old["status"])
                else:
                    obj.pop("status", None)
        # type-specific decoding and defaulting, then field management (on the defaulted object, before the
        # registry strategy and admission change it, as kube-apiserver's handlers do), then validation
        root = self.type_root(rt)
        errors = []
        if rt.builtin:
            unknown = []
            if not internal:
                if root is not S.ANY:
                    S.unknown_typed_fields(obj, root, "", unknown)
                else:
                    unknown = S.unknown_builtin_fields(rt, obj)
            if unknown:
                if field_validation == "Strict":
                    text = ", ".join(f'unknown field "{u}"' for u in unknown)
                    raise E.bad_request(f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                                        f"strict decoding error: {text}")
                S.drop_paths(obj, unknown)
                if field_validation != "Ignore":
                    warnings += [f'unknown field "{u}"' for u in unknown]
            self._decode_builtin(rt, obj)
            S.drop_empty_omitted(obj, root)
            self._default_builtin(rt, obj, old)
        else:
            srt = self.storage_rt(rt)
            meta_unknown = [] if internal else S.unknown_meta_fields(obj)
            S.drop_fields(obj, meta_unknown)
            res = S.process(obj, srt.schema or {})
            meta = obj["metadata"]
            unknown = meta_unknown + res.unknown
            if unknown:
                if field_validation == "Strict":
                    text = ", ".join(f'unknown field "{u}"' for u in unknown)
                    raise E.bad_request(f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                                        f"strict decoding error: {text}")
                if field_validation != "Ignore":
                    warnings += [f'unknown field "{u}"' for u in unknown]
            errors = res.errors
        meta = obj["metadata"]
        if manager:
            record_update(old, obj, manager, root, self.zero_object(rt), rt, now(), subresource)
        if rt.builtin:
            self._admit_builtin(rt, obj, old, internal=internal, subresource=subresource)
            meta = obj["metadata"]
            self._validate_meta(rt, obj)
            self._validate_builtin(rt, obj, old)
        else:
            self._validate_meta(rt, obj)
            errors = list(errors) + self._scale_errors(rt, obj)
            schema = self.storage_rt(rt).schema or {}
            if (not internal or self.cel_for_internal) and self._has_cel(rt, schema):
                if any(r in BLOCKING_REASONS for _, r, _ in errors):
                    errors.append(("<nil>", "FieldValueInvalid", "Invalid value: null: some validation rules were not "
                                   "checked because the object was invalid; correct the existing errors to "
                                   "complete validation"))
                else:
                    errors += S.validate_cel(obj, old, schema)
            if errors:
                raise E.invalid(rt, meta.get("name", ""), errors)
        # generation: bumped when anything but metadata/status changes (status too for CRs without /status)
        if rt.generation or not rt.builtin:
            if old is None:
                meta["generation"] = 1
            else:
                ignore = {"metadata"} | ({"status"} if rt.status else set())
                a = {k: v for k, v in old.items() if k not in ignore}
                b = {k: v for k, v in obj.items() if k not in ignore}
                gen = old["metadata"].get("generation", 1)
                changed = a != b and subresource != "status"
                if rt.plural == "deployments" and rt.group == "apps" and subresource != "status":
                    # the deployment strategy also counts annotation changes (the old rollback annotation)
                    changed = changed or (old["metadata"].get("annotations") or {}) != (meta.get("annotations") or {})
                meta["generation"] = gen + 1 if changed else gen
        else:
            meta.pop("generation", None)
        return obj, warnings

    def commit(self, rt: ResourceType, obj: dict, old: dict | None) -> tuple[dict, bool]:
        """Persist a prepared object. Returns (stored object, changed). A no-op keeps the resourceVersion."""
        meta = obj["metadata"]
        if old is not None:
            cmp_new = dict(obj, metadata={k: v for k, v in meta.items() if k != "resourceVersion"})
            cmp_old = dict(old, metadata={k: v for k, v in old["metadata"].items() if k != "resourceVersion"})
            if cmp_new == cmp_old:
                return old, False
        else:
            ns = meta.get("namespace")
            if rt.namespaced:
                nso = self.namespace_obj(ns)
                if nso is None:
                    raise E.ns_not_found(ns)
                if nso["metadata"].get("deletionTimestamp"):
                    raise E.forbidden_ns_terminating(rt, meta.get("name"), ns)
            if (meta.get("namespace", ""), meta["name"]) in self.bucket(rt) and old is None:
                raise E.already_exists(rt, meta["name"])
        rv = self.next_rv()
        meta["resourceVersion"] = str(rv)
        key = (meta.get("namespace", "") if rt.namespaced else "", meta["name"])
        # a terminating object whose last finalizer went away is gone
        if old is not None and meta.get("deletionTimestamp") and not meta.get("finalizers") and \
                not (rt.plural == "namespaces" and rt.group == "" and (obj.get("spec") or {}).get("finalizers")):
            # the update that empties the finalizers is not stored: the object is deleted, and the watch event
            # carries the last stored state (etcd's previous value)
            self._pop(rt.key, key)
            gone = clone(old)
            gone["metadata"]["resourceVersion"] = str(rv)
            self._emit("DELETED", rt, gone, rv)
            self._after_delete(rt, obj)
            return obj, True
        self._put(rt, obj)
        self._emit("ADDED" if old is None else "MODIFIED", rt, obj, rv)
        if rt.plural == "customresourcedefinitions" and rt.group == "apiextensions.k8s.io":
            self.sync_crd(obj)
        return obj, True

    def write(self, rt: ResourceType, obj: dict, *, namespace=None, old=None, dry_run=False, internal=False,
              field_validation="Warn", subresource=None, manager=None) -> tuple[dict, bool, list]:
        new, warnings = self.prepare(rt, obj, namespace=namespace, old=old, field_validation=field_validation,
                                     subresource=subresource, internal=internal, manager=manager)
        if not internal and subresource is None:
            for hook in self.admission:
                hook("CREATE" if old is None else "UPDATE", rt, new, old)
        if dry_run:
            if old is not None:
                cmp_new = dict(new, metadata={k: v for k, v in new["metadata"].items() if k != "resourceVersion"})
                cmp_old = dict(old, metadata={k: v for k, v in old["metadata"].items() if k != "resourceVersion"})
                if cmp_new == cmp_old:
                    return old, False, warnings
            else:
                if rt.namespaced:
                    nso = self.namespace_obj(new["metadata"]["namespace"])
                    if nso is None:
                        raise E.ns_not_found(new["metadata"]["namespace"])
                if self.find(rt, new["metadata"].get("namespace"), new["metadata"]["name"]):
                    raise E.already_exists(rt, new["metadata"]["name"])
                new["metadata"].pop("resourceVersion", None)
            return new, True, warnings
        stored, changed = self.commit(rt, new, old)
        return stored, changed, warnings

    # convenience for controllers and seeding (no HTTP, still the real write path)
    def upsert(self, obj: dict, *, status: bool = True, manager: str | None = None) -> dict:
        rt = self.rt_for(obj["apiVersion"], obj["kind"])
        if rt is None:
            raise KeyError(f"{obj['apiVersion']}/{obj['kind']} not served")
        meta = obj.get("metadata") or {}
        old = self.find(rt, meta.get("namespace") if rt.namespaced else "", meta.get("name", ""))
        # shallow bodies: prepare() copies what it is given before changing anything
        if old is not None and status and "status" in obj and rt.status:
            # spec then status, like a controller that owns both
            body = dict(obj)
            body["metadata"] = dict(old["metadata"], labels=meta.get("labels", old["metadata"].get("labels")),
                                    annotations=meta.get("annotations", old["metadata"].get("annotations")))
            if "ownerReferences" in meta:
                body["metadata"]["ownerReferences"] = meta["ownerReferences"]
            stored, _, _ = self.write(rt, body, namespace=meta.get("namespace"), old=old, internal=True,
                                      manager=manager)
            return self._write_status(rt, stored, obj["status"])
        if old is not None:
            body = dict(obj)
            body["metadata"] = dict(old["metadata"], **{k: v for k, v in meta.items() if k != "resourceVersion"})
            if "status" not in obj and "status" in old:
                body["status"] = old["status"]
            stored, _, _ = self.write(rt, body, namespace=meta.get("namespace"), old=old, internal=True,
                                      manager=manager)
            return stored
        stored, _, _ = self.write(rt, obj, namespace=meta.get("namespace"), internal=True, manager=manager)
        return stored

    def set_status(self, rt: ResourceType, obj: dict, status: dict, manager: str | None = None) -> dict:
        cur = self.find(rt, obj["metadata"].get("namespace", "") if rt.namespaced else "", obj["metadata"]["name"])
        if cur is None:
            return obj
        if rt.status:
            return self._write_status(rt, cur, status, manager)
        body = dict(cur, status=status)  # shallow: prepare() copies it
        stored, _, _ = self.write(rt, body, namespace=cur["metadata"].get("namespace"), old=cur, internal=True)
        return stored

    def _write_status(self, rt: ResourceType, cur: dict, status: dict, manager: str | None = None) -> dict:
        """A write to the status subresource: it takes only the status from the body (and the name to check), so
        the body is just that, not a copy of the whole object."""
        body = {"metadata": {"name": cur["metadata"]["name"]}, "status": status}
        stored, _, _ = self.write(rt, body, namespace=cur["metadata"].get("namespace"), old=cur, internal=True,
                                  subresource="status", manager=manager)
        return stored

    # ----------------------------------------------------------------------------------- deletion
    def delete(self, rt: ResourceType, namespace: str | None, name: str, options: dict | None = None,
               dry_run: bool = False) -> tuple[dict, bool]:
        """Returns (object, deleted_now)."""
        options = options or {}
        obj = self.find(rt, namespace if rt.namespaced else "", name)
        if obj is None:
            raise E.not_found(rt, name)
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != obj["metadata"]["uid"]:
            raise E.precondition_failed(rt, name, "UID", pre["uid"], obj["metadata"]["uid"])
        if pre.get("resourceVersion") and pre["resourceVersion"] != obj["metadata"]["resourceVersion"]:
            raise E.precondition_failed(rt, name, "ResourceVersion", pre["resourceVersion"],
                                        obj["metadata"]["resourceVersion"])
        policy = options.get("propagationPolicy")
        if policy is None and options.get("orphanDependents") is not None:
            policy = "Orphan" if options["orphanDependents"] else "Background"
        if policy not in (None, "Foreground", "Background", "Orphan"):
            raise E.invalid(rt, name, [("propagationPolicy", "FieldValueNotSupported",
                                        f'Unsupported value: "{policy}": supported values: "Foreground", '
                                        '"Background", "Orphan"')])
        if not obj["metadata"].get("deletionTimestamp"):
            for hook in self.admission:
                hook("DELETE", rt, None, obj)
        new = clone(obj)
        meta = new["metadata"]
        fins = list(meta.get("finalizers") or [])
        if rt.plural == "customresourcedefinitions" and rt.group == "apiextensions.k8s.io" and \
                not meta.get("deletionTimestamp"):
            # apiextensions' CRD delete: instances are removed first, then the CRD (and its endpoint) goes
            if CRD_CLEANUP not in fins:
                fins.append(CRD_CLEANUP)
            ts = now()
            conds = [c for c in (new.get("status") or {}).get("conditions") or [] if c.get("type") != "Terminating"]
            conds.append({"type": "Terminating", "status": "True", "lastTransitionTime": ts,
                          "reason": "InstanceDeletionPending",
                          "message": "CustomResourceDefinition marked for deletion; CustomResource deletion will "
                                     "begin soon"})
            new.setdefault("status", {})["conditions"] = conds
        if rt.plural == "namespaces" and rt.group == "":
            if dry_run:
                return new, False
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = now()
                new.setdefault("status", {})["phase"] = "Terminating"
                stored, _ = self.commit(rt, new, obj)
                return stored, False
            return obj, False
        if policy == "Foreground" and "foregroundDeletion" not in fins:
            fins.append("foregroundDeletion")
        if policy == "Orphan" and "orphan" not in fins:
            fins.append("orphan")
        is_pod = rt.plural == "pods" and rt.group == ""
        graceful = is_pod and not meta.get("deletionTimestamp") and \
            (obj.get("spec") or {}).get("nodeName") and options.get("gracePeriodSeconds") != 0
        if fins or graceful:
            if meta.get("deletionTimestamp") and fins == list(meta.get("finalizers") or []):
                return obj, False
            meta["finalizers"] = fins
            if not fins:
                meta.pop("finalizers")
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = now()
                is_crd = rt.plural == "customresourcedefinitions" and rt.group == "apiextensions.k8s.io"
                if not is_crd:
                    meta["deletionGracePeriodSeconds"] = 1 if graceful else 0
                if not is_crd and meta.get("generation"):
                    meta["generation"] = meta["generation"] + 1
            if dry_run:
                return new, False
            rv = self.next_rv()
            meta["resourceVersion"] = str(rv)
            self._put(rt, new)
            self._emit("MODIFIED", rt, new, rv)
            return new, False
        if dry_run:
            return obj, True
        if is_pod and not meta.get("deletionTimestamp"):
            # a pod that never ran: marked for deletion (grace 0) and removed at once, in two events
            meta["deletionTimestamp"] = now()
            meta["deletionGracePeriodSeconds"] = 0
            meta["generation"] = meta.get("generation", 1) + 1
            rv = self.next_rv()
            meta["resourceVersion"] = str(rv)
            self._put(rt, new)
            self._emit("MODIFIED", rt, new, rv)
            return self.remove(rt, new), True
        return self.remove(rt, obj), True

    def remove(self, rt: ResourceType, obj: dict) -> dict:
        key = (obj["metadata"].get("namespace", "") if rt.namespaced else "", obj["metadata"]["name"])
        cur = self._pop(rt.key, key)
        if cur is None:
            return obj
        rv = self.next_rv()
        gone = clone(cur)
        gone["metadata"]["resourceVersion"] = str(rv)
        self._emit("DELETED", rt, gone, rv)
        self._after_delete(rt, gone)
        return gone

    def _after_delete(self, rt: ResourceType, obj: dict) -> None:
        if rt.plural == "customresourcedefinitions" and rt.group == "apiextensions.k8s.io":
            self.unregister_crd(obj)

    def dependents(self, uid: str) -> list[tuple[ResourceType, dict]]:
        """Objects with an ownerReference to `uid` (an index lookup, not a scan)."""
        out = []
        for rt_key, okey in sorted(self.owned.get(uid, ())):
            rts = self.registry.versions_of(*rt_key)
            obj = self.objects.get(rt_key, {}).get(okey)
            if rts and obj is not None:
                out.append((self.storage_rt(rts[0]), obj))
        return out

    # ------------------------------------------------------------------------------ CRD registry
    def sync_crd(self, crd: dict) -> None:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        group = spec["group"]
        plural = names["plural"]
        versions = spec.get("versions") or []
        storage = next((v["name"] for v in versions if v.get("storage")), versions[0]["name"] if versions else "v1")
        for v in versions:
            if not v.get("served", True):
                continue
            subs = v.get("subresources") or {}
            scale = subs.get("scale")
            self.registry.add(ResourceType(
                group, v["name"], names["kind"], plural, spec.get("scope") == "Namespaced",
                singular=names.get("singular") or names["kind"].lower(), short_names=list(names.get("shortNames") or []),
                categories=list(names.get("categories") or []), status="status" in subs,
                scale=scale, generation=True, builtin=False, storage_version=storage,
                schema=((v.get("schema") or {}).get("openAPIV3Schema")),
                printer_columns=list(v.get("additionalPrinterColumns") or []), strategic=False))
        served = {v["name"] for v in versions if v.get("served", True)}
        for rt in self.registry.versions_of(group, plural):
            if rt.version not in served:
                self.registry.remove(group, rt.version, plural)

    def unregister_crd(self, crd: dict) -> None:
        spec = crd.get("spec") or {}
        group, plural = spec.get("group"), (spec.get("names") or {}).get("plural")
        bucket = dict(self.objects.get((group, plural), {}))
        for okey in list(bucket):
            self._pop((group, plural), okey)
        self.objects.pop((group, plural), None)
        rts = self.registry.versions_of(group, plural)
        for obj in bucket.values():
            rv = self.next_rv()
            gone = clone(obj)
            gone["metadata"]["resourceVersion"] = str(rv)
            if rts:
                self._emit("DELETED", self.storage_rt(rts[0]), gone, rv)
        self.registry.remove_group_resource(group, plural)


_ZERO: dict = {}
_NO = object()
# errors after which kube-apiserver does not evaluate CEL rules (hasBlockingErr)
BLOCKING_REASONS = {"FieldValueNotSupported", "FieldValueRequired", "FieldValueTooLong", "FieldValueTooMany",
                    "FieldValueTypeInvalid"}


def _default_probe(p):
    if not isinstance(p, dict):
        return
    p.setdefault("timeoutSeconds", 1)
    p.setdefault("periodSeconds", 10)
    p.setdefault("successThreshold", 1)
    p.setdefault("failureThreshold", 3)
    hg = p.get("httpGet")
    if isinstance(hg, dict):
        hg.setdefault("path", "/")
        hg.setdefault("scheme", "HTTP")


def _image_tag(image: str) -> str:
    """The tag parsers.ParseImageName reports: "latest" when there is neither tag nor digest."""
    if "@" in image:
        return ""
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


def _default_container(c: dict):
    if not isinstance(c, dict):
        return
    if not c.get("imagePullPolicy"):
        c["imagePullPolicy"] = "Always" if _image_tag(c.get("image") or "") == "latest" else "IfNotPresent"
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    for port in c.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for env in c.get("env") or []:
        fr = ((env or {}).get("valueFrom") or {}).get("fieldRef")
        if isinstance(fr, dict):
            fr.setdefault("apiVersion", "v1")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(c.get(probe))


_VOLUME_SOURCES = ("hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs",
                   "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker",
                   "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk",
                   "photonPersistentDisk", "projected", "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral",
                   "image")


def _default_pod_spec(spec: dict):
    """SetDefaults_PodSpec and what it reaches (containers, ports, env, probes, volumes)."""
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("restartPolicy", "Always")
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("schedulerName", "default-scheduler")
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        _default_container(c)
    for v in spec.get("volumes") or []:
        if not isinstance(v, dict):
            continue
        if not any(k in v for k in _VOLUME_SOURCES):
            v["emptyDir"] = {}
        for src in ("secret", "configMap", "downwardAPI", "projected"):
            if isinstance(v.get(src), dict):
                v[src].setdefault("defaultMode", 420)
        if isinstance(v.get("hostPath"), dict):
            v["hostPath"].setdefault("type", "")


def _qos_class(spec: dict) -> str:
    reqs = lims = 0
    guaranteed = True
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        res = c.get("resources") or {}
        r, lim = res.get("requests") or {}, res.get("limits") or {}
        reqs += len(r)
        lims += len(lim)
        if not (lim.get("cpu") and lim.get("memory")) or any(r.get(k) not in (None, lim.get(k)) for k in r):
            guaranteed = False
    if not reqs and not lims:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _go_json(v) -> str:
    """encoding/json's compact form (maps with sorted keys), as Go error messages print values."""
    return json.dumps(v, separators=(",", ":"), sort_keys=isinstance(v, dict) and not _ordered_struct(v))


def _ordered_struct(v) -> bool:
    return isinstance(v, dict) and list(v)[:1] == ["APIGroup"]


def _go_json_type(v) -> str:
    return ("object" if isinstance(v, dict) else "array" if isinstance(v, list) else "string" if isinstance(v, str)
            else "bool" if isinstance(v, bool) else "number" if isinstance(v, (int, float)) else "null")


def _decode_mismatch(rt, api_version: str, kind: str) -> str:
    """The decoder's error for a body of another kind or version than the endpoint's (a typed registry)."""
    group, _, version = api_version.rpartition("/")
    if api_version != rt.api_version:
        return (f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: no kind "{kind}" is '
                f'registered for version "{api_version}" in scheme "pkg/runtime/scheme.go:111"')
    internal = (rt.group.split(".")[0] if rt.group else "core")
    return (f'{kind} in version "{version}" cannot be handled as a {rt.kind}: converting ({version}.{kind}) to '
            f"({internal}.{rt.kind}): unknown conversion")
