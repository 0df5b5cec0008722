"""Seeds a k0rdent management cluster: kcm/Sveltos/Flux CRDs and the objects a kcm install has."""
from __future__ import annotations

from pathlib import Path

import yaml

DATA = Path(__file__).resolve().parent.parent / "data"
# CRDs a k0rdent management cluster has before KOF is installed (KOF's own come with its charts).
PREINSTALLED_CRDS = ("kcm", "sveltos", "flux", "certmanager")


def load_docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


class K0rdent:
    def __init__(self, sim, mgmt):
        self.sim = sim
        self.mgmt = mgmt

    def seed(self):
        crd_rt = self.mgmt.registry.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        for group_dir in PREINSTALLED_CRDS:
            d = DATA / "crds" / group_dir
            for f in sorted(d.glob("*.yaml")) if d.exists() else []:
                for doc in load_docs(f):
                    self.mgmt.write(crd_rt, doc, internal=True)
        seed_dir = DATA / "seed"
        for f in sorted(seed_dir.glob("*.yaml")) if seed_dir.exists() else []:
            for doc in load_docs(f):
                self.mgmt.upsert(doc)

    def scenario(self, spec: dict):
        pass

    def stop(self):
        pass
