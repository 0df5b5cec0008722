"""What the comparison drops: values a server generates and no client can expect to be equal between two servers.

Each rule names its reason (docs/conformance.md lists them):
- uids (any UUID string): random per object;
- timestamps (any RFC 3339 string, managedFields time, conditions' times, deletionTimestamp): the clock;
- resourceVersion values (objects, lists, watch bookmarks, continue tokens' "rv"): each server's own counter;
  presence is kept, so a missing resourceVersion is still a difference;
- generateName suffixes and the ServiceAccount token volume's suffix (kube-api-access-xxxxx): random;
- Service clusterIP / clusterIPs: allocated from each server's service CIDR (configuration, not behaviour);
- selfLink: neither sets it (absence is compared like any field).
- the order of several causes of one Invalid error (kube-apiserver's own order varies from one request to the
  next): they are compared sorted.
Everything else is compared as is: status codes, reasons, messages, details, causes, warnings, defaults.
"""
from __future__ import annotations

import base64
import json
import re

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
UUID_IN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
SA_VOLUME = re.compile(r"kube-api-access-[a-z0-9]{5}\b")
PEM = re.compile(r"-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n?")
IP_KEYS = {"clusterIP", "clusterIPs"}


def decode_continue(tok: str):
    try:
        d = json.loads(base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4)))
        if isinstance(d, dict) and "rv" in d:
            d["rv"] = "<rv>"
        return {"<continue>": d}
    except Exception:  # noqa: BLE001 - an opaque token is compared as it is
        return tok


def norm(value, key: str | None = None, parent: dict | None = None):
    """A normalized deep copy of a JSON value."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            nk = UUID_IN.sub("<uid>", k) if isinstance(k, str) and "-" in k else k
            out[nk] = norm(v, k, value)
        _sort_causes(out)
        meta = out.get("metadata")
        if isinstance(meta, dict):
            gen = meta.get("generateName")
            name = meta.get("name")
            if isinstance(gen, str) and isinstance(name, str) and name.startswith(gen) and len(name) == len(gen) + 5:
                meta["name"] = gen + "<suffix>"
        return out
    if isinstance(value, list):
        out = [norm(v, key, parent) for v in value]
        if key == "managedFields" and all(isinstance(e, dict) for e in out):
            # kube-apiserver orders the entries by time (seconds): with the times dropped, so is their order
            out.sort(key=lambda e: (e.get("operation", ""), e.get("manager", ""), e.get("subresource", ""),
                                    e.get("apiVersion", "")))
        return out
    if isinstance(value, str):
        if key == "resourceVersion" and value:
            return "<rv>"
        if key == "continue" and value:
            return decode_continue(value)
        if key in IP_KEYS and value and value != "None":
            return "<ip>"
        if key == "uid" or UUID.match(value):
            return "<uid>" if value else value
        if TS.match(value):
            return "<ts>"
        if "-----BEGIN CERTIFICATE-----" in value:
            value = PEM.sub("<certificate>", value)
        if "kube-api-access-" in value:
            value = SA_VOLUME.sub("kube-api-access-<suffix>", value)
        if UUID_IN.search(value):
            value = UUID_IN.sub("<uid>", value)
        return value
    return value


def _sort_causes(status: dict) -> None:
    """An Invalid Status with several causes: kube-apiserver's order of them is not stable (its schema validator
    walks Go maps), so causes and the bracketed list in the message are compared sorted."""
    if status.get("kind") != "Status" or not isinstance(status.get("details"), dict):
        return
    causes = status["details"].get("causes")
    if not isinstance(causes, list) or len(causes) < 2:
        return
    status["details"]["causes"] = sorted(causes, key=lambda c: json.dumps(c, sort_keys=True))
    msg = status.get("message")
    if isinstance(msg, str) and msg.endswith("]") and " is invalid: [" in msg:
        head, _, body = msg.partition(" is invalid: [")
        parts = []
        for c in causes:
            part = f"{c['field']}: {c.get('message', '')}" if c.get("field") else c.get("message", "")
            if part not in parts:
                parts.append(part)
        if len(", ".join(parts)) == len(body[:-1]) and all(p in body for p in parts):
            status["message"] = head + " is invalid: [" + ", ".join(sorted(parts)) + "]"


def mask(text: str, patterns) -> str:
    """Replace each pattern's first group (or whole match) by <n>: per-request rules for numbers that are
    resourceVersions inside message texts."""
    for pat in patterns or ():
        def sub(m):
            if m.groups():
                s, e = m.span(1)
                return m.group(0)[:s - m.start()] + "<n>" + m.group(0)[e - m.start():]
            return "<n>"
        text = re.sub(pat, sub, text)
    return text


def mask_deep(value, patterns):
    if not patterns:
        return value
    if isinstance(value, dict):
        return {k: mask_deep(v, patterns) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_deep(v, patterns) for v in value]
    if isinstance(value, str):
        return mask(value, patterns)
    return value
