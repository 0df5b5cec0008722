# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""What the k0rdent.kof resource modules share, in one place: the connection options (module_utils/kube.py, the
same as kubernetes.core's, K8S_AUTH_* environment, module_defaults), the API client (known REST paths, so no
discovery request), present / absent / wait through the converge engine (module_utils/converge.py), the
referenced-Secret check, and the translation of every API error into a one-line failure."""
from __future__ import annotations

import copy
import os
import time
import traceback

from ansible_collections.k0rdent.kof.plugins.module_utils import converge
from ansible_collections.k0rdent.kof.plugins.module_utils.converge import ref
from ansible_collections.k0rdent.kof.plugins.module_utils.compare import view
from ansible_collections.k0rdent.kof.plugins.module_utils.core_internals import diff_mode
from ansible_collections.k0rdent.kof.plugins.module_utils.kof_resources import (
    PLURALS, STORAGE_SECRET, ValidationError, cluster_of, redact, referenced_secret)
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import (
    AUTH_ARG_SPEC, Kube, KubeError, complete_without_kubeconfig, connection_settings, first_line, object_path)

# A module is one short-lived process per task: a few quick retries of 429/5xx/dropped connections, not the
# long back-off the controller-side batch plugins use.
MODULE_RETRIES = 3
MODULE_MAX_BACKOFF = 2.0


def auth_argument_spec() -> dict:
    """The connection options (kubeconfig, context, host, api_key, validate_certs, ca_cert, impersonate_user...)."""
    return copy.deepcopy(AUTH_ARG_SPEC)


def wait_argument_spec() -> dict:
    return dict(wait=dict(type="bool", default=False), wait_timeout=dict(type="int", default=120),
                wait_sleep=dict(type="int", default=2))


def metadata_argument_spec() -> dict:
    return dict(labels=dict(type="dict", default={}), annotations=dict(type="dict", default={}),
                state=dict(type="str", choices=["present", "absent"], default="present"),
                missing_secret=dict(type="str", choices=["fail", "warn", "ignore"], default="warn"))


def make_client(module) -> Kube:
    """The API client from the module's connection options (module_utils/kube.py); a missing or invalid kubeconfig
    fails the module with one line."""
    settings = connection_settings(module.params)
    kubeconfig = settings.get("kubeconfig")
    if not complete_without_kubeconfig(settings) and isinstance(kubeconfig, str) and os.pathsep not in kubeconfig \
            and not os.path.exists(os.path.expanduser(kubeconfig)):
        # the path itself is no_log (kubernetes.core's spec), so the message cannot show it
        module.fail_json(msg="cannot configure the Kubernetes API client: the kubeconfig file does not exist "
                             "(kubeconfig / K8S_AUTH_KUBECONFIG)")
    try:
        kube = Kube(settings, retries=MODULE_RETRIES, max_backoff=MODULE_MAX_BACKOFF)
    except KubeError as err:  # the kubernetes library missing, a missing/invalid kubeconfig or context
        module.fail_json(msg=f"cannot configure the Kubernetes API client: {first_line(err)} "
                             "(set kubeconfig / context or the K8S_AUTH_* variables)")
    if kube.verify is False:
        module.warn("validate_certs is false: the Kubernetes API server's certificate is not verified")
    return kube


def not_served(err: KubeError) -> bool:
    """A 404 for the resource type itself (the CRD is not installed, or not in this version), as opposed to a
    404 for one object, which names the object in details."""
    return err.status == 404 and not (err.body.get("details") or {}).get("name")


def not_served_msg(kind, api_version, where, setting="kof_version") -> str:
    return (f"{kind} ({api_version}) is not served by {where}: install kof-mothership first (it brings the CRD), "
            f"or set {setting} to the KOF version that is installed")


def shown(obj, other=None):  # pylint: disable=unused-argument
    """An object as the modules return it: literal secrets masked, managedFields (noise) left out."""
    out = redact(obj)
    if isinstance(out, dict):
        (out.get("metadata") or {}).pop("managedFields", None)
    return out


def diff_view(obj, other=None):  # pylint: disable=unused-argument
    """An object as the modules' diff shows it: no server-managed fields, literal secrets masked."""
    return redact(view(obj))


class SecretCheck:
    """The missing_secret policy for the credentials Secret an object references: fail (before any write), warn,
    or ignore; each Secret is read once. Only existence is looked at: the Secret's data is dropped here and never
    returned. Shared by the modules and regional_registrations (one check per Secret for a whole batch)."""

    def __init__(self, kube, policy: str, warn):
        self.kube = kube
        self.policy = policy or "warn"
        self.warn = warn
        self.seen = {}

    def problem(self, obj) -> str | None:
        secret = referenced_secret(obj)
        if not secret or self.policy == "ignore":
            return None
        ns = obj["metadata"]["namespace"]
        if (ns, secret) not in self.seen:
            self.seen[(ns, secret)] = self.kube.get(object_path("v1", "secrets", ns, secret)) is not None
        if self.seen[(ns, secret)]:
            return None
        msg = (f"missing_secret: the credentials Secret {ns}/{secret} that {ref(obj)} references does not exist "
               f"(kof-mothership creates {STORAGE_SECRET})")
        if obj["kind"] == "PromxyServerGroup":
            msg += "; the promxy-operator cannot render any server group until it exists"
        return msg

    def prepare(self, obj, live=None):  # pylint: disable=unused-argument
        """The converge engine's hook before a write: raises KubeError (policy fail) or warns."""
        msg = self.problem(obj)
        if msg and self.policy == "fail":
            raise KubeError(msg)
        if msg:
            self.warn(msg)


class ResourceRunner:
    """One namespaced custom resource of a module: present / absent / wait through the converge engine."""

    def __init__(self, module, kube: Kube):
        self.module = module
        self.kube = kube
        self.before = None  # the live object before present() wrote (for waits that compare with it)
        self.engine = converge.Converger(kube, check=module.check_mode, show=diff_view)

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

    def _report(self, result, outcome, shown_obj):
        result.update(changed=outcome["changed"], method=converge.METHODS[outcome["action"]], result=shown_obj)
        if outcome["changed"] and diff_mode(self.module):
            result["diff"] = {"before": outcome["before"], "after": outcome["after"]}

    def present(self, obj, result):
        served, live = self.live(obj)
        if not served:
            msg = not_served_msg(obj["kind"], obj["apiVersion"], f"the Kubernetes API at {self.kube.host}",
                                 "kof_version / api_version")
            if not self.module.check_mode:
                raise KubeError(msg)
            # a check run before kof-mothership (which brings the CRD) is installed: predict the create
            self.module.warn(msg + " - check mode: reporting that it would be created")
            self._report(result, {"changed": True, "action": "created", "before": {}, "after": diff_view(obj)},
                         shown(obj))
            return None
        self.before = live
        check = SecretCheck(self.kube, self.module.params.get("missing_secret"), self.module.warn)
        outcome = self.engine.present(self.path(obj), obj, live, prepare=check.prepare)
        self._report(result, outcome, shown(outcome["object"]))
        return outcome["object"]

    def absent(self, obj, result):
        served, live = self.live(obj)
        outcome = self.engine.absent(self.path(obj), live if served else None)
        self._report(result, outcome, {})
        if outcome["changed"] and self.module.params.get("wait") and not self.module.check_mode:
            self.wait_until(lambda: (self.kube.get(self.path(obj)) is None, ""), f"{ref(obj)} is deleted")

    def wait_until(self, probe, what):
        """Poll probe() -> (done, why) every wait_sleep seconds until done or wait_timeout; the timeout message
        says what was awaited and the last reason it was not done."""
        params = self.module.params
        done, why = converge.wait_until(probe, params["wait_timeout"], params["wait_sleep"])
        if not done:
            raise KubeError(f"timed out after {params['wait_timeout']}s waiting until {what}"
                            + (f": {why}" if why else ""))
        return done


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
            module.fail_json(msg=not_served_msg(kind, api_version, f"the Kubernetes API at {kube.host}",
                                                "kof_version / api_version"), api_requests=kube.requests)
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
