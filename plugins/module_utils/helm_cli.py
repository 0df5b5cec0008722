# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# Apache License 2.0 (see LICENSE)
"""The helm command line, for helm 3 and helm 4 alike.

kubernetes.core.helm 6.2 builds helm-3-only command lines (for example `helm list --all`, which helm 4
rejects). This module speaks to both: it asks the binary for its major version once, then maps the few flags
that differ (helm 3 --atomic / helm 4 --rollback-on-failure; helm 4 --server-side). Values always travel in a
0600 temporary file, never on the command line.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import time

GO_DURATION = re.compile(r"^(\d+(\.\d+)?(h|m|s|ms|us|ns))+$")


# What helm prints when the API server failed transiently (5xx, 429, a dropped or reset connection, a conflict on
# its own release Secret): the same command succeeds when run again.
TRANSIENT = re.compile(
    r"the server is currently unable to handle the request|internal error occurred|an error on the server"
    r"|too many requests|rate limit|connection reset by peer|broken pipe|unexpected eof|\bEOF\b"
    r"|i/o timeout|tls handshake timeout|http2: |connection refused|the object has been modified"
    r"|please apply your changes to the latest version|server closed idle connection"
    r"|client rate limiter|stream error|net/http: request canceled|failed to download openapi"
    r"|could not get apiversions|could not get server version|couldn't get resource list", re.I)


class HelmError(Exception):
    pass


def transient(text: str) -> bool:
    return bool(TRANSIENT.search(text or ""))


def parse_version(text: str) -> tuple[int, int, int]:
    """`v3.17.3+ge4da497` -> (3, 17, 3)."""
    m = re.search(r"v?(\d+)\.(\d+)\.(\d+)", text or "")
    if not m:
        raise HelmError(f"cannot read the helm version from {text!r}")
    return tuple(int(x) for x in m.groups())


def kube_flags(params: dict) -> list[str]:
    """Connection flags from the kubernetes.core-style options (K8S_AUTH_* environment as fallback)."""
    env = os.environ
    flags = []
    kubeconfig = params.get("kubeconfig") or env.get("K8S_AUTH_KUBECONFIG")
    context = params.get("context") or env.get("K8S_AUTH_CONTEXT")
    host = params.get("host") or env.get("K8S_AUTH_HOST")
    api_key = params.get("api_key") or env.get("K8S_AUTH_API_KEY")
    ca_cert = params.get("ca_cert") or env.get("K8S_AUTH_SSL_CA_CERT")
    if kubeconfig:
        flags += ["--kubeconfig", os.path.expanduser(kubeconfig)]
    if context:
        flags += ["--kube-context", context]
    if host:
        flags += ["--kube-apiserver", host]
    if api_key:
        flags += ["--kube-token", api_key]
    if ca_cert:
        flags += ["--kube-ca-file", ca_cert]
    if params.get("validate_certs") is False:
        flags.append("--kube-insecure-skip-tls-verify")
    return flags


def upgrade_args(major: int, name: str, chart: str, namespace: str, *, version=None, values_file=None,
                 create_namespace=False, wait=True, timeout="10m", atomic=False, take_ownership=False,
                 server_side=None, skip_crds=False, plain_http=False, insecure_skip_tls_verify=False) -> list[str]:
    args = ["upgrade", "--install", name, chart, "--namespace", namespace, "--reset-values"]
    if version:
        args += ["--version", version]
    if values_file:
        args += ["--values", values_file]
    if create_namespace:
        args.append("--create-namespace")
    if wait:
        args.append("--wait")
    args += ["--timeout", timeout]
    if atomic:
        args.append("--atomic" if major < 4 else "--rollback-on-failure")
    if take_ownership:
        args.append("--take-ownership")
    if server_side is not None:
        if major < 4:
            raise HelmError("server_side needs helm 4: helm 3 always applies client-side")
        args += ["--server-side", str(server_side).lower()]
    if skip_crds:
        args.append("--skip-crds")
    if plain_http:
        args.append("--plain-http")
    if insecure_skip_tls_verify:
        args.append("--insecure-skip-tls-verify")
    return args


def uninstall_args(name: str, namespace: str, *, wait=True, timeout="10m", cascade="foreground") -> list[str]:
    args = ["uninstall", name, "--namespace", namespace, "--timeout", timeout, "--cascade", cascade]
    if wait:
        args.append("--wait")
    return args


def merge(base: dict, over: dict) -> dict:
    """Helm's merge of values: maps merge recursively, anything else is replaced."""
    out = dict(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def normalise(values) -> dict:
    """JSON round trip, so YAML and helm's JSON output compare equal (no None-vs-missing surprises)."""
    return json.loads(json.dumps(values or {}, sort_keys=True, default=str))


def mask(values: dict, hidden: list) -> dict:
    out = json.loads(json.dumps(values or {}))
    for path in hidden or []:
        node = out
        parts = path.split(".")
        for p in parts[:-1]:
            node = node.get(p) if isinstance(node, dict) else None
            if node is None:
                break
        if isinstance(node, dict) and parts[-1] in node:
            node[parts[-1]] = "<hidden>"
    return out


def local_chart(chart_ref: str) -> dict | None:
    """Chart.yaml of a local chart directory, or None for a repository reference."""
    path = os.path.expanduser(chart_ref)
    meta = os.path.join(path, "Chart.yaml")
    if "://" in chart_ref or not os.path.isfile(meta):
        return None
    import yaml
    with open(meta) as fh:
        return yaml.safe_load(fh) or {}


class Helm:
    def __init__(self, module, binary: str, retries: int = 0, backoff: float = 1.0):
        self.module = module
        self.binary = binary
        self.major = None
        self.version = ""
        self.retries = retries
        self.backoff = backoff
        self.retried = 0  # commands run again after a transient failure

    def run(self, args, check=True):
        """Run helm; a transient API failure is retried (bounded, exponential back-off), anything else is not.
        Re-running is safe: reads are reads, and `upgrade --install` / `uninstall` converge from any state a
        failed attempt left (a release marked failed is upgraded again)."""
        attempt = 0
        while True:
            attempt += 1
            rc, out, err = self.module.run_command([self.binary] + args, environ_update={"HELM_NO_PLUGINS": "1"})
            if rc == 0 or not transient(err or out) or attempt > self.retries:
                break
            self.retried += 1
            time.sleep(min(16.0, self.backoff * 2 ** (attempt - 1)))
        if check and rc != 0:
            error = HelmError(_first_error(err or out))
            error.retried = self.retried
            raise error
        return rc, out, err

    def detect(self):
        out = self.run(["version", "--short"])[1]
        self.version = out.strip()
        self.major = parse_version(self.version)[0]
        if self.major not in (3, 4):
            raise HelmError(f"helm {self.version} is not supported: use helm 3 or helm 4")
        return self.major

    def status(self, name, namespace, kube):
        rc, out, err = self.run(["status", name, "--namespace", namespace, "-o", "json"] + kube, check=False)
        if rc != 0:
            if "not found" in (err + out).lower():
                return None
            raise HelmError(_first_error(err or out))
        return json.loads(out)

    def user_values(self, name, namespace, kube) -> dict:
        out = self.run(["get", "values", name, "--namespace", namespace, "-o", "json"] + kube)[1]
        return json.loads(out or "null") or {}

    def values_file(self, values: dict) -> str:
        fd, path = tempfile.mkstemp(prefix="kof-values-", suffix=".yaml")
        with os.fdopen(fd, "w") as fh:
            json.dump(values, fh)
        os.chmod(path, 0o600)
        self.module.add_cleanup_file(path)
        return path


def _first_error(text: str) -> str:
    """helm's last `Error:` line with the detail lines under it (`Error: 1 error occurred:` then `* ...`)."""
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    starts = [i for i, ln in enumerate(lines) if ln.lower().startswith("error")]
    if not starts:
        return (lines[-1] if lines else "helm failed")[:600]
    return " ".join(lines[starts[-1]:])[:600]
