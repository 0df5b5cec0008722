# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# Apache License 2.0 (see LICENSE)
"""What the day-2 action plugins share (access, backup, restore, prune, uninstall clean-up): the API connection
options, reaching a regional or child cluster through its `<name>-kubeconfig` Secret, resource discovery for
arbitrary kinds, idempotent present/absent of whole objects (no write when nothing differs), objects stripped of
server fields, Secret values masked for diffs, and private (0600) files written atomically.
"""
from __future__ import annotations

import base64
import copy
import os
import tempfile

import yaml

from ansible_collections.k0rdent.kof.plugins.module_utils.compare import needs_apply, view
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import AUTH_OPTIONS, Kube, KubeError, auth_from, object_path

# Server-owned or instance-specific metadata: meaningless (or harmful) when an object is re-created elsewhere.
SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp",
                   "deletionGracePeriodSeconds", "managedFields", "selfLink", "ownerReferences", "finalizers")
DROP_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)
HELM_RELEASE_ANNOTATION = "meta.helm.sh/release-name"
MASK = "<hidden>"


def management_kube(args: dict, **kw) -> Kube:
    """The management cluster API from the task's auth options (or K8S_AUTH_* environment)."""
    return Kube(auth_from({k: args.get(k) for k in AUTH_OPTIONS}), **kw)


def workload_kube(mgmt: Kube, name: str, namespace: str, validate_certs=None) -> Kube:
    """A regional/child cluster through the kubeconfig Secret k0rdent writes for it (key `value`). The
    kubeconfig stays in this process: it is never returned, logged or written."""
    sec = mgmt.get(object_path("v1", "secrets", namespace, f"{name}-kubeconfig"))
    if sec is None:
        raise KubeError(f"Secret {namespace}/{name}-kubeconfig not found: the cluster {name} is not provisioned "
                        "(or k0rdent has not written its kubeconfig yet)")
    return kube_from_secret(mgmt, sec, name, namespace, validate_certs)


def kube_from_secret(mgmt: Kube, sec: dict, name: str, namespace: str, validate_certs=None) -> Kube:
    """The client of a cluster from its kubeconfig Secret, already read (see workload_kube)."""
    try:
        kubeconfig = yaml.safe_load(base64.b64decode((sec.get("data") or {}).get("value", "")))
    except (ValueError, yaml.YAMLError) as err:
        raise KubeError(f"Secret {namespace}/{name}-kubeconfig holds no readable kubeconfig: {type(err).__name__}")
    if not isinstance(kubeconfig, dict):
        raise KubeError(f"Secret {namespace}/{name}-kubeconfig holds no kubeconfig (key value)")
    auth = {"kubeconfig": kubeconfig}
    if validate_certs is False or mgmt.verify is False:
        auth["validate_certs"] = False
    return Kube(auth, retries=2, timeout=30)


class Resources:
    """Kind -> (plural, namespaced) from API discovery, one request per group-version, cached."""

    def __init__(self, kube: Kube):
        self.kube = kube
        self._gv: dict[str, dict | None] = {}

    def group_version(self, api_version: str) -> dict | None:
        if api_version not in self._gv:
            path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
            try:
                data = self.kube.list(path)
            except KubeError as err:
                if err.status != 404:
                    raise
                data = None
            self._gv[api_version] = {r["kind"]: r for r in (data or {}).get("resources") or []
                                     if "/" not in r.get("name", "")} if data else None
        return self._gv[api_version]

    def lookup(self, api_version: str, kind: str) -> tuple[str, bool] | None:
        res = (self.group_version(api_version) or {}).get(kind)
        return (res["name"], bool(res.get("namespaced"))) if res else None

    def path(self, obj: dict, with_name: bool = True) -> str:
        found = self.lookup(obj["apiVersion"], obj["kind"])
        if found is None:
            raise KubeError(f"{obj['kind']} ({obj['apiVersion']}) is not served by the cluster at {self.kube.host}: "
                            "its CRD is not installed")
        plural, namespaced = found
        meta = obj.get("metadata") or {}
        return object_path(obj["apiVersion"], plural, meta.get("namespace") if namespaced else None,
                           meta.get("name") if with_name else None)


def ref(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')} {meta['namespace'] + '/' if meta.get('namespace') else ''}{meta.get('name')}"


def clean(obj: dict) -> dict:
    """A live object as it can be re-created: no status, no server-owned metadata."""
    out = copy.deepcopy(obj)
    out.pop("status", None)
    meta = out.get("metadata") or {}
    for key in SERVER_METADATA:
        meta.pop(key, None)
    ann = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in DROP_ANNOTATIONS}
    if ann:
        meta["annotations"] = ann
    else:
        meta.pop("annotations", None)
    if not meta.get("labels"):
        meta.pop("labels", None)
    return out


def helm_owned(obj: dict) -> bool:
    """Objects a helm release renders (helm annotates them) come back with the release, not from a backup."""
    return HELM_RELEASE_ANNOTATION in ((obj.get("metadata") or {}).get("annotations") or {})


def masked(obj: dict | None, other: dict | None = None) -> dict:
    """What a diff may show: server noise removed and, for a Secret, the key names without their values (a key
    whose value differs from `other`'s is marked, so the diff still shows what changes)."""
    out = view(obj)
    if out.get("kind") == "Secret":
        theirs = (other or {}).get("data") or {}
        for field in ("data", "stringData"):
            if isinstance(out.get(field), dict):
                out[field] = {k: MASK if other is None or theirs.get(k) == v else MASK + " (changed)"
                              for k, v in out[field].items()}
    return out


def ensure_present(kube: Kube, resources: Resources, obj: dict, *, check: bool, manager: str,
                   only_missing: bool = False) -> dict:
    """Create or server-side apply `obj` when the live object differs; no request beyond the GET otherwise."""
    path = resources.path(obj)
    live = kube.get(path)
    if live is not None and (only_missing or not needs_apply(obj, live, manager)):
        return {"action": "unchanged", "changed": False}
    new = kube.apply(path, obj, dry_run=check, field_manager=manager)
    return {"action": "created" if live is None else "updated", "changed": True,
            "before": masked(live), "after": masked(new, live)}


def ensure_absent(kube: Kube, resources: Resources, obj: dict, *, check: bool,
                  propagation: str = "Foreground") -> dict:
    if resources.lookup(obj["apiVersion"], obj["kind"]) is None:
        return {"action": "absent", "changed": False}  # the kind is gone with its CRD, so is the object
    path = resources.path(obj)
    live = kube.get(path)
    if live is None:
        return {"action": "absent", "changed": False}
    kube.delete(path, propagation=propagation, dry_run=check)
    return {"action": "deleted", "changed": True, "before": masked(live), "after": {}}


def yaml_text(obj) -> str:
    return yaml.safe_dump(obj, sort_keys=True, default_flow_style=False) if obj else ""


def write_private(path: str, data: bytes, mode: int = 0o600) -> None:
    """Write a file readable by its owner only, atomically (a reader never sees a partial file)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".kof-")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def private_file_current(path: str, data: bytes, mode: int = 0o600) -> bool:
    """True when `path` holds exactly `data` with exactly `mode`."""
    try:
        st = os.stat(path)
        with open(path, "rb") as fh:
            return (st.st_mode & 0o777) == mode and fh.read() == data
    except FileNotFoundError:
        return False
