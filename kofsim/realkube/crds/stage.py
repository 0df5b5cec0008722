"""Stages the upstream grafana-operator v5.13.0 CRDs (extracted by extract.py into .tools/kube/crds) where kofsim's
emulator takes CRDs from: its data/crds/grafana library (what Sveltos installs on the virtual clusters) and the
stand-in charts' crds/ (what helm installs with kof-mothership and kof-storage). Nothing of theirs is committed:
these files are git-ignored and written by scripts/setup.sh.

kof-mothership 0.1.1 ships grafana-operator v5.13.0; kof-storage 0.1.1 ships v5.15.1, whose CRDs the regional
clusters would get - kofsim gives them v5.13.0's too (the collection writes no Grafana objects there).

    python stage.py KUBE_CRDS_DIR
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

KOFSIM = Path(__file__).resolve().parents[2] / "kofsim"
TARGETS = (KOFSIM / "data" / "crds" / "grafana", KOFSIM / "charts" / "kof-mothership" / "crds",
           KOFSIM / "charts" / "kof-storage" / "crds")
SUFFIX = ".grafana.integreatly.org.yaml"


def main(crds_dir: str) -> int:
    source = Path(crds_dir) / "grafana-operator"
    files = sorted(source.glob(f"*{SUFFIX}"))
    if not files:
        print(f"stage.py: no grafana-operator CRDs in {source} (run kofsim/realkube/build.sh)", file=sys.stderr)
        return 1
    for target in TARGETS:
        target.mkdir(parents=True, exist_ok=True)
        for stale in target.glob(f"*{SUFFIX}"):
            if not (source / stale.name).exists():
                stale.unlink()
        for f in files:
            dest = target / f.name
            if not dest.exists() or dest.read_bytes() != f.read_bytes():
                shutil.copyfile(f, dest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
