"""A real kube-apiserver (kofsim up --api real: kube-apiserver v1.36.3, etcd, kube-controller-manager built from Go
modules, with the upstream CRDs and kofsim's transcriptions of kcm v0.1.0 / kof 0.1.1) as the oracle for the
collection's objects and modules."""
from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request

import pytest
import yaml

from kofsim import realapi
from kofsim.testing import RealKube


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    reason = realapi.missing()
    if reason and not os.environ.get("KOFSIM_REQUIRE_REAL"):
        pytest.skip(f"the real API backend is not built: {reason}")
    k = RealKube(tmp_path_factory.mktemp("real"))
    k.start()
    yield k
    k.stop()


class Api:
    """Minimal REST client on the admin client certificate of the real backend's kubeconfig."""

    def __init__(self, kubeconfig: str, workdir):
        cfg = yaml.safe_load(open(kubeconfig, encoding="utf-8"))
        user = cfg["users"][0]["user"]
        cluster = cfg["clusters"][0]["cluster"]
        self.url = cluster["server"].rstrip("/")
        import base64
        ca, crt, key = (workdir / "ca.pem", workdir / "crt.pem", workdir / "key.pem")
        ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
        crt.write_bytes(base64.b64decode(user["client-certificate-data"]))
        key.write_bytes(base64.b64decode(user["client-key-data"]))
        self.ctx = ssl.create_default_context(cafile=str(ca))
        self.ctx.load_cert_chain(str(crt), str(key))

    def call(self, method, path, body=None, content_type="application/json"):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"{}"), resp.headers.get_all("Warning") or []
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}"), err.headers.get_all("Warning") or []


@pytest.fixture(scope="module")
def api(real, tmp_path_factory):
    return Api(real.kubeconfig, tmp_path_factory.mktemp("pki"))


def missing_fields(sent, got, path=""):
    """Paths of `sent` that are not in `got` with the same value: what the server pruned or changed."""
    if isinstance(sent, dict):
        if not isinstance(got, dict):
            return [path or "."]
        out = []
        for key, value in sent.items():
            out += missing_fields(value, got.get(key, _ABSENT) if key in got else _ABSENT, f"{path}.{key}")
        return out
    if isinstance(sent, list):
        if not isinstance(got, list) or len(got) != len(sent):
            return [path]
        return [p for i, (a, b) in enumerate(zip(sent, got)) for p in missing_fields(a, b, f"{path}[{i}]")]
    return [] if sent == got else [path]


class _Absent:
    def __repr__(self):
        return "<absent>"


_ABSENT = _Absent()
