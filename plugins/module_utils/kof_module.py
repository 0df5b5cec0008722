# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# Apache License 2.0 (see LICENSE)
"""What the k0rdent.kof resource modules share, in one place: kubernetes.core's auth options (same names,
K8S_AUTH_* environment, module_defaults), the API client (known REST paths, so no discovery request), compare /
server-side apply / diff, absent, wait, the referenced-Secret check, and the translation of every API error
into a one-line failure."""
from __future__ import annotations

import copy
import os
import time
import traceback

from ansible_collections.k0rdent.kof.plugins.module_utils.compare import FIELD_MANAGER, needs_apply, view
from ansible_collections.k0rdent.kof.plugins.module_utils.kof_resources import (
    PLURALS, ValidationError, cluster_of, redact, referenced_secret)
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import Kube, KubeError, object_path

try:
    from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
    HAS_K8S_CORE = True
except ImportError:  # pragma: no cover - reported by make_client
    AUTH_ARG_SPEC = {}
    HAS_K8S_CORE = False


# A module is one short-lived process per task: a few quick retries of 429/5xx/dropped connections, not the
# long back-off the controller-side batch plugins use.
MODULE_RETRIES = 3
MODULE_MAX_BACKOFF = 2.0


def auth_argument_spec() -> dict:
    """kubernetes.core's connection options (kubeconfig, context, host, api_key, validate_certs, ca_cert...)."""
    return copy.deepcopy(AUTH_ARG_SPEC)


def wait_argument_spec() -> dict:
    return dict(wait=dict(type="bool", default=False), wait_timeout=dict(type="int", default=120),
                wait_sleep=dict(type="int", default=2))


def metadata_argument_spec() -> dict:
    return dict(labels=dict(type="dict", default={}), annotations=dict(type="dict", default={}),
                state=dict(type="str", choices=["present", "absent"], default="present"),
                missing_secret=dict(type="str", choices=["fail", "warn", "ignore"], default="warn"))


def first_line(err) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else err.__class__.__name__


def make_client(module) -> Kube:
    """The API client: kubernetes.core builds the configuration (every auth option and K8S_AUTH_* variable it
    supports), the collection's REST client addresses the known paths directly, so no discovery is sent."""
    if not HAS_K8S_CORE:
        module.fail_json(msg="the kubernetes.core collection is required on the controller "
                             "(ansible-galaxy collection install kubernetes.core)")
    try:
        # imported here, not at the top: about a second that a run failing validation does not pay
        import kubernetes  # pylint: disable=import-outside-toplevel
        from ansible_collections.kubernetes.core.plugins.module_utils.k8s import (  # pylint: disable=import-outside-toplevel
            client as core_client)
    except ImportError as err:
        module.fail_json(msg=f"the kubernetes Python library is required on the controller: {err}")
    auth = core_client._create_auth_spec(module)  # pylint: disable=protected-access
    kubeconfig = auth.get("kubeconfig")
    uses_kubeconfig = not any(all(auth.get(k) for k in keys) for keys in (
        ("host", "api_key"), ("host", "username", "password"), ("host", "cert_file", "key_file")))
    if uses_kubeconfig and isinstance(kubeconfig, str) and os.pathsep not in kubeconfig and \
            not os.path.exists(os.path.expanduser(kubeconfig)):
        # the path itself is no_log (kubernetes.core's spec), so the message cannot show it
        module.fail_json(msg="cannot configure the Kubernetes API client: the kubeconfig file does not exist "
                             "(kubeconfig / K8S_AUTH_KUBECONFIG)")
    try:
        configuration = core_client._create_configuration(auth)  # pylint: disable=protected-access
        headers = core_client._create_headers(module)  # pylint: disable=protected-access
        api = kubernetes.client.ApiClient(configuration)
        for header, value in headers.items():
            core_client._set_header(api, header, value)  # pylint: disable=protected-access
    except Exception as err:  # pylint: disable=broad-exception-caught  # a missing/invalid kubeconfig or context
        module.fail_json(msg=f"cannot configure the Kubernetes API client: {first_line(err)} "
                             "(set kubeconfig / context or the K8S_AUTH_* variables)")
    if auth.get("verify_ssl") is False:
        module.warn("validate_certs is false: the Kubernetes API server's certificate is not verified")
    return Kube.from_api_client(api, retries=MODULE_RETRIES, max_backoff=MODULE_MAX_BACKOFF)


def not_served(err: KubeError) -> bool:
    """A 404 for the resource type itself (the CRD is not installed, or not in this version), as opposed to a
    404 for one object, which names the object in details."""
    return err.status == 404 and not (err.body.get("details") or {}).get("name")


def not_served_msg(kube, kind, api_version) -> str:
    return (f"{kind} ({api_version}) is not served by the Kubernetes API at {kube.host}: install kof-mothership "
            f"first (it brings the CRD), or set kof_version / api_version to the KOF version that is installed")


def shown(obj):
    """An object as the modules return it: literal secrets masked, managedFields (noise) left out."""
    out = redact(obj)
    if isinstance(out, dict):
        (out.get("metadata") or {}).pop("managedFields", None)
    return out


def ref(obj) -> str:
    return f"{obj['kind']} {obj['metadata']['namespace']}/{obj['metadata']['name']}"


class ResourceRunner:
    """create / no-op / update (server-side apply) / delete / wait for one namespaced custom resource."""

    def __init__(self, module, kube: Kube):
        self.module = module
        self.kube = kube
        self.before = None  # the live object before present() wrote (for waits that compare with it)

    def path(self, obj, named=True):
        meta = obj["metadata"]
        return object_path(obj["apiVersion"], PLURALS[obj["kind"]], meta["namespace"],
                           meta["name"] if named else None)

    def live(self, obj):
        """(served, live object or None)."""
        try:
            return True, self.kube.get(self.path(obj))
        except KubeError as err:
            if not_served(err):
                return False, None
            raise

    def check_secret(self, obj):
        """Policy for a missing credentials Secret: fail (before any write), warn, or ignore. Only existence
        is looked at; the Secret's data is dropped here and never returned."""
        policy = self.module.params.get("missing_secret") or "warn"
        secret = referenced_secret(obj)
        if not secret or policy == "ignore":
            return
        ns = obj["metadata"]["namespace"]
        if self.kube.get(object_path("v1", "secrets", ns, secret)) is not None:
            return
        msg = (f"missing_secret: the credentials Secret {ns}/{secret} that {ref(obj)} references does not exist "
               "(kof-mothership creates storage-vmuser-credentials)")
        if obj["kind"] == "PromxyServerGroup":
            msg += "; the promxy-operator cannot render any server group until it exists"
        if policy == "fail":
            raise KubeError(msg)
        self.module.warn(msg)

    def present(self, obj, result):
        served, live = self.live(obj)
        if not served:
            if not self.module.check_mode:
                raise KubeError(not_served_msg(self.kube, obj["kind"], obj["apiVersion"]))
            # a check run before kof-mothership (which brings the CRD) is installed: predict the create
            self.module.warn(not_served_msg(self.kube, obj["kind"], obj["apiVersion"]) +
                             " - check mode: reporting that it would be created")
            result.update(changed=True, method="create", result=shown(obj))
            if self.module._diff:  # pylint: disable=protected-access
                result["diff"] = {"before": {}, "after": redact(view(obj))}
            return None
        self.before = live
        if not needs_apply(obj, live, FIELD_MANAGER):
            result.update(changed=False, method="none", result=shown(live))
            return live
        self.check_secret(obj)
        new = self.kube.apply(self.path(obj), obj, dry_run=self.module.check_mode, field_manager=FIELD_MANAGER)
        result.update(changed=True, method="create" if live is None else "update", result=shown(new))
        if self.module._diff:  # pylint: disable=protected-access
            result["diff"] = {"before": redact(view(live)), "after": redact(view(new))}
        return new

    def absent(self, obj, result):
        served, live = self.live(obj)
        if not served or live is None:
            result.update(changed=False, method="none", result={})
            return
        self.kube.delete(self.path(obj), propagation="Foreground", dry_run=self.module.check_mode)
        result.update(changed=True, method="delete", result={})
        if self.module._diff:  # pylint: disable=protected-access
            result["diff"] = {"before": redact(view(live)), "after": {}}
        if self.module.params.get("wait") and not self.module.check_mode:
            self.wait_until(lambda: (self.kube.get(self.path(obj)) is None, ""), f"{ref(obj)} is deleted")

    def wait_until(self, probe, what):
        """Poll probe() -> (done, why) every wait_sleep seconds until done or wait_timeout; the timeout message
        says what was awaited and the last reason it was not done."""
        params = self.module.params
        deadline = time.monotonic() + params["wait_timeout"]
        while True:
            done, why = probe()
            if done:
                return done
            if time.monotonic() >= deadline:
                raise KubeError(f"timed out after {params['wait_timeout']}s waiting until {what}"
                                + (f": {why}" if why else ""))
            time.sleep(max(0.2, params["wait_sleep"]))


def run(module, build, identify, observe=None, awaited=None):
    """Module main: build and validate the object (before any request; for state=absent only its identity), then
    present / absent, the optional wait, and single-line errors. observe(kube, obj, before) -> (done, why, value)
    is the module's wait probe (before: the live object before the write, None when it was created) and
    awaited(obj) says in words what it waits for."""
    params = module.params
    try:
        obj = identify(params) if params["state"] == "absent" else build(params)
    except ValidationError as err:
        module.fail_json(msg=str(err))
    result = dict(changed=False, api_version=obj["apiVersion"])
    kube = make_client(module)
    runner = ResourceRunner(module, kube)
    started = time.monotonic()
    try:
        if params["state"] == "absent":
            runner.absent(obj, result)
        else:
            runner.present(obj, result)
            if params.get("wait") and not module.check_mode and observe is not None:
                seen = {}

                def probe():
                    done, why, value = observe(kube, obj, runner.before)
                    seen["value"] = value
                    return done, why
                runner.wait_until(probe, awaited(obj) if awaited else f"{ref(obj)} is observed")
                result["observed"] = seen.get("value", True)
        if params.get("wait") and not module.check_mode:
            result["duration"] = round(time.monotonic() - started, 2)
    except KubeError as err:
        result["api_requests"] = kube.requests
        # what was done before the failure stays in the result (a write followed by a wait timeout is changed)
        module.fail_json(msg=first_line(err), **result)
    except Exception as err:  # pylint: disable=broad-exception-caught  # a bug: keep the traceback
        module.fail_json(msg=f"unexpected error: {first_line(err)}", exception=traceback.format_exc(),
                         api_requests=kube.requests)
    result["api_requests"] = kube.requests
    module.exit_json(**result)


def list_resources(module, api_version, kind):
    """The _info modules: one GET (the object by name) or one LIST (namespace or all namespaces, label
    selectors), filtered by cluster; one-line failures as the resource modules."""
    params = module.params
    kube = make_client(module)
    namespace = None if params.get("all_namespaces") else params["namespace"]
    try:
        if params.get("name"):
            if namespace is None:
                module.fail_json(msg="name needs a namespace: all_namespaces and name cannot be combined")
            item = kube.get(object_path(api_version, PLURALS[kind], namespace, params["name"]))
            items = [item] if item else []
        else:
            query = {"labelSelector": ",".join(params["label_selectors"])} if params.get("label_selectors") else None
            items = (kube.list(object_path(api_version, PLURALS[kind], namespace), query) or {}).get("items") or []
    except KubeError as err:
        if not_served(err):
            module.fail_json(msg=not_served_msg(kube, kind, api_version), api_requests=kube.requests)
        module.fail_json(msg=first_line(err), api_requests=kube.requests)
    if params.get("cluster_name"):
        items = [i for i in items if cluster_of(dict(i, kind=kind)) == params["cluster_name"]]
    out = []
    for item in items:
        item.setdefault("apiVersion", api_version)
        item.setdefault("kind", kind)
        out.append(shown(item))
    out.sort(key=lambda i: (i["metadata"].get("namespace", ""), i["metadata"]["name"]))
    return out, kube.requests
