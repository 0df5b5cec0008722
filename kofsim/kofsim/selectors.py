"""Label and field selectors, parsed and matched as kube-apiserver does."""
from __future__ import annotations

import re

from .errors import bad_request

_KEY = r"(?:[a-z0-9A-Z](?:[-a-z0-9A-Z_.]*[a-z0-9A-Z])?/)?[a-zA-Z0-9](?:[-a-zA-Z0-9_.]*[a-zA-Z0-9])?"


def _split_top(s: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def parse_label_selector(s: str | None):
    """Returns a list of (key, op, values) requirements; raises 400 on syntax errors."""
    reqs = []
    if not s:
        return reqs
    for part in _split_top(s):
        m = re.fullmatch(rf"({_KEY})\s+(in|notin)\s+\(([^)]*)\)", part)
        if m:
            vals = [v.strip() for v in m.group(3).split(",") if v.strip()]
            reqs.append((m.group(1), m.group(2), vals))
            continue
        m = re.fullmatch(rf"({_KEY})\s*(==|!=|=)\s*([-A-Za-z0-9_.]*)", part)
        if m:
            op = {"=": "=", "==": "=", "!=": "!="}[m.group(2)]
            reqs.append((m.group(1), op, [m.group(3)]))
            continue
        m = re.fullmatch(rf"!\s*({_KEY})", part)
        if m:
            reqs.append((m.group(1), "!", []))
            continue
        m = re.fullmatch(rf"({_KEY})", part)
        if m:
            reqs.append((m.group(1), "exists", []))
            continue
        raise bad_request(f"unable to parse requirement: {part!r}: invalid label selector")
    return reqs


def match_labels(reqs, labels: dict | None) -> bool:
    labels = labels or {}
    for key, op, vals in reqs:
        has = key in labels
        v = labels.get(key)
        if op == "=" and (not has or v != vals[0]):
            return False
        if op == "!=" and has and v == vals[0]:
            return False
        if op == "in" and (not has or v not in vals):
            return False
        if op == "notin" and has and v in vals:
            return False
        if op == "exists" and not has:
            return False
        if op == "!" and has:
            return False
    return True


def match_label_selector_obj(selector: dict | None, labels: dict | None) -> bool:
    """metav1.LabelSelector (matchLabels / matchExpressions). An empty selector matches everything."""
    if selector is None:
        return False
    labels = labels or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        k, op, vals = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(k) not in vals:
            return False
        if op == "NotIn" and k in labels and labels[k] in vals:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


FIELD_LABELS = {
    "pods": {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
             "status.phase", "status.podIP", "status.nominatedNodeName"},
    "secrets": {"type"},
    "events": {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
               "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
               "reason", "reportingComponent", "source", "type"},
    "namespaces": {"status.phase"},
    "nodes": {"spec.unschedulable"},
    "replicasets": {"status.replicas"},
    "jobs": {"status.successful"},
}


def parse_field_selector(s: str | None, plural: str):
    reqs = []
    if not s:
        return reqs
    allowed = {"metadata.name", "metadata.namespace"} | FIELD_LABELS.get(plural, set())
    for part in _split_top(s):
        m = re.fullmatch(r"([A-Za-z0-9_.]+)\s*(==|!=|=)\s*(.*)", part)
        if not m:
            raise bad_request(f'invalid selector: \'{s}\'; can\'t understand \'{part}\'')
        key = m.group(1)
        if key not in allowed:
            raise bad_request(f'field label not supported: {key}')
        reqs.append((key, "!=" if m.group(2) == "!=" else "=", m.group(3)))
    return reqs


def match_fields(reqs, obj: dict) -> bool:
    for key, op, val in reqs:
        node = obj
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        sval = "" if node is None else (str(node).lower() if isinstance(node, bool) else str(node))
        if op == "=" and sval != val:
            return False
        if op == "!=" and sval == val:
            return False
    return True
