# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# Apache License 2.0 (see LICENSE)
"""A small Kubernetes REST client for controller-side (action) plugins.

Fleet operations run in the controller process: no module start-up per object, one connection pool, bounded
concurrency. Authentication follows kubernetes.core (same option names and K8S_AUTH_* environment variables),
so one AWX kubeconfig credential serves both. Known REST paths are addressed directly: no discovery requests.
Retries: 429 (honouring Retry-After), 5xx and dropped connections, with bounded jittered back-off, only for
requests that are safe to repeat; a retried create that answers 409 AlreadyExists is resolved by the caller.
"""
from __future__ import annotations

import json
import os
import random
import threading
import time

# The kubernetes library is imported on first use: importing it costs about a second, which a module that fails
# validation (or an action plugin that renders only) should not pay.
_LIB = {}


def _lib() -> dict:
    if not _LIB:
        try:
            import urllib3  # pylint: disable=import-outside-toplevel
            from kubernetes import client, config  # pylint: disable=import-outside-toplevel
            from kubernetes.client.rest import ApiException  # pylint: disable=import-outside-toplevel
        except ImportError as err:
            raise KubeError("the kubernetes Python library is required on the controller (pip install kubernetes): "
                            f"{err}") from err
        _LIB.update(urllib3=urllib3, client=client, config=config, ApiException=ApiException)
    return _LIB


AUTH_OPTIONS = ("kubeconfig", "context", "host", "api_key", "validate_certs", "ca_cert", "client_cert",
                "client_key", "proxy")
# kubernetes.core reads K8S_AUTH_<option> or K8S_AUTH_<alias>; so do we
_ENV = {o: (f"K8S_AUTH_{o.upper()}",) for o in AUTH_OPTIONS}
_ENV.update(validate_certs=("K8S_AUTH_VALIDATE_CERTS", "K8S_AUTH_VERIFY_SSL"),
            ca_cert=("K8S_AUTH_CA_CERT", "K8S_AUTH_SSL_CA_CERT"),
            client_cert=("K8S_AUTH_CLIENT_CERT", "K8S_AUTH_CERT_FILE"),
            client_key=("K8S_AUTH_CLIENT_KEY", "K8S_AUTH_KEY_FILE"))
# The argument spec of these options for the controller-side plugins (documented by doc fragment
# k0rdent.kof.kube_connection).
AUTH_ARG_SPEC = {
    "kubeconfig": {"type": "raw"},
    "context": {"type": "str"},
    "host": {"type": "str"},
    "api_key": {"type": "str", "no_log": True},
    "validate_certs": {"type": "bool", "aliases": ["verify_ssl"]},
    "ca_cert": {"type": "path"},
    "client_cert": {"type": "path"},
    "client_key": {"type": "path"},
    "proxy": {"type": "str"},
}
RETRY_STATUS = (429, 500, 502, 503, 504)


class KubeError(Exception):
    """A failed API call, with a one-line message naming what failed."""

    def __init__(self, message, status=None, reason=None, body=None):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.body = body or {}


def auth_from(args: dict) -> dict:
    """Task args (or their K8S_AUTH_* environment fallbacks) for the API connection."""
    out = {}
    for opt in AUTH_OPTIONS:
        val = args.get(opt)
        for name in _ENV[opt] if val is None else ():
            if os.environ.get(name):
                val = os.environ[name]
                break
        if val is not None:
            out[opt] = val
    if isinstance(out.get("validate_certs"), str):
        out["validate_certs"] = out["validate_certs"].lower() not in ("0", "false", "no", "off")
    return out


class Kube:
    def __init__(self, auth: dict, *, retries: int = 6, backoff: float = 0.5, max_backoff: float = 8.0,
                 pool_size: int = 32, timeout: float = 60):
        lib = _lib()
        k8s_client, k8s_config = lib["client"], lib["config"]
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.requests = 0
        self._lock = threading.Lock()
        conf = k8s_client.Configuration()
        kubeconfig = auth.get("kubeconfig")
        try:
            if auth.get("host") and not kubeconfig:
                conf.host = auth["host"]
                if auth.get("api_key"):
                    conf.api_key = {"authorization": "Bearer " + auth["api_key"]}
            elif isinstance(kubeconfig, dict):
                k8s_config.load_kube_config_from_dict(kubeconfig, context=auth.get("context"),
                                                      client_configuration=conf)
            else:
                path = os.path.expanduser(kubeconfig) if kubeconfig else None
                if path is None and not os.environ.get("KUBECONFIG") and not os.path.exists(
                        os.path.expanduser("~/.kube/config")):
                    raise KubeError("no Kubernetes API configured: set kof_kubeconfig (or K8S_AUTH_KUBECONFIG)")
                k8s_config.load_kube_config(config_file=path, context=auth.get("context"),
                                            client_configuration=conf)
        except KubeError:
            raise
        except Exception as err:  # invalid kubeconfig, unknown context, unreadable file
            raise KubeError(f"cannot load the kubeconfig {kubeconfig or '(default)'}: {err}")
        if auth.get("host") and kubeconfig:
            conf.host = auth["host"]
        if auth.get("api_key") and kubeconfig:
            conf.api_key = {"authorization": "Bearer " + auth["api_key"]}
        if auth.get("ca_cert"):
            conf.ssl_ca_cert = auth["ca_cert"]
        if auth.get("client_cert"):
            conf.cert_file = auth["client_cert"]
        if auth.get("client_key"):
            conf.key_file = auth["client_key"]
        if auth.get("proxy"):
            conf.proxy = auth["proxy"]
        if auth.get("validate_certs") is False:
            conf.verify_ssl = False
        conf.connection_pool_maxsize = pool_size
        self.host = conf.host
        self.verify = conf.verify_ssl
        self.api = k8s_client.ApiClient(conf)

    @classmethod
    def from_api_client(cls, api_client, **kw):
        """Wrap a configured kubernetes ApiClient (e.g. kubernetes.core's, with all its auth options)."""
        self = cls.__new__(cls)
        self.retries = kw.get("retries", 6)
        self.backoff = kw.get("backoff", 0.5)
        self.max_backoff = kw.get("max_backoff", 8.0)
        self.timeout = kw.get("timeout", 60)
        self.requests = 0
        self._lock = threading.Lock()
        self.api = api_client
        self.host = api_client.configuration.host
        self.verify = api_client.configuration.verify_ssl
        return self

    def close(self):
        try:
            self.api.close()
        except Exception:  # pragma: no cover
            pass

    # ------------------------------------------------------------------------------------- core
    def request(self, method: str, path: str, *, query=None, body=None, content_type="application/json",
                retry: bool = True, stream: bool = False, timeout: float | None = None, retry_conflict=False):
        """Returns (status, parsed JSON body). Raises KubeError on failure."""
        lib = _lib()
        urllib3, api_exception = lib["urllib3"], lib["ApiException"]
        attempt = 0
        while True:
            attempt += 1
            with self._lock:
                self.requests += 1
            try:
                resp = self.api.call_api(
                    path, method, query_params=list((query or {}).items()),
                    header_params={"Accept": "application/json", "Content-Type": content_type},
                    body=body, auth_settings=["BearerToken"], _preload_content=False,
                    _return_http_data_only=False, _request_timeout=timeout or self.timeout)
                # with _preload_content=False the client hands back the urllib3 response itself
                raw = resp[0] if isinstance(resp, tuple) else resp
                status = getattr(raw, "status", None)
                if stream:
                    return status, raw
                data = raw.data
                return status, (json.loads(data) if data else None)
            except api_exception as err:
                status = err.status or 0
                try:
                    payload = json.loads(err.body) if err.body else {}
                except (ValueError, TypeError):
                    payload = {"message": (err.body or b"").decode("utf-8", "replace")[:300]
                               if isinstance(err.body, bytes) else str(err.body)[:300]}
                if retry and (status in RETRY_STATUS or (retry_conflict and status == 409)) \
                        and attempt <= self.retries:
                    self._sleep(attempt, (err.headers or {}).get("Retry-After"))
                    continue
                raise self._translate(method, path, status, payload)
            except (urllib3.exceptions.HTTPError, OSError) as err:
                # an untrusted certificate does not get better by retrying
                tls = isinstance(err, urllib3.exceptions.SSLError) or isinstance(
                    getattr(err, "reason", None), urllib3.exceptions.SSLError)
                if retry and not tls and attempt <= self.retries:
                    self._sleep(attempt, None)
                    continue
                raise KubeError(f"cannot reach the Kubernetes API at {self.host}: {_short(err)}")

    def _sleep(self, attempt, retry_after):
        delay = min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))
        delay = delay * (0.5 + random.random() / 2)
        if retry_after:
            try:
                delay = max(delay, min(float(retry_after), 30.0))
            except ValueError:
                pass
        time.sleep(delay)

    def _translate(self, method, path, status, payload):
        msg = payload.get("message") if isinstance(payload, dict) else None
        reason = payload.get("reason") if isinstance(payload, dict) else None
        if status == 401:
            return KubeError(f"the Kubernetes API at {self.host} rejected the credentials (401 Unauthorized): "
                             "check the kubeconfig, context or api_key (kof_kubeconfig / kof_context, "
                             "K8S_AUTH_*)", status, reason, payload)
        if status == 403:
            return KubeError(f"{method} {path} is forbidden: {msg}", status, reason, payload)
        return KubeError(f"{method} {path} failed ({status} {reason or ''}): {msg}".replace("  ", " "),
                         status, reason, payload)

    # --------------------------------------------------------------------------------- verbs
    def get(self, path, query=None):
        """The object, or None when it does not exist. A resource the server does not serve raises."""
        try:
            return self.request("GET", path, query=query)[1]
        except KubeError as err:
            if err.status == 404 and (err.body.get("details") or {}).get("name"):
                return None
            raise

    def list(self, path, query=None):
        return self.request("GET", path, query=query)[1]

    def create(self, path, obj, dry_run=False, field_manager="k0rdent.kof"):
        query = {"fieldManager": field_manager}
        if dry_run:
            query["dryRun"] = "All"
        return self.request("POST", path, query=query, body=obj)[1]

    def apply(self, path, obj, dry_run=False, field_manager="k0rdent.kof", force=True):
        query = {"fieldManager": field_manager, "force": "true" if force else "false"}
        if dry_run:
            query["dryRun"] = "All"
        # a forced apply states the whole intent and carries no resourceVersion: after a 409 (an optimistic
        # concurrency conflict inside the server) the same request is simply sent again
        return self.request("PATCH", path, query=query, body=obj, content_type="application/apply-patch+yaml",
                            retry_conflict=force)[1]

    def delete(self, path, propagation="Foreground", dry_run=False):
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        query = None
        if dry_run:
            # in the query as well as in DeleteOptions, so request logs and audit see a dry run
            body["dryRun"] = ["All"]
            query = {"dryRun": "All"}
        try:
            return self.request("DELETE", path, query=query, body=body)[1]
        except KubeError as err:
            if err.status == 404 and (err.body.get("details") or {}).get("name"):
                return None
            raise

    def watch(self, path, query, on_event, deadline):
        """Stream watch events to on_event(type, obj) until it returns True or the deadline passes.
        Returns True when on_event asked to stop; False on timeout or a closed stream."""
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        q = dict(query or {}, watch="true", timeoutSeconds=str(max(1, int(left))))
        raw = self.request("GET", path, query=q, stream=True, timeout=left + 5)[1]
        buf = b""
        try:
            for chunk in raw.stream(4096, decode_content=True):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if not line.strip():
                        continue
                    ev = json.loads(line)
                    if ev.get("type") == "ERROR":
                        return False
                    if on_event(ev.get("type"), ev.get("object") or {}):
                        return True
                if time.monotonic() > deadline:
                    return False
        except (_lib()["urllib3"].exceptions.HTTPError, OSError):
            return False
        finally:
            raw.release_conn()
        return False


def _short(err) -> str:
    text = str(err)
    for marker in ("Connection refused", "Name or service not known", "timed out", "CERTIFICATE_VERIFY_FAILED"):
        if marker in text:
            return marker + (" (TLS verification is on: give ca_cert, or turn validate_certs / "
                             "kof_validate_certs off for test clusters only)"
                             if marker == "CERTIFICATE_VERIFY_FAILED" else "")
    return text.splitlines()[0][:200] if text else err.__class__.__name__


def object_path(api_version: str, plural: str, namespace: str | None, name: str | None = None) -> str:
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    path = f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"
    return f"{path}/{name}" if name else path
