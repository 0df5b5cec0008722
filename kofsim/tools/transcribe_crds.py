#!/usr/bin/env python3
"""Dev tool: write kofsim's copies of the kcm v0.1.0 and kof 0.1.1 CRDs from the upstream files.

kcm (github.com/K0rdent/kcm) and kof's promxy-operator are not served by the Go module proxy, so their CRDs cannot
be taken from the module cache at build time as the grafana-operator and Sveltos ones are (kofsim/realkube/crds).
kofsim therefore keeps transcriptions in kofsim/kofsim/data/crds/{kcm,kof}: the structural facts of the real CRD
at the pinned tag - names, scope, printer columns, subresources, every field with its type, format, enum,
pattern, bounds, required list, default, nullable, x-kubernetes-* markers and CEL validation rules - with the
prose (schema descriptions) left out. Both kofsim backends serve them (the emulator, and the real kube-apiserver,
which installs them in place of the modules it cannot have).

The v1alpha1 version comes from upstream; a `v1beta1` version already in kofsim's file (kofsim's model of kcm 1.x,
the KOF 1.x issue's concern) is kept after it.

Usage (needs git snapshots of k0rdent/kcm and k0rdent/kof, e.g. from the `fetch` tool; CI never runs this):
    python kofsim/tools/transcribe_crds.py --kcm /work/.mirror/k0rdent+kcm/repo --kof /work/.mirror/k0rdent+kof/repo
"""
from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import yaml

DATA = Path(__file__).resolve().parents[1] / "kofsim" / "data" / "crds"
KCM_TAG, KCM_DIR = "v0.1.0", "templates/provider/kcm/templates/crds"
KOF_TAG, KOF_FILE = "0.1.1", "promxy-operator/config/crd/bases/kof.k0rdent.mirantis.com_promxyservergroups.yaml"
# schema keywords whose values are schemas (descriptions are dropped inside them, field names are kept)
SCHEMA_MAPS = ("properties", "patternProperties", "definitions")
SCHEMA_ONE = ("items", "additionalProperties", "not")
SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")


def strip(schema):
    """A schema node without its prose: `description` dropped at every schema level, field names untouched."""
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "description":
            continue
        if key in SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: strip(sub) for name, sub in value.items()}
        elif key in SCHEMA_ONE and isinstance(value, dict):
            out[key] = strip(value)
        elif key in SCHEMA_LISTS and isinstance(value, list):
            out[key] = [strip(v) for v in value]
        else:
            out[key] = value
    return out


def transcribe(doc: dict, source: str) -> dict:
    meta = {"name": doc["metadata"]["name"]}
    spec = dict(doc["spec"])
    versions = []
    for v in spec["versions"]:
        v = dict(v)
        if "schema" in v:
            v["schema"] = {"openAPIV3Schema": strip(v["schema"]["openAPIV3Schema"])}
        for col in v.get("additionalPrinterColumns") or []:
            col.pop("description", None)
        versions.append(v)
    spec["versions"] = versions
    return {"apiVersion": doc["apiVersion"], "kind": doc["kind"], "metadata": meta, "spec": spec}


def git_show(repo: str, ref: str) -> str:
    return subprocess.run(["git", "-C", repo, "show", ref], capture_output=True, text=True, check=True).stdout


def write(doc: dict, group_dir: str, source: str, keep_v1beta1: bool) -> Path:
    out = DATA / group_dir / f"{doc['metadata']['name']}.yaml"
    if keep_v1beta1 and out.exists():
        for old in yaml.safe_load_all(out.read_text()):
            for v in (old or {}).get("spec", {}).get("versions") or []:
                if v["name"] == "v1beta1" and all(x["name"] != "v1beta1" for x in doc["spec"]["versions"]):
                    v = dict(v, served=True, storage=False)
                    doc["spec"]["versions"].append(v)
    header = (f"# Transcribed by kofsim/tools/transcribe_crds.py from {source}: the real CRD's structure and rules,\n"
              "# descriptions left out (the module is not served by the Go proxy; see kofsim/CRDS.md).\n")
    if any(v["name"] == "v1beta1" for v in doc["spec"]["versions"]):
        header += ("# The v1beta1 version is kofsim's own model of the 1.x generation (kcm 1.x / KOF 1.x), served only "
                   "in that mode.\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(header + "---\n" + yaml.safe_dump(doc, sort_keys=False, width=120))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kcm", required=True, help="git snapshot of k0rdent/kcm")
    ap.add_argument("--kof", required=True, help="git snapshot of k0rdent/kof")
    args = ap.parse_args()
    names = subprocess.run(["git", "-C", args.kcm, "ls-tree", "--name-only", f"{KCM_TAG}:{KCM_DIR}"],
                           capture_output=True, text=True, check=True).stdout.split()
    for name in names:
        source = f"github.com/K0rdent/kcm@{KCM_TAG}:{KCM_DIR}/{name}"
        for doc in yaml.safe_load_all(git_show(args.kcm, f"{KCM_TAG}:{KCM_DIR}/{name}")):
            if doc:
                print(write(transcribe(doc, source), "kcm", source, keep_v1beta1=True))
    source = f"github.com/k0rdent/kof@{KOF_TAG}:{KOF_FILE}"
    for doc in yaml.safe_load_all(git_show(args.kof, f"{KOF_TAG}:{KOF_FILE}")):
        if doc:
            print(write(transcribe(doc, source), "kof", source, keep_v1beta1=True))


if __name__ == "__main__":
    main()
