"""Regenerates kofsim/kofsim/openapi_builtin.json.gz from a real kube-apiserver (`kofsim up --api real`).

kofsim serves the built-in kinds without Go types; what it needs of their schemas (structure, list types and map
keys, atomic maps, which fields an empty object of the kind carries) comes from the real server's OpenAPI v3
documents, which is also what it serves at /openapi/v3 for those group-versions (descriptions dropped). The file
also keeps the real discovery documents of those group-versions (names, verbs, short names, categories, storage
version hashes) and the column definitions of built-in tables.

    python -m kofsim.conformance.gen_openapi [--kubeconfig K]   # starts a real control plane when not given
"""
from __future__ import annotations

import argparse
import gzip
import json
import tempfile
from pathlib import Path

from ..registry import BUILTINS
from .client import Conn

OUT = Path(__file__).resolve().parents[1] / "openapi_builtin.json.gz"


def strip(x, names=False):
    """Drops descriptions (not a property that happens to be called "description")."""
    if isinstance(x, dict):
        return {k: strip(v, k == "properties" and not names) for k, v in x.items() if names or k != "description"}
    if isinstance(x, list):
        return [strip(v) for v in x]
    return x


def generate(conn: Conn) -> dict:
    gvs = sorted({(rt.group, rt.version) for rt in BUILTINS})
    index = conn.request("GET", "/openapi/v3").json["paths"]
    docs = {}
    for g, v in gvs:
        key = f"apis/{g}/{v}" if g else f"api/{v}"
        if key not in index:
            continue
        doc = conn.request("GET", index[key]["serverRelativeURL"]).json
        docs[key] = strip({"paths": doc["paths"], "schemas": doc["components"]["schemas"],
                           "info": doc.get("info"), "openapi": doc.get("openapi")})
    discovery = {}
    for g, v in gvs:
        key = f"apis/{g}/{v}" if g else f"api/{v}"
        r = conn.request("GET", "/" + key)
        if r.status == 200:
            discovery[key] = r.json["resources"]
    tables = {}
    for plural, path in (("configmaps", "/api/v1/namespaces/default/configmaps?limit=1"),):
        r = conn.request("GET", path, accept="application/json;as=Table;v=v1;g=meta.k8s.io")
        tables[plural] = r.json["columnDefinitions"]
    version = conn.request("GET", "/version").json["gitVersion"]
    return {"kubernetes": version, "docs": docs, "discovery": discovery, "tables": tables}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--kubeconfig")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    real = None
    if args.kubeconfig:
        conn = Conn(args.kubeconfig)
    else:
        from ..testing import RealKube
        real = RealKube(Path(tempfile.mkdtemp(prefix="kofsim-gen-"))).start()
        conn = Conn(real.kubeconfig)
    try:
        data = generate(conn)
    finally:
        if real:
            real.stop()
    raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    Path(args.out).write_bytes(gzip.compress(raw, 9, mtime=0))
    print(f"{args.out}: {len(data['docs'])} group-versions, {len(raw)} bytes ({data['kubernetes']})")


if __name__ == "__main__":
    main()
