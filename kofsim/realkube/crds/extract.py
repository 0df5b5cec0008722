"""Copies upstream CustomResourceDefinitions out of Go modules into a directory, for `kofsim up --api real`.

    python extract.py OUT_DIR

For every row of sources.tsv: `go mod download -json <module>@<version>` (run in this directory, so the go
command checks the module against go.sum; the hash it reports is compared with go.sum here too), then every
CustomResourceDefinition in `<module dir>/<directory>/*.yaml` (or in the files the row's optional fifth column
names, comma-separated globs) is written to OUT_DIR/<component>/<file>.
OUT_DIR/index.json lists each CRD with its source (module@version:path) and the changes made to it.

Changes are made only where a CRD cannot be installed without its controller (see `adapt`); each one is
recorded in the index and printed.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent


def sources() -> list[tuple[str, str, str, str, list[str]]]:
    rows = []
    for line in (HERE / "sources.tsv").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            component, module, version, subdir, *files = line.split("\t")
            rows.append((component, module, version, subdir, files[0].split(",") if files else ["*.yaml"]))
    return rows


def go_sum() -> dict[tuple[str, str], str]:
    sums = {}
    for line in (HERE / "go.sum").read_text().splitlines():
        module, version, h = line.split()
        sums[(module, version)] = h
    return sums


def required() -> dict[str, str]:
    reqs, block = {}, False
    for line in (HERE / "go.mod").read_text().splitlines():
        words = line.split("//")[0].split()
        if words[:2] == ["require", "("]:
            block = True
        elif block and words == [")"]:
            block = False
        elif block and len(words) == 2:
            reqs[words[0]] = words[1]
        elif words[:1] == ["require"] and len(words) == 3:
            reqs[words[1]] = words[2]
    return reqs


def download(module: str, version: str) -> Path:
    env = dict(os.environ, GOFLAGS="-mod=readonly", GOTOOLCHAIN="local")
    proc = subprocess.run(["go", "mod", "download", "-json", f"{module}@{version}"], cwd=HERE, env=env,
                          capture_output=True, text=True)
    info = json.loads(proc.stdout) if proc.stdout.strip() else {}
    if proc.returncode != 0 or info.get("Error"):
        raise SystemExit(f"extract: {module}@{version}: {info.get('Error') or proc.stderr.strip()}")
    want = go_sum().get((module, version))
    if want is None or info.get("Sum") != want:
        raise SystemExit(f"extract: {module}@{version}: hash {info.get('Sum')} does not match go.sum ({want})")
    return Path(info["Dir"])


def adapt(crd: dict) -> list[str]:
    """The changes a CRD needs to be served without its controller. Returns what was changed, and why."""
    changes = []
    conversion = crd["spec"].get("conversion") or {}
    if conversion.get("strategy") == "Webhook":
        # The webhook's Service runs with the operator, which is not deployed: every read of a non-storage
        # version would fail. Without it, versions are converted by apiVersion only (strategy None).
        crd["spec"]["conversion"] = {"strategy": "None"}
        changes.append("spec.conversion: Webhook -> None (the conversion webhook's Service does not exist)")
    meta = crd["metadata"]
    for field in ("labels", "annotations"):
        for key, value in list((meta.get(field) or {}).items()):
            if "{{" in str(key) or "{{" in str(value):
                # Helm template text is not a valid label or annotation; Helm would have rendered it.
                del meta[field][key]
                changes.append(f"metadata.{field}.{key}: removed unrendered Helm template text")
    return changes


def main(out: Path) -> int:
    reqs = required()
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    index = []
    for component, module, version, subdir, globs in sources():
        # go.mod requires one version of a module; another generation's pin of it (grafana-operator: KOF 0.1.1's
        # and 1.10's) is downloaded by version and checked against its go.sum line (download())
        if reqs.get(module) != version and (reqs.get(module) is None or (module, version) not in go_sum()):
            raise SystemExit(f"extract: {module} {version} is not required at that version in go.mod, nor a "
                             "second version of a required module with its hash in go.sum")
        root = download(module, version)
        files = sorted({f for g in globs for f in (root / subdir).glob(g)})
        if not files or any(not list((root / subdir).glob(g)) for g in globs):
            raise SystemExit(f"extract: no {','.join(globs)} in {module}@{version}:{subdir}")
        for path in files:
            raw = path.read_bytes()
            docs = [d for d in yaml.safe_load_all(raw) if d and d.get("kind") == "CustomResourceDefinition"]
            for doc in docs:
                changes = adapt(doc)
                name = doc["metadata"]["name"]
                dest = tmp / component / f"{name}.yaml"
                dest.parent.mkdir(parents=True, exist_ok=True)
                if dest.exists():
                    raise SystemExit(f"extract: {name} comes from two sources")
                if changes or len(docs) > 1:
                    dest.write_text(yaml.safe_dump(doc, sort_keys=False))
                else:
                    dest.write_bytes(raw)
                index.append({"name": name, "group": doc["spec"]["group"],
                              "plural": doc["spec"]["names"]["plural"], "kind": doc["spec"]["names"]["kind"],
                              "versions": [v["name"] for v in doc["spec"]["versions"] if v.get("served")],
                              "component": component, "file": f"{component}/{name}.yaml",
                              "source": f"{module}@{version}:{subdir}/{path.name}",
                              "sha256": hashlib.sha256(raw).hexdigest(), "changes": changes})
                for change in changes:
                    print(f"extract: {name}: {change}")
    (tmp / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    print(f"extract: {len(index)} CRDs into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]).resolve()))
