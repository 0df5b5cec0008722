# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""What the day-2 action plugins share (access, backup, restore, prune, uninstall clean-up) beyond the converge
engine (module_utils/converge.py): reaching a regional or child cluster through its `<name>-kubeconfig` Secret,
resource discovery for arbitrary kinds, objects stripped of server fields, Secret values masked for diffs, and
private (0600) files written atomically.
"""
from __future__ import annotations

import base64
import contextlib
import copy
import json
import os
import tempfile

import yaml

from ansible_collections.k0rdent.kof.plugins.module_utils.compare import view
from ansible_collections.k0rdent.kof.plugins.module_utils.converge import (  # pylint: disable=unused-import
    Converger, ref, wait_for)  # ref: day2.ref for the day-2 plugins
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import Kube, KubeError, object_path

# Server-owned or instance-specific metadata: meaningless (or harmful) when an object is re-created elsewhere.
SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp",
                   "deletionGracePeriodSeconds", "managedFields", "selfLink", "ownerReferences", "finalizers")
DROP_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)
HELM_RELEASE_ANNOTATION = "meta.helm.sh/release-name"
MASK = "<hidden>"


def cluster_namespace(name: str, namespaces: dict, kcm_namespace: str) -> str:
    """The namespace of a cluster's ClusterDeployment and kubeconfig Secret: its entry in `namespaces` (the
    modules' option of that name: the clusters outside kcm_namespace, doc fragment cluster_namespaces), else
    kcm_namespace."""
    return namespaces.get(name) or kcm_namespace


def workload_kube(mgmt: Kube, name: str, namespace: str, validate_certs=None, *, missing_ok: bool = False):
    """A regional/child cluster through the kubeconfig Secret k0rdent writes for it (key `value`). The
    kubeconfig stays in this process: it is never returned, logged or written. TLS verification is off only when
    it is off for the management cluster (or validate_certs is false). missing_ok: None when the Secret does not
    exist (yet), instead of KubeError."""
    sec = mgmt.get(object_path("v1", "secrets", namespace, f"{name}-kubeconfig"))
    if sec is None:
        if missing_ok:
            return None
        raise KubeError(f"Secret {namespace}/{name}-kubeconfig not found: the cluster {name} is not provisioned "
                        "(or k0rdent has not written its kubeconfig yet)")
    return kube_from_secret(sec, name, namespace, verify=not (validate_certs is False or mgmt.verify is False))


@contextlib.contextmanager
def workload(mgmt: Kube, name: str, namespace: str, *, missing_ok: bool = False):
    """workload_kube for a `with` block: the client is closed when it ends."""
    kube = workload_kube(mgmt, name, namespace, missing_ok=missing_ok)
    try:
        yield kube
    finally:
        if kube is not None:
            kube.close()


def kube_from_secret(sec: dict, name: str, namespace: str, *, verify: bool = True, timeout: float = 30) -> Kube:
    """The client of a cluster from its kubeconfig Secret, already read (see workload_kube)."""
    try:
        kubeconfig = yaml.safe_load(base64.b64decode((sec.get("data") or {}).get("value", "")))
    except (ValueError, yaml.YAMLError) as err:
        raise KubeError(f"Secret {namespace}/{name}-kubeconfig holds no readable kubeconfig: {type(err).__name__}")
    if not isinstance(kubeconfig, dict):
        raise KubeError(f"Secret {namespace}/{name}-kubeconfig holds no kubeconfig (key value)")
    settings = {"kubeconfig": kubeconfig}
    if not verify:
        settings["validate_certs"] = False
    return Kube(settings, retries=2, timeout=timeout)


GRAFANA_API = "grafana.integreatly.org/v1beta1"


def grafana_claim_class(grafana: dict | None):
    """The storage class a Grafana CR asks its data claim to have (spec.persistentVolumeClaim.spec)."""
    spec = (grafana or {}).get("spec") or {}
    return (((spec.get("persistentVolumeClaim") or {}).get("spec")) or {}).get("storageClassName")


def replace_grafana_claim(kube: Kube, namespace: str, grafana: str, claim: str, storage_class: str,
                          timeout: int) -> bool:
    """Give a Grafana's data claim a new storage class, which grafana-operator cannot do (a claim's class is
    immutable, the operator stops at its pvc stage): wait until the Grafana CR asks for `storage_class` (its chart
    was upgraded), delete the claim and Grafana's pods (the claim goes once no pod holds it; the new pod waits
    unscheduled), then wait until the operator has created the claim anew with that class. Grafana's own database
    starts empty; KOF's dashboards and datasources are CRs and come back. True when the claim was replaced, False
    when it had the class already. Raises KubeError when a wait runs out."""
    upgraded = wait_for(kube, object_path(GRAFANA_API, "grafanas", namespace), {grafana},
                        lambda o: o is not None and grafana_claim_class(o) == storage_class, timeout)
    if upgraded["pending"]:
        raise KubeError(f"Grafana {namespace}/{grafana} did not ask for storage class {storage_class} within "
                        f"{timeout}s (its chart's upgrade did not reach it)")
    path = object_path("v1", "persistentvolumeclaims", namespace, claim)
    pvc = kube.get(path)
    replaced = pvc is not None and (pvc.get("spec") or {}).get("storageClassName") != storage_class
    if replaced:
        kube.delete(path, propagation="Background")
        pods = kube.list(object_path("v1", "pods", namespace), {"labelSelector": f"app={grafana}"}).get("items")
        for pod in pods or []:
            kube.delete(object_path("v1", "pods", namespace, pod["metadata"]["name"]), propagation="Background")
    done = wait_for(kube, object_path("v1", "persistentvolumeclaims", namespace), {claim},
                    lambda o: o is not None and not o["metadata"].get("deletionTimestamp")
                    and (o.get("spec") or {}).get("storageClassName") == storage_class, timeout)
    if done["pending"]:
        raise KubeError(f"grafana-operator did not create {claim} with storage class {storage_class} within "
                        f"{timeout}s")
    return replaced


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


def converger(kube: Kube, *, check: bool, manager: str = "k0rdent.kof") -> Converger:
    """The converge engine for whole objects of any kind, with Secret values masked in before / after."""
    return Converger(kube, check=check, manager=manager, show=masked)


def ensure_present(engine: Converger, resources: Resources, obj: dict, *, only_missing: bool = False) -> dict:
    """Create or server-side apply `obj` when the live object differs; no request beyond the GET otherwise."""
    path = resources.path(obj)
    out = engine.present(path, obj, engine.kube.get(path), only_missing=only_missing)
    out.pop("object", None)
    return out


def ensure_absent(engine: Converger, resources: Resources, obj: dict, *, propagation: str = "Foreground") -> dict:
    if resources.lookup(obj["apiVersion"], obj["kind"]) is None:
        return {"action": "absent", "changed": False}  # the kind is gone with its CRD, so is the object
    path = resources.path(obj)
    return engine.absent(path, engine.kube.get(path), propagation=propagation)


def yaml_text(obj) -> str:
    """YAML of a diff side, through JSON: what comes from templated task arguments holds ansible-core 2.19's
    tagged str/dict types, which yaml.safe_dump cannot represent."""
    return yaml.safe_dump(json.loads(json.dumps(obj)), sort_keys=True, default_flow_style=False) if obj else ""


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
