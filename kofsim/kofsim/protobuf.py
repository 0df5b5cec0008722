"""Decoding of Kubernetes protobuf request bodies (`k8s\\0` + runtime.Unknown).

helm 3/4 store releases as Secrets sent as protobuf; `kubectl create ns|configmap|secret` also send protobuf.
kofsim decodes the kinds those clients send and always answers in JSON. Unsupported kinds get 415.
"""
from __future__ import annotations

import base64
import datetime as _dt

MAGIC = b"k8s\x00"


def _varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def fields(buf: bytes):
    """Yield (field_number, wire_type, value) of a protobuf message."""
    i = 0
    n = len(buf)
    while i < n:
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, i = _varint(buf, i)
        elif wt == 2:
            ln, i = _varint(buf, i)
            val = buf[i:i + ln]
            i += ln
        elif wt == 1:
            val = buf[i:i + 8]
            i += 8
        elif wt == 5:
            val = buf[i:i + 4]
            i += 4
        else:
            raise ValueError(f"unsupported wire type {wt}")
        yield num, wt, val


def _s(b):
    return b.decode("utf-8")


def _map_entry(buf, value_bytes=False):
    k = v = None
    for num, _, val in fields(buf):
        if num == 1:
            k = _s(val)
        elif num == 2:
            v = val if value_bytes else _s(val)
    return k, (v if v is not None else (b"" if value_bytes else ""))


def _time(buf):
    secs = nanos = 0
    for num, _, val in fields(buf):
        if num == 1:
            secs = val
        elif num == 2:
            nanos = val
    return _dt.datetime.fromtimestamp(secs, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _owner_ref(buf):
    o = {}
    for num, _, val in fields(buf):
        if num == 1:
            o["kind"] = _s(val)
        elif num == 3:
            o["name"] = _s(val)
        elif num == 4:
            o["uid"] = _s(val)
        elif num == 5:
            o["apiVersion"] = _s(val)
        elif num == 6:
            o["controller"] = bool(val)
        elif num == 7:
            o["blockOwnerDeletion"] = bool(val)
    return o


def object_meta(buf) -> dict:
    m: dict = {}
    for num, _, val in fields(buf):
        if num == 1:
            m["name"] = _s(val)
        elif num == 2:
            m["generateName"] = _s(val)
        elif num == 3:
            m["namespace"] = _s(val)
        elif num == 5:
            m["uid"] = _s(val)
        elif num == 6:
            m["resourceVersion"] = _s(val)
        elif num == 7:
            m["generation"] = val
        elif num == 8:
            t = _time(val)
            if not t.startswith("1970"):
                m["creationTimestamp"] = t
        elif num == 11:
            k, v = _map_entry(val)
            m.setdefault("labels", {})[k] = v
        elif num == 12:
            k, v = _map_entry(val)
            m.setdefault("annotations", {})[k] = v
        elif num == 13:
            m.setdefault("ownerReferences", []).append(_owner_ref(val))
        elif num == 14:
            m.setdefault("finalizers", []).append(_s(val))
    return {k: v for k, v in m.items() if v not in ("", None)}


def _secret(buf):
    o = {"metadata": {}}
    for num, _, val in fields(buf):
        if num == 1:
            o["metadata"] = object_meta(val)
        elif num == 2:
            k, v = _map_entry(val, value_bytes=True)
            o.setdefault("data", {})[k] = base64.b64encode(v).decode()
        elif num == 3:
            o["type"] = _s(val)
        elif num == 4:
            k, v = _map_entry(val)
            o.setdefault("stringData", {})[k] = v
        elif num == 5:
            o["immutable"] = bool(val)
    return o


def _configmap(buf):
    o = {"metadata": {}}
    for num, _, val in fields(buf):
        if num == 1:
            o["metadata"] = object_meta(val)
        elif num == 2:
            k, v = _map_entry(val)
            o.setdefault("data", {})[k] = v
        elif num == 3:
            k, v = _map_entry(val, value_bytes=True)
            o.setdefault("binaryData", {})[k] = base64.b64encode(v).decode()
        elif num == 4:
            o["immutable"] = bool(val)
    return o


def _namespace(buf):
    o = {"metadata": {}}
    for num, _, val in fields(buf):
        if num == 1:
            o["metadata"] = object_meta(val)
        elif num == 2:
            spec = {}
            for n2, _, v2 in fields(val):
                if n2 == 1:
                    spec.setdefault("finalizers", []).append(_s(v2))
            if spec:
                o["spec"] = spec
    return o


def _serviceaccount(buf):
    o = {"metadata": {}}
    for num, _, val in fields(buf):
        if num == 1:
            o["metadata"] = object_meta(val)
        elif num == 3:
            ref = {}
            for n2, _, v2 in fields(val):
                if n2 == 1:
                    ref["name"] = _s(v2)
            o.setdefault("imagePullSecrets", []).append(ref)
        elif num == 4:
            o["automountServiceAccountToken"] = bool(val)
    return o


def _delete_options(buf):
    o = {}
    for num, _, val in fields(buf):
        if num == 1:
            o["gracePeriodSeconds"] = val
        elif num == 2:
            pre = {}
            for n2, _, v2 in fields(val):
                if n2 == 1:
                    pre["uid"] = _s(v2)
                elif n2 == 2:
                    pre["resourceVersion"] = _s(v2)
            o["preconditions"] = pre
        elif num == 3:
            o["orphanDependents"] = bool(val)
        elif num == 4:
            o["propagationPolicy"] = _s(val)
        elif num == 5:
            o.setdefault("dryRun", []).append(_s(val))
    return o


def _token_request(buf):
    """authentication.k8s.io/v1 TokenRequest (`kubectl create token`): spec audiences=1,
    boundObjectRef=3, expirationSeconds=4."""
    o = {"metadata": {}, "spec": {}}
    for num, _, val in fields(buf):
        if num == 1:
            o["metadata"] = object_meta(val)
        elif num == 2:
            for n2, _, v2 in fields(val):
                if n2 == 1:
                    o["spec"].setdefault("audiences", []).append(_s(v2))
                elif n2 == 4:
                    o["spec"]["expirationSeconds"] = v2
                elif n2 == 3:
                    ref = {}
                    for n3, _, v3 in fields(v2):
                        key = {1: "kind", 2: "apiVersion", 3: "name", 4: "uid"}.get(n3)
                        if key:
                            ref[key] = _s(v3)
                    o["spec"]["boundObjectRef"] = ref
    return o


DECODERS = {("meta.k8s.io/v1", "DeleteOptions"): _delete_options, ("v1", "DeleteOptions"): _delete_options,
            ("v1", "Secret"): _secret, ("v1", "ConfigMap"): _configmap, ("v1", "Namespace"): _namespace,
            ("v1", "ServiceAccount"): _serviceaccount,
            ("authentication.k8s.io/v1", "TokenRequest"): _token_request}


class UnsupportedProtobuf(Exception):
    pass


def decode(body: bytes) -> dict:
    if not body.startswith(MAGIC):
        raise UnsupportedProtobuf("missing k8s protobuf envelope")
    api_version = kind = ""
    raw = b""
    for num, _, val in fields(body[len(MAGIC):]):
        if num == 1:
            for n2, _, v2 in fields(val):
                if n2 == 1:
                    api_version = _s(v2)
                elif n2 == 2:
                    kind = _s(v2)
        elif num == 2:
            raw = val
    dec = DECODERS.get((api_version, kind))
    if dec is None:
        raise UnsupportedProtobuf(f"protobuf decoding of {api_version}/{kind} is not supported by kofsim")
    obj = dec(raw)
    obj["apiVersion"] = api_version
    obj["kind"] = kind
    return obj
