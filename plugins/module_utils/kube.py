# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""The collection's one Kubernetes connection layer and REST client, for modules and controller-side plugins alike.

Connection options: exactly kubernetes.core's (6.2.0, module_utils/args_common.py AUTH_ARG_SPEC), each taken from
the task or else from its K8S_AUTH_* environment variable as kubernetes.core's k8s/client.py resolves it
(connection_settings), documented once by the doc fragment k0rdent.kof.kube_connection and turned into a client
in one place (Kube). helm_release maps the same settings to helm's flags (module_utils/helm_cli.py helm_connection).

The client addresses known REST paths directly (no discovery requests). Retries: 429 (honouring Retry-After), 5xx
and dropped connections, with bounded jittered back-off, only for requests that are safe to repeat; a retried
create that answers 409 AlreadyExists is resolved by the caller.
"""
from __future__ import annotations

import json
import os
import random
import threading
import time

# The kubernetes library is imported on first use in a module (a process per call): importing it costs about half a
# second of CPU, which a module that fails validation should not pay. An action plugin that reaches clusters
# imports it when its class is defined (plugin_utils/action.py, load_library): in the controller, before it forks.
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


def load_library() -> None:
    """Import the kubernetes library now if it is installed; when it is not, the first client says why."""
    try:
        _lib()
    except KubeError:
        pass


# ------------------------------------------------------------------------------------------ connection options
# kubernetes.core 6.2.0's AUTH_ARG_SPEC, option for option (tests/unit/test_connection.py compares them).
PROXY_HEADERS_SPEC = {
    "proxy_basic_auth": {"type": "str", "no_log": True},
    "basic_auth": {"type": "str", "no_log": True},
    "user_agent": {"type": "str"},
}
AUTH_ARG_SPEC = {
    "kubeconfig": {"type": "raw", "no_log": True},
    "context": {"type": "str"},
    "host": {"type": "str"},
    "api_key": {"type": "str", "no_log": True},
    "username": {"type": "str"},
    "password": {"type": "str", "no_log": True},
    "validate_certs": {"type": "bool", "aliases": ["verify_ssl"]},
    "ca_cert": {"type": "path", "aliases": ["ssl_ca_cert"]},
    "client_cert": {"type": "path", "aliases": ["cert_file"]},
    "client_key": {"type": "path", "aliases": ["key_file"]},
    "proxy": {"type": "str"},
    "no_proxy": {"type": "str"},
    "proxy_headers": {"type": "dict", "options": PROXY_HEADERS_SPEC},
    "persist_config": {"type": "bool"},
    "impersonate_user": {"type": "str"},
    "impersonate_groups": {"type": "list", "elements": "str"},
}
AUTH_OPTIONS = tuple(AUTH_ARG_SPEC)
# The environment variables of each option, in kubernetes.core's order: K8S_AUTH_<option>, then K8S_AUTH_<the
# kubernetes client's name of it> (kubernetes.core 6.2.0 module_utils/k8s/client.py, which reads the impersonation
# options' variables the same way).
_CLIENT_NAMES = {"validate_certs": "verify_ssl", "ca_cert": "ssl_ca_cert", "client_cert": "cert_file",
                 "client_key": "key_file"}
ENV = {opt: tuple(dict.fromkeys((f"K8S_AUTH_{opt.upper()}", f"K8S_AUTH_{_CLIENT_NAMES.get(opt, opt).upper()}")))
       for opt in AUTH_OPTIONS if opt != "proxy_headers"}
PROXY_HEADERS_ENV = {key: f"K8S_AUTH_PROXY_HEADERS_{key.upper()}" for key in PROXY_HEADERS_SPEC}


def _env_bool(text: str) -> bool:
    return text.lower() not in ("0", "false", "no")  # kubernetes.core's reading of a boolean variable


def connection_settings(params: dict, environ=None) -> dict:
    """The connection options of a task (module params or action plugin args), each from the task or, when the task
    does not set it, from its K8S_AUTH_* environment variable, as kubernetes.core 6.2.0 resolves them; options
    set nowhere are left out. An empty variable counts as unset. Only for the management cluster: a cluster reached
    through its kubeconfig Secret gets Kube({"kubeconfig": ...}) without the environment."""
    environ = os.environ if environ is None else environ
    out = {}
    for opt, spec in AUTH_ARG_SPEC.items():
        value = params.get(opt)
        if value is None and opt == "proxy_headers":
            value = {key: environ[name] for key, name in PROXY_HEADERS_ENV.items() if environ.get(name)} or None
        elif value is None:
            text = next((environ[name] for name in ENV[opt] if environ.get(name)), None)
            if text is not None:
                value = _env_bool(text) if spec["type"] == "bool" else \
                    [g for g in text.split(",") if g] if spec["type"] == "list" else text
        if value is not None:
            out[opt] = value
    if isinstance(out.get("proxy_headers"), dict):
        out["proxy_headers"] = {k: v for k, v in out["proxy_headers"].items() if v is not None} or None
        if out["proxy_headers"] is None:
            del out["proxy_headers"]
    return out


def complete_without_kubeconfig(settings: dict) -> bool:
    """kubernetes.core's rule: a host with a token, a user and password, or a client certificate and key is a
    whole connection, and no kubeconfig is loaded then."""
    return bool(settings.get("host")) and any(all(settings.get(k) for k in keys) for keys in (
        ("api_key",), ("username", "password"), ("client_cert", "client_key")))


class _Repeated(str):
    """A header name that may occur more than once in one request (Impersonate-Group per group): distinct keys of
    the header dict, as kubernetes.core's unique_string does."""

    _low = None

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other

    def lower(self):
        if self._low is None:
            low = str.lower(self)
            self._low = self if str.__eq__(low, self) else _Repeated(low)
        return self._low


def impersonation_headers(settings: dict) -> dict:
    headers = {}
    if settings.get("impersonate_user"):
        headers["Impersonate-User"] = settings["impersonate_user"]
    for group in settings.get("impersonate_groups") or []:
        headers[_Repeated("Impersonate-Group")] = group
    return headers


RETRY_STATUS = (429, 500, 502, 503, 504)


# The message of a run with no cluster to talk to (kof_info resolves kof_version auto without one).
NO_API = "no Kubernetes API configured"


class KubeError(Exception):
    """A failed API call, with a one-line message naming what failed."""

    def __init__(self, message, status=None, reason=None, body=None):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.body = body or {}


def first_line(err) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else err.__class__.__name__


def _default_kubeconfig(path):
    """The kubeconfig file(s) to read: the given path, else E(KUBECONFIG) as it is now (the kubernetes library
    reads it once, when it is imported), else the library's default (~/.kube/config)."""
    return os.path.expanduser(path) if path else os.environ.get("KUBECONFIG") or None


def _configuration(settings: dict):
    """A kubernetes client Configuration from resolved settings (connection_settings, or a workload cluster's
    {"kubeconfig": mapping}), as kubernetes.core's client.py builds it: the kubeconfig (or in-cluster config, or
    the default kubeconfig) unless the host comes with whole credentials, then every given option on top. Built on
    a Configuration of its own, never the process-wide default (controller-side plugins share one process)."""
    lib = _lib()
    k8s_client, k8s_config = lib["client"], lib["config"]
    conf = k8s_client.Configuration()
    kubeconfig = settings.get("kubeconfig")
    load = dict(context=settings.get("context"), client_configuration=conf,
                persist_config=bool(settings.get("persist_config")))
    try:
        if complete_without_kubeconfig(settings):
            pass
        elif isinstance(kubeconfig, dict):
            k8s_config.load_kube_config_from_dict(kubeconfig, **load)
        elif kubeconfig or settings.get("context"):
            k8s_config.load_kube_config(config_file=_default_kubeconfig(kubeconfig), **load)
        else:
            try:
                k8s_config.load_incluster_config(client_configuration=conf)
            except k8s_config.ConfigException:
                if not os.environ.get("KUBECONFIG") and not os.path.exists(os.path.expanduser("~/.kube/config")):
                    raise KubeError(NO_API + ": set kof_kubeconfig (or K8S_AUTH_KUBECONFIG)")
                k8s_config.load_kube_config(config_file=_default_kubeconfig(None), **load)
    except KubeError:
        raise
    except Exception as err:  # pylint: disable=broad-exception-caught  # invalid kubeconfig, unknown context
        where = "(mapping)" if isinstance(kubeconfig, dict) else kubeconfig or "(default)"
        raise KubeError(f"cannot load the kubeconfig {where}: {first_line(err)}") from None
    overrides = {}
    if settings.get("host"):
        overrides["host"] = settings["host"].rstrip("/")
    if settings.get("api_key"):
        overrides["api_key"] = {"authorization": "Bearer " + settings["api_key"]}
    elif settings.get("username") and settings.get("password"):
        conf.username, conf.password = settings["username"], settings["password"]
        overrides["api_key"] = {"authorization": conf.get_basic_auth_token()}
    for option, attribute in (("ca_cert", "ssl_ca_cert"), ("client_cert", "cert_file"), ("client_key", "key_file"),
                              ("proxy", "proxy"), ("no_proxy", "no_proxy")):
        if settings.get(option):
            overrides[attribute] = settings[option]
    if settings.get("proxy_headers"):
        overrides["proxy_headers"] = lib["urllib3"].util.make_headers(**settings["proxy_headers"])
    if settings.get("validate_certs") is not None:
        overrides["verify_ssl"] = bool(settings["validate_certs"])
    if settings.get("validate_certs") is False:
        # the collection warns once itself (modules, the roles' tls_warning), not on every request
        lib["urllib3"].disable_warnings(lib["urllib3"].exceptions.InsecureRequestWarning)
    for attribute, value in overrides.items():
        setattr(conf, attribute, value)
    hook = conf.refresh_api_key_hook
    if "api_key" in overrides:
        conf.refresh_api_key_hook = None  # the kubeconfig's token provider must not bring its token back
    elif hook is not None and overrides:
        # the kubeconfig loader's token refresh (before every request) sets host, CA and certificates from the
        # kubeconfig again: the task's settings stay on top
        def refresh(configuration):
            hook(configuration)
            for attr, val in overrides.items():
                setattr(configuration, attr, val)
        conf.refresh_api_key_hook = refresh
    return conf


class Kube:
    """The REST client of one cluster. `settings`: connection_settings(task args) for the management cluster, or
    {"kubeconfig": mapping, ...} for a cluster reached through its kubeconfig Secret."""

    def __init__(self, settings: dict, *, retries: int = 6, backoff: float = 0.5, max_backoff: float = 8.0,
                 pool_size: int = 32, timeout: float = 60):
        conf = _configuration(settings)
        conf.connection_pool_maxsize = pool_size
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.requests = 0
        self._lock = threading.Lock()
        self.headers = impersonation_headers(settings)
        self.host = conf.host
        self.verify = conf.verify_ssl  # in effect (the kubeconfig's insecure-skip-tls-verify included)
        self.validate_certs = settings.get("validate_certs")  # as given (task or K8S_AUTH_VERIFY_SSL), else None
        self.api = _lib()["client"].ApiClient(conf)

    def close(self):
        try:
            self.api.close()
        except Exception:  # pragma: no cover  pylint: disable=broad-exception-caught
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
                    header_params=dict(self.headers, Accept="application/json", **{"Content-Type": content_type}),
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

    def list_all(self, path, query=None, *, label_selector=None, page=500) -> tuple[list, str]:
        """Every item of a collection, `page` at a time: (items, the list's resourceVersion)."""
        items, token, rv = [], None, ""
        while True:
            q = dict(query or {}, limit=str(page))
            if token:
                q["continue"] = token
            if label_selector:
                q["labelSelector"] = label_selector
            data = self.list(path, q) or {}
            items += data.get("items") or []
            rv = (data.get("metadata") or {}).get("resourceVersion", rv)
            token = (data.get("metadata") or {}).get("continue")
            if not token:
                return items, rv

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
