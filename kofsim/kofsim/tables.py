"""Server-side printing (meta.k8s.io/v1 Table), which `kubectl get` asks for."""
from __future__ import annotations

import datetime as _dt
import json
import re


def age(ts: str | None) -> str:
    if not ts:
        return "<unknown>"
    t = _dt.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.timezone.utc)
    s = max(0, int((_dt.datetime.now(_dt.timezone.utc) - t).total_seconds()))
    if s < 120:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400 * 2:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def jsonpath(obj, path: str):
    """The subset of JSONPath used by additionalPrinterColumns: .a.b, .a[0], .a[?(@.k=="v")].b"""
    node = [obj]
    for part in re.findall(r"\.[^.\[]+|\[[^\]]*\]", path):
        nxt = []
        for n in node:
            if part.startswith("."):
                key = part[1:]
                if isinstance(n, dict) and key in n:
                    nxt.append(n[key])
            elif part.startswith("[?("):
                m = re.match(r'\[\?\(@\.([\w.-]+)\s*==\s*["\']([^"\']*)["\']\)\]', part)
                if m and isinstance(n, list):
                    nxt += [i for i in n if isinstance(i, dict) and str(i.get(m.group(1))) == m.group(2)]
            elif part in ("[*]", "[]"):
                if isinstance(n, list):
                    nxt += n
            else:
                idx = part[1:-1]
                if isinstance(n, list) and idx.lstrip("-").isdigit() and -len(n) <= int(idx) < len(n):
                    nxt.append(n[int(idx)])
        node = nxt
    if not node:
        return None
    return node[0] if len(node) == 1 else node


def _col(name, type_="string", fmt="", priority=0, desc=""):
    return {"name": name, "type": type_, "format": fmt, "description": desc or name, "priority": priority}


def _pod_cells(o):
    st = o.get("status") or {}
    cs = st.get("containerStatuses") or []
    total = len((o.get("spec") or {}).get("containers") or [])
    ready = sum(1 for c in cs if c.get("ready"))
    reason = st.get("phase", "Pending")
    for c in cs:
        w = (c.get("state") or {}).get("waiting")
        if w:
            reason = w.get("reason", reason)
    if (o.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Terminating"
    restarts = sum(c.get("restartCount", 0) for c in cs)
    return [f"{ready}/{total}", reason, restarts, age(o["metadata"].get("creationTimestamp")),
            st.get("podIP", "<none>"), (o.get("spec") or {}).get("nodeName", "<none>")]


BUILTIN = {
    "pods": ([_col("Ready"), _col("Status"), _col("Restarts", "string"), _col("Age", "string"),
              _col("IP", priority=1), _col("Node", priority=1)], _pod_cells),
    "deployments": ([_col("Ready"), _col("Up-to-date", "integer"), _col("Available", "integer"), _col("Age")],
                    lambda o: [f"{(o.get('status') or {}).get('readyReplicas', 0)}/{(o.get('spec') or {}).get('replicas', 1)}",
                               (o.get("status") or {}).get("updatedReplicas", 0),
                               (o.get("status") or {}).get("availableReplicas", 0),
                               age(o["metadata"].get("creationTimestamp"))]),
    "services": ([_col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"), _col("Age")],
                 lambda o: [(o.get("spec") or {}).get("type", "ClusterIP"), (o.get("spec") or {}).get("clusterIP", ""),
                            ",".join(i.get("hostname") or i.get("ip", "") for i in
                                     ((o.get("status") or {}).get("loadBalancer") or {}).get("ingress") or [])
                            or ("<pending>" if (o.get("spec") or {}).get("type") == "LoadBalancer" else "<none>"),
                            ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}"
                                     for p in (o.get("spec") or {}).get("ports") or []),
                            age(o["metadata"].get("creationTimestamp"))]),
    "namespaces": ([_col("Status"), _col("Age")],
                   lambda o: [(o.get("status") or {}).get("phase", ""), age(o["metadata"].get("creationTimestamp"))]),
    "secrets": ([_col("Type"), _col("Data", "integer"), _col("Age")],
                lambda o: [o.get("type", "Opaque"), len(o.get("data") or {}), age(o["metadata"].get("creationTimestamp"))]),
    "persistentvolumeclaims": ([_col("Status"), _col("Volume"), _col("Capacity"), _col("Access Modes"),
                                _col("StorageClass"), _col("Age")],
                               lambda o: [(o.get("status") or {}).get("phase", ""),
                                          (o.get("spec") or {}).get("volumeName", ""),
                                          ((o.get("status") or {}).get("capacity") or {}).get("storage", ""),
                                          ",".join((o.get("status") or {}).get("accessModes") or []),
                                          (o.get("spec") or {}).get("storageClassName", ""),
                                          age(o["metadata"].get("creationTimestamp"))]),
}


NAME_DESC = ("Name must be unique within a namespace. Is required when creating resources, although some "
             "resources may allow a client to request the generation of an appropriate name automatically. Name is "
             "primarily intended for creation idempotence and configuration definition. Cannot be updated. More "
             "info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
CRD_COLUMN_DESC = "Custom resource definition column (in JSONPath format): "


def _real_columns(plural):
    from .schema import builtin_openapi
    return (builtin_openapi().get("tables") or {}).get(plural)


def to_table(cluster, rt, objs, include_object="Metadata") -> dict:
    real_cols = _real_columns(rt.plural) if rt.builtin and rt.group == "" else None
    if real_cols and rt.plural == "configmaps":
        columns = [dict(c) for c in real_cols]

        def cells_fn(o):
            return [len(o.get("data") or {}) + len(o.get("binaryData") or {}),
                    age(o["metadata"].get("creationTimestamp"))]
        return _table(cluster, objs, columns, cells_fn, include_object)
    if rt.builtin and rt.plural in BUILTIN and rt.group in ("", "apps"):
        extra_cols, cells_fn = BUILTIN[rt.plural]
    elif not rt.builtin:
        cols = list(rt.printer_columns) or [{"name": "Age", "type": "date",
                                             "jsonPath": ".metadata.creationTimestamp"}]
        extra_cols = [_col(c["name"], c.get("type", "string"), c.get("format", ""), c.get("priority", 0),
                           c.get("description") or CRD_COLUMN_DESC + c.get("jsonPath", ""))
                      for c in cols]
        has_age = True

        def cells_fn(o, cols=cols, add_age=not has_age):
            out = []
            for c in cols:
                v = jsonpath(o, c["jsonPath"])
                if c.get("type") == "date" and isinstance(v, str):
                    v = age(v)
                out.append(v if not isinstance(v, (list, dict)) else json.dumps(v, separators=(",", ":")))
            if add_age:
                out.append(age(o["metadata"].get("creationTimestamp")))
            return out
    else:
        extra_cols = [_col("Age", "date")]

        def cells_fn(o):
            return [age(o["metadata"].get("creationTimestamp"))]
    columns = [_col("Name", "string", "name", desc=NAME_DESC)] + extra_cols
    return _table(cluster, objs, columns, cells_fn, include_object)


def _table(cluster, objs, columns, cells_fn, include_object):
    rows = []
    for o in objs:
        row = {"cells": [o["metadata"]["name"]] + cells_fn(o)}
        if include_object == "Object":
            row["object"] = o
        elif include_object != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": o["metadata"]}
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": str(cluster.rv)},
            "columnDefinitions": columns, "rows": rows}
