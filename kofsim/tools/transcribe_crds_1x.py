#!/usr/bin/env python3
"""Dev tool: kcm v1.10.0's MultiClusterService (v1beta1) and ServiceSet CRDs into kofsim's data/crds/kcm.

KOF 1.10.0 pins kcm v1.10.0. Its MultiClusterService v1beta1 schema replaces kofsim's own model of the v1beta1
version in multiclusterservices.k0rdent.mirantis.com.yaml (the v1alpha1 version, kcm v0.1.0's, stays as it is);
servicesets.k0rdent.mirantis.com.yaml is new (v1beta1 only: kcm 0.1.x has no ServiceSet, so kcm 0.1.x mode drops
it). Same rules as transcribe_crds.py (structure and rules kept, descriptions left out).

Usage: python kofsim/tools/transcribe_crds_1x.py --kcm /work/.mirror/k0rdent+kcm/repo
"""
from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import yaml

from transcribe_crds import DATA, strip  # noqa: E402 (run from kofsim/tools)

TAG, DIR = "v1.10.0", "templates/provider/kcm/templates/crds"


def show(repo, ref):
    return subprocess.run(["git", "--git-dir", repo, "show", ref], capture_output=True, text=True, check=True).stdout


def v1beta1(doc):
    for v in doc["spec"]["versions"]:
        if v["name"] == "v1beta1":
            v = dict(v)
            v["schema"] = {"openAPIV3Schema": strip(v["schema"]["openAPIV3Schema"])}
            for col in v.get("additionalPrinterColumns") or []:
                col.pop("description", None)
            v["served"], v["storage"] = True, False
            return v
    raise SystemExit(f"no v1beta1 in {doc['metadata']['name']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kcm", required=True, help="git snapshot (bare) of k0rdent/kcm")
    args = ap.parse_args()
    # MultiClusterService: keep kofsim's file (v1alpha1 from kcm v0.1.0), replace v1beta1
    name = "multiclusterservices.k0rdent.mirantis.com"
    src = f"github.com/K0rdent/kcm@{TAG}:{DIR}/k0rdent.mirantis.com_multiclusterservices.yaml"
    up = next(d for d in yaml.safe_load_all(show(args.kcm, f"{TAG}:{DIR}/k0rdent.mirantis.com_multiclusterservices.yaml")) if d)
    out = DATA / "kcm" / f"{name}.yaml"
    text = out.read_text()
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#") and "v1beta1" not in line)
    doc = next(d for d in yaml.safe_load_all(text) if d)
    doc["spec"]["versions"] = [v for v in doc["spec"]["versions"] if v["name"] != "v1beta1"] + [v1beta1(up)]
    header += f"# The v1beta1 version is transcribed from {src} (kcm 1.x mode, KOF 1.10).\n"
    out.write_text(header + "---\n" + yaml.safe_dump(doc, sort_keys=False, width=120))
    print(out)
    # ServiceSet: new, v1beta1 only
    src = f"github.com/K0rdent/kcm@{TAG}:{DIR}/k0rdent.mirantis.com_servicesets.yaml"
    up = next(d for d in yaml.safe_load_all(show(args.kcm, f"{TAG}:{DIR}/k0rdent.mirantis.com_servicesets.yaml")) if d)
    spec = dict(up["spec"])
    spec["versions"] = [v1beta1(up)]
    doc = {"apiVersion": up["apiVersion"], "kind": up["kind"], "metadata": {"name": up["metadata"]["name"]},
           "spec": spec}
    out = DATA / "kcm" / f"{up['metadata']['name']}.yaml"
    out.write_text(f"# Transcribed by kofsim/tools/transcribe_crds_1x.py from {src}: the real CRD's structure and "
                   "rules,\n# descriptions left out (see kofsim/CRDS.md). v1beta1 only: served in kcm 1.x mode.\n"
                   "---\n" + yaml.safe_dump(doc, sort_keys=False, width=120))
    print(out)


if __name__ == "__main__":
    main()
