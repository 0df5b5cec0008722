"""Differential conformance: the same requests, sent by the same client code, to kofsim and to a real
kube-apiserver (v1.36.3, `kofsim up --api real`), compared after dropping server-generated noise.

A *case* is a function taking a Session; everything it records (a request's status, Content-Type, warnings and
normalized body; or a client's exit code and output; or an object read back) is one *check*. Both backends run
every case in the same order; checks are matched by (case, label) and compared for equality.

Run it with `make conformance` or `python -m kofsim.conformance`; kofsim/tests/test_conformance.py runs it too.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import yaml

from .client import JSON, Conn, Resp
from .normalize import mask_deep, norm

ROOT = Path(__file__).resolve().parents[3]
TOOLS_BIN = ROOT / ".tools" / "bin"
DATA_CRDS = Path(__file__).resolve().parents[1] / "data" / "crds"


class CaseError(Exception):
    pass


class Session:
    """One backend's run of the suite: its connection, environment for client binaries, and the checks."""

    def __init__(self, name: str, backend, workdir: Path):
        self.name = name                  # "real" or "kofsim"
        self.backend = backend
        self.conn = Conn(backend.kubeconfig)
        self.workdir = workdir
        self.home = workdir / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.case = ""
        self.records: list[tuple[str, str, object, object]] = []   # (case, label, compared value, raw)
        self._labels: dict[tuple, int] = {}
        self.state: dict = {}             # values a case keeps between its steps (per backend)

    # ------------------------------------------------------------------------------ recording
    def _label(self, label: str) -> str:
        key = (self.case, label)
        n = self._labels.get(key, 0)
        self._labels[key] = n + 1
        return label if n == 0 else f"{label} #{n + 1}"

    def check(self, label: str, value, raw=None) -> None:
        """Record a comparable value (normalized here)."""
        self.records.append((self.case, self._label(label), norm(value), raw if raw is not None else value))

    def req(self, label: str | None, method: str, path: str, body=None, *, ct: str | None = None,
            accept: str = JSON, headers: dict | None = None, pick=None, masks=None, body_compare: bool = True,
            timeout: float | None = None) -> Resp:
        """Send a request; unless label is None, record status, Content-Type, warnings and the normalized body
        (through `pick`, a projection of the parts compared, and `masks`, regexes of numbers to hide)."""
        r = self.conn.request(method, path, body, ct=ct, accept=accept, headers=headers, timeout=timeout)
        if label is not None:
            value = {"code": r.status, "ct": _media(r.content_type), "warnings": r.warnings}
            if body_compare:
                b = r.json
                if pick is not None:
                    try:
                        b = pick(b)
                    except Exception as err:  # noqa: BLE001 - a body without the picked parts is a difference
                        b = {"<pick failed>": repr(err), "body": b}
                value["body"] = mask_deep(norm(b), masks)
            self.records.append((self.case, self._label(f"{method} {label}"), value,
                                 {"path": path, "code": r.status, "body": r.json}))
        return r

    # ------------------------------------------------------------------------------ helpers
    def get(self, path: str) -> Resp:
        return self.conn.request("GET", path)

    def wait(self, what: str, fn, timeout: float = 30, interval: float = 0.1):
        deadline = time.monotonic() + timeout
        while True:
            v = fn()
            if v:
                return v
            if time.monotonic() > deadline:
                raise CaseError(f"timed out waiting for {what}")
            time.sleep(interval)

    def wait_gone(self, path: str, timeout: float = 60) -> None:
        self.wait(f"{path} gone", lambda: self.get(path).status == 404, timeout)

    def ensure_ns(self, ns: str, labels: dict | None = None, wait_sa: bool = False) -> None:
        """A fresh namespace for a case (not recorded); with wait_sa, once its default ServiceAccount exists
        (the ServiceAccount admission plugin refuses pods until then)."""
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels or {}}}
        r = self.conn.request("POST", "/api/v1/namespaces", body)
        if r.status not in (201, 409):
            raise CaseError(f"namespace {ns}: {r.status} {r.raw[:300]!r}")
        # kube-controller-manager fills a new namespace (its default ServiceAccount, kube-root-ca.crt) soon after
        self.wait(f"ServiceAccount {ns}/default",
                  lambda: self.get(f"/api/v1/namespaces/{ns}/serviceaccounts/default").status == 200, 30)
        self.wait(f"ConfigMap {ns}/kube-root-ca.crt",
                  lambda: self.get(f"/api/v1/namespaces/{ns}/configmaps/kube-root-ca.crt").status == 200, 30)

    def env(self) -> dict:
        env = dict(os.environ)
        env["KUBECONFIG"] = self.backend.kubeconfig
        env["K8S_AUTH_KUBECONFIG"] = self.backend.kubeconfig
        env["HOME"] = str(self.home)
        env["PATH"] = f"{TOOLS_BIN}:{Path(sys.executable).parent}:{env.get('PATH', '')}"
        env.pop("HELM_DRIVER", None)
        return env

    def close(self):
        self.conn.close()


def _media(ct: str) -> str:
    return ";".join(p.strip() for p in ct.split(";") if p.strip() and not p.strip().startswith("charset"))


# ---------------------------------------------------------------------------------------- backends
def crd_documents() -> list[tuple[str, dict]]:
    """The CRDs of the real backend, to install into kofsim too: the upstream ones (grafana-operator, Sveltos)
    and kofsim's own files the real backend installs since their upstream modules are not served by the Go
    proxy (kcm, kof's PromxyServerGroup, Flux, cert-manager: realapi.kofsim_crds). Returns (origin, crd) pairs,
    origin 'upstream' or 'kofsim'."""
    from .. import realapi
    out = []
    for entry in realapi.crd_index():
        out.append(("upstream", yaml.safe_load((realapi.kube_dir() / "crds" / entry["file"]).read_text())))
    names = {crd["metadata"]["name"] for _, crd in out}
    if hasattr(realapi, "kofsim_crds"):
        out += [("kofsim", crd) for _, crd in realapi.kofsim_crds() if crd["metadata"]["name"] not in names]
    else:  # an older real backend: install kofsim's kcm and kof files into both here
        for sub in ("kcm", "kof"):
            for f in sorted((DATA_CRDS / sub).glob("*.yaml")):
                for doc in yaml.safe_load_all(f.read_text()):
                    if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                        out.append(("kofsim-extra", doc))
    return out


def install_crds(conn: Conn, docs, origins) -> None:
    names = []
    for origin, crd in docs:
        if origin not in origins:
            continue
        r = conn.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        if r.status not in (201, 409):
            raise CaseError(f"CRD {crd['metadata']['name']} refused ({r.status}): {r.raw[:500]!r}")
        names.append(crd)
    deadline = time.monotonic() + 60
    for crd in names:
        spec = crd["spec"]
        while True:
            r = conn.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd['metadata']['name']}")
            ok = r.status == 200 and any(c.get("type") == "Established" and c.get("status") == "True"
                                         for c in (r.json.get("status") or {}).get("conditions") or [])
            if ok:
                served = [v["name"] for v in spec["versions"] if v.get("served", True)]
                ok = all(spec["names"]["plural"] in {x["name"] for x in (conn.request(
                    "GET", f"/apis/{spec['group']}/{v}").json or {}).get("resources", [])} for v in served)
            if ok:
                break
            if time.monotonic() > deadline:
                raise CaseError(f"CRD {crd['metadata']['name']} not served in time ({conn.server})")
            time.sleep(0.1)


def start_backends(workdir: Path):
    """Starts the real control plane and kofsim (bare, same version) concurrently; installs the CRDs."""
    from ..testing import Kofsim, RealKube
    reason = RealKube.missing()
    if reason:
        raise CaseError(f"the real backend is not available: {reason}")
    real = RealKube(workdir / "real-api")
    emu_box = {}

    def start_emu():
        try:
            emu_box["k"] = Kofsim(workdir / "kofsim-api", bare=True,
                                  extra_args=["--k8s-version", "v1.36.3"]).start()
        except Exception as err:  # noqa: BLE001
            emu_box["err"] = err
    t = threading.Thread(target=start_emu)
    t.start()
    try:
        real.start()
    except BaseException:
        t.join()
        if "k" in emu_box:
            emu_box["k"].stop()
        raise
    t.join()
    if "err" in emu_box:
        real.stop()
        raise emu_box["err"]
    emu = emu_box["k"]
    docs = crd_documents()
    try:
        rc, kc = Conn(real.kubeconfig), Conn(emu.kubeconfig)
        ver = rc.request("GET", "/version").json["gitVersion"]
        if ver != "v1.36.3":  # kofsim reports whatever it is told: keep them the same
            emu.stop()
            emu = Kofsim(workdir / "kofsim-api", bare=True, extra_args=["--k8s-version", ver]).start()
            kc = Conn(emu.kubeconfig)
        ts = [threading.Thread(target=install_crds, args=(rc, docs, ("kofsim-extra",))),
              threading.Thread(target=install_crds, args=(kc, docs, ("upstream", "kofsim", "kofsim-extra")))]
        errs = []
        for th in ts:
            th.run = _catching(th.run, errs)
            th.start()
        for th in ts:
            th.join()
        if errs:
            raise errs[0]
        # the real backend's kube-controller-manager creates every namespace's default ServiceAccount
        rc.close()
        kc.close()
    except BaseException:
        real.stop()
        emu.stop()
        raise
    return real, emu


def _catching(fn, errs):
    def run():
        try:
            fn()
        except BaseException as err:  # noqa: BLE001
            errs.append(err)
    return run


# ---------------------------------------------------------------------------------------- running
def run_cases(session: Session, cases, only=None) -> None:
    for name, fn in cases:
        if only and not any(o in name for o in only):
            continue
        session.case = name
        t0 = time.monotonic()
        try:
            fn(session)
        except Exception as err:  # noqa: BLE001 - the case stops; its missing checks are differences
            session.records.append((name, "<case error>", f"{type(err).__name__}: {err}",
                                    traceback.format_exc()))
        session.state.setdefault("_times", {})[name] = time.monotonic() - t0


def compare(a: Session, b: Session):
    """(results, agree, total): results is a list of (case, label, equal, value_a, value_b, raw_a, raw_b)."""
    ia = {(c, l): (v, r) for c, l, v, r in a.records}
    ib = {(c, l): (v, r) for c, l, v, r in b.records}
    order = []
    seen = set()
    for c, l, _, _ in a.records + b.records:
        if (c, l) not in seen:
            seen.add((c, l))
            order.append((c, l))
    results = []
    for key in order:
        va, ra = ia.get(key, ("<missing>", None))
        vb, rb = ib.get(key, ("<missing>", None))
        results.append((key[0], key[1], _canon(va) == _canon(vb), va, vb, ra, rb))
    agree = sum(1 for r in results if r[2])
    return results, agree, len(results)


def _canon(v) -> str:
    return json.dumps(v, sort_keys=True, default=str)


def run(workdir: str | os.PathLike | None = None, only=None, keep: bool = False, report: str | None = None,
        verbose: bool = False) -> dict:
    from . import cases as C
    own = workdir is None
    wd = Path(workdir or tempfile.mkdtemp(prefix="kofsim-conformance-"))
    wd.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    real, emu = start_backends(wd)
    t_start = time.monotonic() - t0
    sessions = [Session("real", real, wd / "real"), Session("kofsim", emu, wd / "kofsim")]
    try:
        threads = [threading.Thread(target=run_cases, args=(s, C.CASES, only)) for s in sessions]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    finally:
        for s in sessions:
            s.close()
        if not keep:
            real.stop()
            emu.stop()
    results, agree, total = compare(sessions[0], sessions[1])
    elapsed = time.monotonic() - t0
    out = {"results": results, "agree": agree, "total": total, "seconds": elapsed, "startup": t_start,
           "times": {"real": sessions[0].state.get("_times", {}), "kofsim": sessions[1].state.get("_times", {})}}
    if report:
        from .report import write_report
        write_report(report, out)
    if own and not keep:
        shutil.rmtree(wd, ignore_errors=True)
    return out
