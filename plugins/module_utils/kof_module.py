# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# Apache License 2.0 (see LICENSE)
"""What the k0rdent.kof resource modules share: kubernetes.core's auth options (same names, K8S_AUTH_*
environment, module_defaults), a client without discovery requests, apply/compare/diff, absent, wait, and one
place that turns API errors into one-line failures."""
from __future__ import annotations

import copy
import time
import traceback

from ansible_collections.k0rdent.kof.plugins.module_utils.compare import FIELD_MANAGER, needs_apply, view
from ansible_collections.k0rdent.kof.plugins.module_utils.kof_resources import ValidationError
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import Kube, KubeError, object_path

try:
    from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
    HAS_K8S_CORE = True
except ImportError:  # pragma: no cover
    AUTH_ARG_SPEC = {}
    HAS_K8S_CORE = False

PLURALS = {"PromxyServerGroup": "promxyservergroups", "GrafanaDatasource": "grafanadatasources"}


def auth_argument_spec() -> dict:
    return copy.deepcopy(AUTH_ARG_SPEC)


def wait_argument_spec() -> dict:
    return dict(wait=dict(type="bool", default=False), wait_timeout=dict(type="int", default=120),
                wait_sleep=dict(type="int", default=2))


def make_client(module) -> Kube:
    """kubernetes.core's configuration (every auth option it supports), wrapped in the collection's REST client:
    known REST paths are addressed directly, so no discovery request is sent."""
    if not HAS_K8S_CORE:
        module.fail_json(msg="the kubernetes.core collection is required (ansible-galaxy collection install kubernetes.core)")
    try:
        import kubernetes
        from ansible_collections.kubernetes.core.plugins.module_utils.k8s import client as core_client
        auth = core_client._create_auth_spec(module)
        core_client._load_config(auth)
        configuration = core_client._create_configuration(auth)
        headers = core_client._create_headers(module)
        api = kubernetes.client.ApiClient(configuration)
        for header, value in headers.items():
            core_client._set_header(api, header, value)
    except ImportError as err:
        module.fail_json(msg=f"the kubernetes Python library is required: {err}")
    except Exception as err:  # kubeconfig missing/invalid, unknown context
        module.fail_json(msg=f"cannot configure the Kubernetes API client: {str(err).splitlines()[0]}")
    return Kube.from_api_client(api)


def crd_missing(err: KubeError, obj: dict) -> bool:
    return err.status == 404 and not (err.body.get("details") or {}).get("name")


def not_served_msg(obj):
    return (f"{obj['kind']} ({obj['apiVersion']}) is not served by the cluster - is kof-mothership installed "
            f"(it brings the CRD), and kof_version right?")


class ResourceRunner:
    """create / no-op / update (server-side apply) / delete one namespaced custom resource."""

    def __init__(self, module, kube: Kube):
        self.module = module
        self.kube = kube

    def path(self, obj, name=True):
        return object_path(obj["apiVersion"], PLURALS[obj["kind"]], obj["metadata"]["namespace"],
                           obj["metadata"]["name"] if name else None)

    def get(self, obj):
        try:
            return self.kube.get(self.path(obj))
        except KubeError as err:
            if crd_missing(err, obj):
                if self.module.check_mode:
                    # the CRD arrives with kof-mothership, which a check run has not installed: predict a create
                    self.module.warn(not_served_msg(obj) + " (check mode: reporting it would be created)")
                    return "CRD_MISSING"
                raise KubeError(not_served_msg(obj), err.status, err.reason, err.body)
            raise

    def check_secret(self, obj, secret, policy):
        if not secret or policy == "ignore":
            return
        sec = self.kube.get(object_path("v1", "secrets", obj["metadata"]["namespace"], secret))
        if sec is None:  # only existence is looked at; the Secret's data never leaves this function
            msg = (f"the referenced Secret {obj['metadata']['namespace']}/{secret} does not exist (kof-mothership "
                   f"creates storage-vmuser-credentials)")
            if policy == "fail":
                raise KubeError(msg)
            self.module.warn(msg)

    def present(self, obj, result):
        live = self.get(obj)
        if live == "CRD_MISSING":
            result.update(changed=True, result=obj, method="create")
            if self.module._diff:
                result["diff"] = {"before": {}, "after": view(obj)}
            return None
        if not needs_apply(obj, live, FIELD_MANAGER):
            result.update(changed=False, result=live, method="none")
            return live
        new = self.kube.apply(self.path(obj), obj, dry_run=self.module.check_mode, field_manager=FIELD_MANAGER)
        result.update(changed=True, result=new, method="create" if live is None else "update")
        if self.module._diff:
            result["diff"] = {"before": view(live), "after": view(new)}
        return new

    def absent(self, obj, result):
        live = self.get(obj)
        if live in (None, "CRD_MISSING"):
            result.update(changed=False, result={}, method="none")
            return
        self.kube.delete(self.path(obj), propagation="Foreground", dry_run=self.module.check_mode)
        result.update(changed=True, result={}, method="delete")
        if self.module._diff:
            result["diff"] = {"before": view(live), "after": {}}
        if self.module.params.get("wait") and not self.module.check_mode:
            self.wait_until(lambda: self.kube.get(self.path(obj)) is None, "deleted")

    def wait_until(self, predicate, what):
        p = self.module.params
        deadline = time.monotonic() + p["wait_timeout"]
        while True:
            outcome = predicate()
            if outcome:
                return outcome
            if time.monotonic() >= deadline:
                raise KubeError(f"timed out after {p['wait_timeout']}s waiting until {what}")
            time.sleep(p["wait_sleep"])


def run(module, build, observe=None):
    """Module main: validate (before any request), then present/absent, optional wait, single-line errors."""
    p = module.params
    try:
        obj = build(p)
    except ValidationError as err:
        module.fail_json(msg=str(err))
    result = dict(changed=False, api_version=obj["apiVersion"])
    kube = make_client(module)
    runner = ResourceRunner(module, kube)
    try:
        if p["state"] == "absent":
            runner.absent(obj, result)
        else:
            from ansible_collections.k0rdent.kof.plugins.module_utils.kof_resources import referenced_secret
            runner.check_secret(obj, referenced_secret(obj), p.get("missing_secret", "warn"))
            live = runner.present(obj, result)
            if p.get("wait") and not module.check_mode and live is not None and observe is not None:
                result["observed"] = runner.wait_until(lambda: observe(kube, obj), "the operator observed it")
    except KubeError as err:
        module.fail_json(msg=str(err), **{k: v for k, v in result.items() if k != "changed"})
    except Exception as err:  # pragma: no cover - a bug
        module.fail_json(msg=f"unexpected error: {err}", exception=traceback.format_exc())
    result["api_requests"] = kube.requests
    module.exit_json(**result)


def list_resources(module, api_version, kind, namespace, label_selector=None):
    kube = make_client(module)
    query = {"labelSelector": label_selector} if label_selector else None
    try:
        data = kube.list(object_path(api_version, PLURALS[kind], namespace), query)
    except KubeError as err:
        if crd_missing(err, {}):
            module.fail_json(msg=f"{kind} ({api_version}) is not served by the cluster - is kof-mothership installed?")
        module.fail_json(msg=str(err))
    items = data.get("items") or []
    for item in items:
        item.setdefault("apiVersion", api_version)
        item.setdefault("kind", kind)
    return items


def cluster_of(obj: dict) -> str | None:
    """The regional cluster a PromxyServerGroup or GrafanaDatasource belongs to."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "PromxyServerGroup":
        return spec.get("cluster_name")
    return (spec.get("datasource") or {}).get("name")
