# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""The helm command line, for helm 3 and helm 4 alike.

kubernetes.core.helm 6.2 builds helm-3-only command lines (for example `helm list --all`, which helm 4
rejects). This module speaks to both: it asks the binary for its major version once, then maps the few flags
that differ (helm 3 --atomic / helm 4 --rollback-on-failure; helm 4 --server-side). Values always travel in a
0600 temporary file, never on the command line. The connection options are the collection's (module_utils/kube.py)
mapped to helm's global flags (helm_connection).
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import time

from ansible_collections.k0rdent.kof.plugins.module_utils.kube import ENV, complete_without_kubeconfig

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


class HelmConnectionError(HelmError):
    """A connection setting helm cannot take (refused before helm runs)."""


def transient(text: str) -> bool:
    return bool(TRANSIENT.search(text or ""))


def parse_version(text: str) -> tuple[int, int, int]:
    """`v3.17.3+ge4da497` -> (3, 17, 3)."""
    m = re.search(r"v?(\d+)\.(\d+)\.(\d+)", text or "")
    if not m:
        raise HelmError(f"cannot read the helm version from {text!r}")
    return tuple(int(x) for x in m.groups())


# connection option -> helm's global flag (helm 3 and 4 alike)
HELM_FLAGS = {"context": "--kube-context", "host": "--kube-apiserver", "api_key": "--kube-token",
              "ca_cert": "--kube-ca-file", "impersonate_user": "--kube-as-user"}
# options helm has no flag or variable for
NO_HELM_FLAG = ("username", "password", "client_cert", "client_key", "proxy_headers")


def helm_connection(settings: dict, given: dict, private_file) -> tuple[list[str], dict]:
    """helm's global flags and environment for the connection settings (kube.connection_settings of the task):
    --kubeconfig (a mapping written to a 0600 file by private_file(text)), --kube-context, --kube-apiserver,
    --kube-token, --kube-ca-file, --kube-insecure-skip-tls-verify, --kube-as-user, --kube-as-group per group;
    proxy / no_proxy become HTTPS_PROXY, HTTP_PROXY and NO_PROXY of the helm process. With a host and a token,
    no kubeconfig is read (as kubernetes.core: an empty one is passed, so helm does not read ~/.kube/config).
    `given`: the task's own options, to say where a refused setting came from. Raises HelmError for what helm
    cannot take: username / password, client_cert / client_key, proxy_headers, persist_config false."""
    refused = [opt for opt in NO_HELM_FLAG if settings.get(opt)]
    if settings.get("persist_config") is False:
        refused.append("persist_config")  # helm (client-go) always writes refreshed auth-provider tokens back
    if refused:
        names = [opt if given.get(opt) is not None else
                 f"{opt} (from {' / '.join(ENV.get(opt, ('K8S_AUTH_*',)))})" for opt in refused]
        raise HelmConnectionError(f"helm cannot take {', '.join(names)}: helm has no flag for "
                                  f"{'it' if len(refused) == 1 else 'them'}; put the credentials in a kubeconfig "
                                  "(kubeconfig, a path or a mapping) or use api_key")
    flags, env = [], {}
    kubeconfig = settings.get("kubeconfig")
    if complete_without_kubeconfig(settings):
        kubeconfig = {"apiVersion": "v1", "kind": "Config"}
    if isinstance(kubeconfig, dict):
        flags += ["--kubeconfig", private_file(json.dumps(kubeconfig))]
    elif kubeconfig:
        flags += ["--kubeconfig", os.path.expanduser(kubeconfig)]
    for option, flag in HELM_FLAGS.items():
        if settings.get(option):
            flags += [flag, str(settings[option])]
    for group in settings.get("impersonate_groups") or []:
        flags += ["--kube-as-group", group]
    if settings.get("validate_certs") is False:
        flags.append("--kube-insecure-skip-tls-verify")
    if settings.get("proxy"):
        env.update(HTTPS_PROXY=settings["proxy"], HTTP_PROXY=settings["proxy"])
    if settings.get("no_proxy"):
        env["NO_PROXY"] = settings["no_proxy"]
    return flags, env


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
    def __init__(self, module, binary: str, retries: int = 0, backoff: float = 1.0, environ: dict | None = None):
        self.module = module
        self.binary = binary
        self.major = None
        self.version = ""
        self.retries = retries
        self.backoff = backoff
        self.retried = 0  # commands run again after a transient failure
        self.environ = dict(environ or {}, HELM_NO_PLUGINS="1")

    def run(self, args, check=True):
        """Run helm; a transient API failure is retried (bounded, exponential back-off), anything else is not.
        Re-running is safe: reads are reads, and `upgrade --install` / `uninstall` converge from any state a
        failed attempt left (a release marked failed is upgraded again)."""
        attempt = 0
        while True:
            attempt += 1
            rc, out, err = self.module.run_command([self.binary] + args, environ_update=self.environ)
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
        return self.private_file(json.dumps(values), "kof-values-")

    def private_file(self, text: str, prefix: str = "kof-kubeconfig-") -> str:
        """A 0600 temporary file holding `text`, removed when the module exits."""
        fd, path = tempfile.mkstemp(prefix=prefix, suffix=".yaml")
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        self.module.add_cleanup_file(path)
        return path


def _first_error(text: str) -> str:
    """helm's last `Error:` line with the detail lines under it (`Error: 1 error occurred:` then `* ...`)."""
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    starts = [i for i, ln in enumerate(lines) if ln.lower().startswith("error")]
    if not starts:
        return (lines[-1] if lines else "helm failed")[:600]
    return " ".join(lines[starts[-1]:])[:600]
