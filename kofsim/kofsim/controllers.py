"""Built-in controllers: what kube-controller-manager, the scheduler and a kubelet would do, enough for
clients that wait on readiness (helm --wait, kubectl wait, kubernetes.core wait) and for deletion semantics.

Controllers never act inside the request that triggered them: work is scheduled on the event loop after a
short delay, so a client sees a Deployment without status right after creating it, as on a real cluster.
"""
from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json

from . import errors as E
from .fastcopy import clone
from .selectors import match_label_selector_obj
from .store import Cluster, now, rand_suffix

NODE = "kofsim-node"
ROOT_CA = "kube-root-ca.crt"
NAMESPACE_DELETION_CONDITIONS = (
    ("NamespaceDeletionDiscoveryFailure", "ResourcesDiscovered", "All resources successfully discovered"),
    ("NamespaceDeletionGroupVersionParsingFailure", "ParsedGroupVersions", "All legacy kube types successfully parsed"),
    ("NamespaceDeletionContentFailure", "ContentDeleted", "All content successfully deleted, may be waiting on "
                                                          "finalization"),
    ("NamespaceContentRemaining", "ContentRemoved", "All content successfully removed"),
    ("NamespaceFinalizersRemaining", "ContentHasNoFinalizers", "All content-preserving finalizers finished"))
PVC_PROTECTION = "kubernetes.io/pvc-protection"
ROOT_CA_DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
                       "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
                       "guaranteed across distributions of Kubernetes clusters.")
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def template_hash(tpl: dict) -> str:
    digest = hashlib.sha256(json.dumps(tpl, sort_keys=True).encode()).digest()
    return "".join(_SAFE[b % len(_SAFE)] for b in digest[:10])


def owner_ref(obj: dict, controller=True) -> dict:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": controller, "blockOwnerDeletion": True}


def owned_by(obj: dict, owner: dict) -> bool:
    return any(r.get("uid") == owner["metadata"]["uid"] for r in obj["metadata"].get("ownerReferences") or [])


class Controllers:
    def __init__(self, cluster: Cluster, loop: asyncio.AbstractEventLoop, *, delay: float = 0.05,
                 pod_start: float = 0.2):
        self.c = cluster
        self.loop = loop
        self.delay = delay
        self.pod_start = pod_start
        self._pending: set = set()
        self.stopped = False
        cluster.listeners.append(self.on_event)

    # ----------------------------------------------------------------------------- scheduling
    def schedule(self, key, fn, *args, delay=None):
        if self.stopped or key in self._pending:
            return
        self._pending.add(key)

        def run():
            self._pending.discard(key)
            if self.stopped:
                return
            try:
                fn(*args)
            except E.ApiError:
                pass  # the object moved on (deleted, conflicted); the next event reschedules
        # a fresh context: controller writes are not the triggering request's writes
        self.loop.call_later(self.delay if delay is None else delay, run, context=contextvars.Context())

    def rt(self, group, plural):
        rts = self.c.registry.versions_of(group, plural)
        return self.c.storage_rt(rts[0]) if rts else None

    def on_event(self, type_, rt, obj):
        meta = obj["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        k = (rt.group, rt.plural)
        if type_ == "DELETED":
            self.schedule(("gc", meta["uid"]), self.gc_orphans, meta["uid"])
            if (k == ("", "serviceaccounts") and name == "default") or (k == ("", "configmaps") and name == ROOT_CA):
                self.schedule((("", "namespaces"), "", ns), self.namespace, "", ns)
            for ref in meta.get("ownerReferences") or []:
                self._touch_owner(ref, ns)
            return
        if meta.get("deletionTimestamp"):
            fins = meta.get("finalizers") or []
            if "foregroundDeletion" in fins or "orphan" in fins:
                self.schedule(("fg", k, ns, name), self.finalize_dependents, rt, ns, name)
        handler = self._handlers().get(k)
        if handler is not None:
            delay = self.pod_start if k == ("", "pods") and type_ == "ADDED" else None
            if k == ("apiextensions.k8s.io", "customresourcedefinitions"):
                # kube-apiserver's naming controller reacts within milliseconds: `kubectl apply` then `kubectl wait
                # --for=condition=Established` must not find status.conditions still null
                delay = 0
            self.schedule((k, ns, name), handler, ns, name, delay=delay)
        for ref in meta.get("ownerReferences") or []:
            self._touch_owner(ref, ns)

    def _handlers(self) -> dict:
        """The controller of each kind (built once: every event of every cluster looks it up)."""
        table = self.__dict__.get("_handler_table")
        if table is None:
            table = self._handler_table = {
                ("", "namespaces"): self.namespace, ("apps", "deployments"): self.deployment,
                ("apps", "replicasets"): self.replicaset, ("apps", "statefulsets"): self.statefulset,
                ("apps", "daemonsets"): self.daemonset, ("batch", "jobs"): self.job, ("", "pods"): self.pod,
                ("", "services"): self.service, ("", "persistentvolumeclaims"): self.pvc,
                ("apiextensions.k8s.io", "customresourcedefinitions"): self.crd,
                ("storage.k8s.io", "storageclasses"): self.storageclass,
            }
        return table

    def _touch_owner(self, ref, ns):
        kind = ref.get("kind")
        mapping = {"ReplicaSet": ("apps", "replicasets", self.replicaset),
                   "Deployment": ("apps", "deployments", self.deployment),
                   "StatefulSet": ("apps", "statefulsets", self.statefulset),
                   "DaemonSet": ("apps", "daemonsets", self.daemonset)}
        if kind in mapping and ref.get("apiVersion") == "apps/v1":
            g, p, fn = mapping[kind]
            self.schedule(((g, p), ns, ref["name"]), fn, ns, ref["name"])

    def get(self, group, plural, ns, name):
        rt = self.rt(group, plural)
        if rt is None:
            return None, None
        return rt, self.c.find(rt, ns if rt.namespaced else "", name)

    def status(self, rt, obj, status, manager=None):
        if obj.get("status") == status:
            return obj
        return self.c.set_status(rt, obj, status, manager)

    def create(self, obj):
        rt = self.c.rt_for(obj["apiVersion"], obj["kind"])
        try:
            # pods of workload controllers do not wait for the namespace's default ServiceAccount (the real
            # controllers retry until it exists; kofsim's act once per event)
            stored, _, _ = self.c.write(rt, obj, namespace=obj["metadata"].get("namespace"),
                                        internal=obj["kind"] == "Pod", manager=_manager(obj["kind"]))
            return stored
        except E.ApiError as err:
            if err.reason in ("AlreadyExists", "NotFound", "Forbidden"):
                return None
            raise

    def delete(self, rt, obj, policy="Background"):
        try:
            self.c.delete(rt, obj["metadata"].get("namespace"), obj["metadata"]["name"],
                          {"propagationPolicy": policy})
        except E.ApiError:
            pass

    # ------------------------------------------------------------------------- workloads
    def deployment(self, ns, name):
        rt, d = self.get("apps", "deployments", ns, name)
        if d is None or d["metadata"].get("deletionTimestamp"):
            return
        spec = d.get("spec") or {}
        tpl = clone(spec.get("template") or {})
        h = template_hash(tpl)
        rs_rt = self.rt("apps", "replicasets")
        mine = [o for o in self.c.list_objects(rs_rt, ns) if owned_by(o, d)]
        current = next((o for o in mine if o["metadata"].get("labels", {}).get("pod-template-hash") == h), None)
        replicas = spec.get("replicas", 1)
        revision = str(max([int((o["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision",
                                                                             "0")) for o in mine] + [0]) +
                       (0 if current else 1))
        if current is None:
            tpl.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = h
            sel = clone(spec.get("selector") or {})
            sel.setdefault("matchLabels", {})["pod-template-hash"] = h
            current = self.create({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": f"{name}-{h}", "namespace": ns,
                             "labels": dict((tpl["metadata"].get("labels") or {})),
                             "annotations": {"deployment.kubernetes.io/revision": revision,
                                             "deployment.kubernetes.io/desired-replicas": str(replicas)},
                             "ownerReferences": [owner_ref(d)]},
                "spec": {"replicas": replicas, "selector": sel, "template": tpl}})
        elif current["spec"].get("replicas") != replicas:
            body = clone(current)
            body["spec"]["replicas"] = replicas
            self.c.write(rs_rt, body, namespace=ns, old=current, manager="kube-controller-manager")
        for old in mine:
            if current is not None and old["metadata"]["uid"] == current["metadata"]["uid"]:
                continue
            if old["spec"].get("replicas", 0) != 0:
                body = clone(old)
                body["spec"]["replicas"] = 0
                self.c.write(rs_rt, body, namespace=ns, old=old, manager="kube-controller-manager")
        mine = [o for o in self.c.list_objects(rs_rt, ns) if owned_by(o, d)]
        total = sum((o.get("status") or {}).get("replicas", 0) for o in mine)
        ready = sum((o.get("status") or {}).get("readyReplicas", 0) for o in mine)
        cur = next((o for o in mine if o["metadata"].get("labels", {}).get("pod-template-hash") == h), None)
        updated = (cur.get("status") or {}).get("replicas", 0) if cur else 0
        cur_ready = (cur.get("status") or {}).get("readyReplicas", 0) if cur else 0
        complete = cur_ready == replicas and total == replicas and updated == replicas
        ts = now()
        prev = {c["type"]: c for c in (d.get("status") or {}).get("conditions") or []}

        def cond(type_, status, reason, message):
            p = prev.get(type_)
            if p and p["status"] == status and p["reason"] == reason:
                return p
            return {"type": type_, "status": status, "lastUpdateTime": ts, "lastTransitionTime": ts,
                    "reason": reason, "message": message}
        status = {"observedGeneration": d["metadata"].get("generation", 1), "replicas": total,
                  "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": ready}
        if total - ready > 0:
            status["unavailableReplicas"] = total - ready
        status = {k: v for k, v in status.items() if v or k == "observedGeneration"}
        status["conditions"] = [
            cond("Available", "True" if ready >= replicas else "False",
                 "MinimumReplicasAvailable" if ready >= replicas else "MinimumReplicasUnavailable",
                 "Deployment has minimum availability." if ready >= replicas else
                 "Deployment does not have minimum availability."),
            cond("Progressing", "True", "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
                 f'ReplicaSet "{name}-{h}" has successfully progressed.' if complete else
                 f'ReplicaSet "{name}-{h}" is progressing.')]
        ann = d["metadata"].get("annotations") or {}
        cur_rev = ((cur or {}).get("metadata", {}).get("annotations") or {}).get("deployment.kubernetes.io/revision")
        if cur_rev and ann.get("deployment.kubernetes.io/revision") != cur_rev:
            # the deployment controller records the revision on the Deployment, with its status
            body = {"metadata": {"name": name, "annotations": dict(ann, **{"deployment.kubernetes.io/revision":
                                                                           cur_rev})}, "status": status}
            self.c.write(rt, body, namespace=ns, old=d, internal=True, subresource="status",
                         manager="kube-controller-manager")
            return
        self.status(rt, d, status, manager="kube-controller-manager")

    def _sync_pods(self, owner, tpl, count, names=None, extra_labels=None):
        pod_rt = self.rt("", "pods")
        ns = owner["metadata"].get("namespace")
        listed = self.c.list_objects(pod_rt, ns)
        if self._adopt_pods(pod_rt, owner, ns, listed):
            listed = self.c.list_objects(pod_rt, ns)
        pods = [p for p in listed if owned_by(p, owner) and not p["metadata"].get("deletionTimestamp")]
        if names is not None:
            have = {p["metadata"]["name"] for p in pods}
            for n in names:
                if n not in have:
                    self._make_pod(owner, tpl, n, extra_labels)
            for p in pods:
                if p["metadata"]["name"] not in names:
                    self.delete(pod_rt, p)
        else:
            for _ in range(count - len(pods)):
                self._make_pod(owner, tpl, f"{owner['metadata']['name']}-{rand_suffix()}", extra_labels)
            for p in pods[count:] if len(pods) > count else []:
                self.delete(pod_rt, p)
        return [p for p in self.c.list_objects(pod_rt, ns) if owned_by(p, owner)
                and not p["metadata"].get("deletionTimestamp")]

    def _adopt_pods(self, pod_rt, owner, ns, pods) -> bool:
        """ControllerRefManager's adoption: pods matching the owner's selector that have no controller (left by
        an owner deleted with propagationPolicy Orphan) get it as their controller, so a StatefulSet re-created
        under the same name takes over its running pods (and, by name, their claims) instead of making new ones."""
        sel = (owner.get("spec") or {}).get("selector")
        adopted = False
        if not sel:
            return adopted
        for p in pods:
            meta = p["metadata"]
            if (meta.get("deletionTimestamp") or any(r.get("controller") for r in meta.get("ownerReferences") or [])
                    or not match_label_selector_obj(sel, meta.get("labels"))):
                continue
            body = clone(p)
            body["metadata"]["ownerReferences"] = list(meta.get("ownerReferences") or []) + [owner_ref(owner)]
            try:
                self.c.write(pod_rt, body, namespace=ns, old=p, internal=True, manager="kube-controller-manager")
                adopted = True
            except E.ApiError:
                pass
        return adopted

    def _make_pod(self, owner, tpl, name, extra_labels=None):
        meta = clone(tpl.get("metadata") or {})
        labels = dict(meta.get("labels") or {})
        labels.update(extra_labels or {})
        spec = clone(tpl.get("spec") or {})
        for v in spec.get("volumes") or []:
            claim = v.get("persistentVolumeClaim")
            if claim and "{ordinal-claim}" in claim.get("claimName", ""):
                claim["claimName"] = claim["claimName"].replace("{ordinal-claim}", "")
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("serviceAccountName", "default")
        self.create({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": name, "namespace": owner["metadata"]["namespace"], "labels": labels,
                                  "annotations": meta.get("annotations") or {},
                                  "ownerReferences": [owner_ref(owner)]},
                     "spec": spec})

    @staticmethod
    def _ready(p):
        st = p.get("status") or {}
        return st.get("phase") == "Running" and any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or [])

    def replicaset(self, ns, name):
        rt, rs = self.get("apps", "replicasets", ns, name)
        if rs is None or rs["metadata"].get("deletionTimestamp"):
            return
        pods = self._sync_pods(rs, rs["spec"].get("template") or {}, rs["spec"].get("replicas", 1))
        ready = sum(1 for p in pods if self._ready(p))
        status = {"replicas": len(pods), "fullyLabeledReplicas": len(pods), "readyReplicas": ready,
                  "availableReplicas": ready, "observedGeneration": rs["metadata"].get("generation", 1)}
        self.status(rt, rs, {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration")})

    def statefulset(self, ns, name):
        rt, sts = self.get("apps", "statefulsets", ns, name)
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            return
        spec = sts.get("spec") or {}
        n = spec.get("replicas", 1)
        rev = f"{name}-{template_hash(spec.get('template') or {})}"
        pvc_rt = self.rt("", "persistentvolumeclaims")
        tpl = clone(spec.get("template") or {})
        for i in range(n):
            for vct in spec.get("volumeClaimTemplates") or []:
                cname = f"{vct['metadata']['name']}-{name}-{i}"
                if self.c.find(pvc_rt, ns, cname) is None:
                    self.create({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                 "metadata": {"name": cname, "namespace": ns,
                                              "labels": dict((tpl.get("metadata") or {}).get("labels") or {})},
                                 "spec": clone(vct.get("spec") or {})})
        pod_names = [f"{name}-{i}" for i in range(n)]
        pods = []
        for i, pn in enumerate(pod_names):
            t = clone(tpl)
            vols = t.setdefault("spec", {}).setdefault("volumes", [])
            for vct in spec.get("volumeClaimTemplates") or []:
                vols.append({"name": vct["metadata"]["name"],
                             "persistentVolumeClaim": {"claimName": f"{vct['metadata']['name']}-{name}-{i}"}})
            pods = self._sync_pods(sts, t, n, names=[pn] + [p for p in pod_names if p != pn],
                                   extra_labels={"controller-revision-hash": rev,
                                                 "statefulset.kubernetes.io/pod-name": pn})
        ready = sum(1 for p in pods if self._ready(p))
        status = {"observedGeneration": sts["metadata"].get("generation", 1), "replicas": len(pods),
                  "readyReplicas": ready, "currentReplicas": len(pods), "updatedReplicas": len(pods),
                  "availableReplicas": ready, "currentRevision": rev, "updateRevision": rev, "collisionCount": 0}
        self.status(rt, sts, {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration",
                                                                            "collisionCount")})

    def daemonset(self, ns, name):
        rt, ds = self.get("apps", "daemonsets", ns, name)
        if ds is None or ds["metadata"].get("deletionTimestamp"):
            return
        pods = self._sync_pods(ds, (ds.get("spec") or {}).get("template") or {}, 1)
        ready = sum(1 for p in pods if self._ready(p))
        status = {"currentNumberScheduled": len(pods), "desiredNumberScheduled": 1, "numberMisscheduled": 0,
                  "numberReady": ready, "numberAvailable": ready, "updatedNumberScheduled": len(pods),
                  "observedGeneration": ds["metadata"].get("generation", 1)}
        if ready < 1:
            status["numberUnavailable"] = 1 - ready
            status.pop("numberAvailable")
        self.status(rt, ds, status)

    def job(self, ns, name):
        rt, job = self.get("batch", "jobs", ns, name)
        if job is None or job["metadata"].get("deletionTimestamp"):
            return
        st = job.get("status") or {}
        if st.get("succeeded"):
            return
        if not st.get("startTime"):
            self.status(rt, job, {"startTime": now(), "active": 1})
            self.schedule((("batch", "jobs"), ns, name), self.job, ns, name, delay=self.pod_start)
            return
        ts = now()
        self.status(rt, job, {"startTime": st["startTime"], "completionTime": ts, "succeeded": 1, "ready": 0,
                              "conditions": [{"type": "SuccessCriteriaMet", "status": "True",
                                              "lastProbeTime": ts, "lastTransitionTime": ts},
                                             {"type": "Complete", "status": "True", "lastProbeTime": ts,
                                              "lastTransitionTime": ts}]})

    def pod(self, ns, name):
        rt, pod = self.get("", "pods", ns, name)
        if pod is None:
            return
        if pod["metadata"].get("deletionTimestamp"):
            if not pod["metadata"].get("finalizers"):
                self.c.remove(rt, pod)  # the kubelet confirmed termination
            return
        st = pod.get("status") or {}
        # unbound claims keep a pod Pending, as the scheduler would
        pvc_rt = self.rt("", "persistentvolumeclaims")
        for v in (pod.get("spec") or {}).get("volumes") or []:
            claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
            if claim:
                pvc = self.c.find(pvc_rt, ns, claim)
                # the volumebinding plugin (v1.36.3): a claim being deleted keeps a pod that is not on a node yet
                # off every node, as an unbound one does
                deleting = pvc is not None and pvc["metadata"].get("deletionTimestamp") and \
                    not (pod.get("spec") or {}).get("nodeName")
                if pvc is None or (pvc.get("status") or {}).get("phase") != "Bound" or deleting:
                    ts = now()
                    reason = (f'persistentvolumeclaim "{claim}" is being deleted' if deleting
                              else "pod has unbound immediate PersistentVolumeClaims")
                    want = {"phase": "Pending", "qosClass": "BestEffort",
                            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                            "message": f"0/1 nodes are available: {reason}. preemption: 0/1 nodes "
                                                       "are available: 1 Preemption is not helpful for scheduling.",
                                            "lastProbeTime": None, "lastTransitionTime": ts}]}
                    if st.get("phase") != "Pending" or not st.get("conditions") or \
                            st["conditions"][0].get("message") != want["conditions"][0]["message"]:
                        self.status(rt, pod, want)
                    return
        # a missing (non-optional) Secret or ConfigMap volume keeps the pod in ContainerCreating (FailedMount)
        missing = self._missing_volume_source(pod, ns)
        if missing:
            want = {"phase": "Pending", "qosClass": "BestEffort", "hostIP": "10.0.0.10",
                    "conditions": [{"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                                    "lastTransitionTime": st.get("startTime") or now()}],
                    "containerStatuses": [{"name": ctr["name"], "image": ctr.get("image", ""), "imageID": "",
                                           "ready": False, "started": False, "restartCount": 0,
                                           "state": {"waiting": {"reason": "ContainerCreating"}}}
                                          for ctr in (pod.get("spec") or {}).get("containers") or []],
                    "message": f"MountVolume.SetUp failed: {missing} not found"}
            if st.get("phase") != "Pending" or st.get("message") != want["message"]:
                self.status(rt, pod, want)
            self.schedule(((rt.group, rt.plural), ns, name), self.pod, ns, name, delay=1.0)
            return
        crash = any(ns == cns and name.startswith(prefix) for cns, prefix in self.c.crashloop)
        if st.get("phase") == "Running" and not crash:
            return
        ts = st.get("startTime") or now()
        containers = (pod.get("spec") or {}).get("containers") or []
        restarts = max([cs.get("restartCount", 0) for cs in st.get("containerStatuses") or []] + [0])
        if crash:
            cstat = [{"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": False,
                      "started": False, "restartCount": restarts + 1,
                      "state": {"waiting": {"reason": "CrashLoopBackOff",
                                            "message": f"back-off 10s restarting failed container={c['name']}"}},
                      "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}} for c in containers]
            ready = "False"
        else:
            cstat = [{"name": c["name"], "image": c.get("image", ""), "imageID": c.get("image", ""),
                      "containerID": f"containerd://{rand_suffix(12)}", "ready": True, "started": True,
                      "restartCount": 0, "state": {"running": {"startedAt": ts}}} for c in containers]
            ready = "True"
        n = abs(hash(pod["metadata"]["uid"])) % 60000
        status = {"phase": "Running", "hostIP": "10.0.0.10", "podIP": f"10.244.{n // 250}.{n % 250 + 1}",
                  "startTime": ts, "qosClass": "BestEffort",
                  "conditions": [{"type": t, "status": ready if t in ("Ready", "ContainersReady") else "True",
                                  "lastProbeTime": None, "lastTransitionTime": ts}
                                 for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                                           "PodScheduled")],
                  "containerStatuses": cstat}
        if not (pod.get("spec") or {}).get("nodeName"):
            body = clone(pod)
            body["spec"]["nodeName"] = NODE
            pod, _, _ = self.c.write(rt, body, namespace=ns, old=pod, internal=True)
        self.status(rt, pod, status)
        if crash:
            self.schedule(((rt.group, rt.plural), ns, name), self.pod, ns, name, delay=2.0)

    def _missing_volume_source(self, pod, ns):
        for v in (pod.get("spec") or {}).get("volumes") or []:
            sec = v.get("secret")
            if sec and not sec.get("optional") and self.c.find(self.rt("", "secrets"), ns,
                                                                sec.get("secretName", "")) is None:
                return f'secret "{sec.get("secretName")}"'
            cm = v.get("configMap")
            if cm and not cm.get("optional") and self.c.find(self.rt("", "configmaps"), ns,
                                                              cm.get("name", "")) is None:
                return f'configmap "{cm.get("name")}"'
        return None

    # --------------------------------------------------------------------------- networking, storage
    def service(self, ns, name):
        rt, svc = self.get("", "services", ns, name)
        if svc is None or (svc.get("spec") or {}).get("type") != "LoadBalancer" or not self.c.lb_domain:
            return
        if (svc.get("status") or {}).get("loadBalancer", {}).get("ingress"):
            return
        host = f"{template_hash({'uid': svc['metadata']['uid']})}-{abs(hash(name)) % 10 ** 8}.{self.c.lb_domain}"
        self.status(rt, svc, {"loadBalancer": {"ingress": [{"hostname": host}]}})

    def pvc(self, ns, name):
        rt, pvc = self.get("", "persistentvolumeclaims", ns, name)
        if pvc is None:
            return
        if pvc["metadata"].get("deletionTimestamp"):
            self.pvc_protection(rt, pvc)
            return
        if PVC_PROTECTION not in (pvc["metadata"].get("finalizers") or []):
            # the pvc-protection controller puts its finalizer back on a claim that lost it
            body = clone(pvc)
            body["metadata"]["finalizers"] = list(pvc["metadata"].get("finalizers") or []) + [PVC_PROTECTION]
            pvc, _, _ = self.c.write(rt, body, namespace=ns, old=pvc, internal=True, manager="kube-controller-manager")
        if (pvc.get("status") or {}).get("phase") == "Bound":
            return
        sc_name = (pvc.get("spec") or {}).get("storageClassName")
        sc_rt = self.rt("storage.k8s.io", "storageclasses")
        if not sc_name or self.c.find(sc_rt, "", sc_name) is None:
            if (pvc.get("status") or {}).get("phase") != "Pending":
                self.status(rt, pvc, {"phase": "Pending"})
            return
        spec = pvc.get("spec") or {}
        if not spec.get("volumeName"):
            body = clone(pvc)
            body["spec"]["volumeName"] = f"pvc-{pvc['metadata']['uid']}"
            pvc, _, _ = self.c.write(rt, body, namespace=ns, old=pvc, internal=True)
        size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        self.status(rt, pvc, {"phase": "Bound", "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                              "capacity": {"storage": size}})
        # pods waiting on this claim can start now
        pod_rt = self.rt("", "pods")
        for p in self.c.list_objects(pod_rt, ns):
            if (p.get("status") or {}).get("phase") == "Pending":
                self.schedule((("", "pods"), ns, p["metadata"]["name"]), self.pod, ns, p["metadata"]["name"])

    def pvc_protection(self, rt, pvc):
        """kube-controller-manager's pvc-protection controller: a claim being deleted loses its
        kubernetes.io/pvc-protection finalizer once no pod uses it."""
        fins = pvc["metadata"].get("finalizers") or []
        if PVC_PROTECTION not in fins:
            return
        ns, name = pvc["metadata"]["namespace"], pvc["metadata"]["name"]
        pod_rt = self.rt("", "pods")
        for p in self.c.list_objects(pod_rt, ns) if pod_rt else []:
            # podUsesPVCForDeletion (v1.36.3): only a pod on a node holds the claim - the kubelet will not start
            # one that is not there yet on a claim being deleted
            if (p.get("spec") or {}).get("nodeName") and any(
                    ((v or {}).get("persistentVolumeClaim") or {}).get("claimName") == name
                    for v in (p.get("spec") or {}).get("volumes") or []):
                self.schedule((("", "persistentvolumeclaims"), ns, name), self.pvc, ns, name, delay=0.2)
                return
        body = clone(pvc)
        body["metadata"]["finalizers"] = [f for f in fins if f != PVC_PROTECTION]
        if not body["metadata"]["finalizers"]:
            del body["metadata"]["finalizers"]
        self.c.write(rt, body, namespace=ns, old=pvc, internal=True, manager="kube-controller-manager")

    def storageclass(self, _ns, name):
        # retroactive default StorageClass assignment (Kubernetes >= 1.28)
        if self.c.default_storage_class() != name:
            return
        pvc_rt = self.rt("", "persistentvolumeclaims")
        for p in self.c.list_objects(pvc_rt):
            if "storageClassName" not in (p.get("spec") or {}) and (p.get("status") or {}).get("phase") != "Bound":
                body = clone(p)
                body["spec"]["storageClassName"] = name
                try:
                    self.c.write(pvc_rt, body, namespace=p["metadata"]["namespace"], old=p, internal=True)
                except E.ApiError:
                    pass

    def crd(self, _ns, name):
        rt, crd = self.get("apiextensions.k8s.io", "customresourcedefinitions", "", name)
        if crd is None:
            return
        if crd["metadata"].get("deletionTimestamp"):
            self.crd_cleanup(rt, crd)
            return
        ts = now()
        spec = crd.get("spec") or {}
        prev = {c["type"]: c for c in (crd.get("status") or {}).get("conditions") or []}

        def cond(t, reason, msg, status="True"):
            old = prev.get(t, {})
            if old.get("status") == status and old.get("reason") == reason:
                return old
            return {"type": t, "status": status,
                    "lastTransitionTime": old.get("lastTransitionTime", ts) if old.get("status") == status else ts,
                    "reason": reason, "message": msg}
        stored = sorted(set(((crd.get("status") or {}).get("storedVersions") or []) +
                            [v["name"] for v in spec.get("versions") or [] if v.get("storage")]))
        # apiextensions' naming controller accepts the names (Established False, Installing), then the
        # establishing controller establishes the CRD
        established = prev.get("Established", {}).get("status") == "True"
        installing = "Established" not in prev
        names = cond("NamesAccepted", "NoConflicts", "no conflicts found")
        est = cond("Established", "Installing", "the initial names have been accepted", "False") if installing \
            else cond("Established", "InitialNamesAccepted", "the initial names have been accepted")
        if established:
            est = prev["Established"]
        self.status(rt, crd, {"acceptedNames": clone(spec.get("names") or {}), "conditions": [names, est],
                              "storedVersions": stored}, manager="kube-apiserver")
        if installing:
            self.schedule(((rt.group, rt.plural), "", name), self.crd, "", name, delay=0.01)

    def crd_cleanup(self, rt, crd):
        """apiextensions' finalizer: delete every instance, wait until they are gone, then let the CRD go."""
        from .store import CRD_CLEANUP
        fins = crd["metadata"].get("finalizers") or []
        if CRD_CLEANUP not in fins:
            return
        spec = crd.get("spec") or {}
        conds = (crd.get("status") or {}).get("conditions") or []
        term = next((c for c in conds if c.get("type") == "Terminating"), None)
        if term is not None and term.get("reason") == "InstanceDeletionPending":
            status = clone(crd.get("status") or {})
            status["conditions"] = [dict(c, reason="InstanceDeletionInProgress",
                                         message="CustomResource deletion is in progress")
                                    if c.get("type") == "Terminating" else c for c in conds]
            crd = self.status(rt, crd, status, manager="kube-apiserver")
        group, plural = spec.get("group"), (spec.get("names") or {}).get("plural")
        irt = self.rt(group, plural)
        left = self.c.list_objects(irt) if irt else []
        for obj in left:
            if not obj["metadata"].get("deletionTimestamp"):
                self.delete(irt, obj)
        if irt and self.c.list_objects(irt):
            self.schedule((("apiextensions.k8s.io", "customresourcedefinitions"), "", crd["metadata"]["name"]),
                          self.crd, "", crd["metadata"]["name"], delay=0.2)
            return
        body = clone(crd)
        body["metadata"]["finalizers"] = [f for f in fins if f != CRD_CLEANUP]
        if not body["metadata"]["finalizers"]:
            del body["metadata"]["finalizers"]
        self.c.write(rt, body, old=crd, internal=True)

    def namespace(self, _ns, name):
        rt, nso = self.get("", "namespaces", "", name)
        if nso is None:
            return
        if not nso["metadata"].get("deletionTimestamp"):
            if (nso.get("status") or {}).get("phase") != "Active":
                self.status(rt, nso, {"phase": "Active"})
            self.namespace_defaults(name)
            return
        remaining = 0
        for srt, obj in self.c.namespace_content(name):
            remaining += 1
            if not obj["metadata"].get("deletionTimestamp"):
                self.delete(srt, obj)
        if remaining:
            self.schedule((("", "namespaces"), "", name), self.namespace, "", name, delay=0.2)
            return
        # the namespace controller reports how the deletion went, then finalizes
        conds = [(t, r, m) for t, r, m in NAMESPACE_DELETION_CONDITIONS]
        prev = {c["type"]: c for c in (nso.get("status") or {}).get("conditions") or []}
        ts = now()
        status = dict(nso.get("status") or {})
        status["conditions"] = [{"type": t, "status": "False",
                                 "lastTransitionTime": prev.get(t, {}).get("lastTransitionTime", ts)
                                 if prev.get(t, {}).get("status") == "False" else ts, "reason": r, "message": m}
                                for t, r, m in conds]
        if status != (nso.get("status") or {}):
            nso = self.status(rt, nso, status, manager="kube-controller-manager")
        # the namespace controller's /finalize: once no finalizer of either kind is left, the namespace is gone
        body = clone(nso)
        body.setdefault("spec", {})["finalizers"] = [f for f in body["spec"].get("finalizers") or []
                                                     if f != "kubernetes"]
        self.c.write(rt, body, old=nso, internal=True, subresource="finalize")

    def namespace_defaults(self, name):
        """kube-controller-manager's serviceaccount controller and root-ca-certificate publisher: every active
        namespace has the `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap (recreated when deleted,
        restored when changed)."""
        sa_rt, sa = self.get("", "serviceaccounts", name, "default")
        if sa_rt is not None and sa is None:
            self.create({"apiVersion": "v1", "kind": "ServiceAccount",
                         "metadata": {"name": "default", "namespace": name}})
        cm_rt, cm = self.get("", "configmaps", name, ROOT_CA)
        ca = getattr(self.c, "ca_pem", b"") or b""
        want = {"ca.crt": ca.decode() if isinstance(ca, bytes) else str(ca)}
        if cm_rt is None:
            return
        if cm is None:
            self.create({"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": ROOT_CA, "namespace": name,
                                      "annotations": {"kubernetes.io/description": ROOT_CA_DESCRIPTION}},
                         "data": want})
        elif cm.get("data") != want and not cm["metadata"].get("deletionTimestamp"):
            body = clone(cm)
            body["data"] = want
            self.c.write(cm_rt, body, namespace=name, old=cm, internal=True, manager="kube-controller-manager")

    # ----------------------------------------------------------------------------- garbage collector
    def gc_orphans(self, uid):
        """Background cascade: delete dependents whose owner is gone."""
        for rt, dep in self.c.dependents(uid):
            refs = [r for r in dep["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
            alive = [r for r in refs if self._owner_alive(r, dep)]
            if not alive:
                self.delete(rt, dep, "Background")
            else:
                body = clone(dep)
                body["metadata"]["ownerReferences"] = refs
                if not refs:
                    del body["metadata"]["ownerReferences"]
                try:
                    self.c.write(rt, body, namespace=dep["metadata"].get("namespace"), old=dep, internal=True,
                                 manager="kube-controller-manager")
                except E.ApiError:
                    pass

    def _owner_alive(self, ref, dep):
        return self.c.exists_uid(ref.get("uid"))

    def finalize_dependents(self, rt, ns, name):
        owner = self.c.find(rt, ns if rt.namespaced else "", name)
        if owner is None or not owner["metadata"].get("deletionTimestamp"):
            return
        fins = list(owner["metadata"].get("finalizers") or [])
        deps = self.c.dependents(owner["metadata"]["uid"])
        if "orphan" in fins:
            for drt, dep in deps:
                body = clone(dep)
                body["metadata"]["ownerReferences"] = [r for r in dep["metadata"].get("ownerReferences") or []
                                                       if r.get("uid") != owner["metadata"]["uid"]]
                if not body["metadata"]["ownerReferences"]:
                    del body["metadata"]["ownerReferences"]
                try:
                    self.c.write(drt, body, namespace=dep["metadata"].get("namespace"), old=dep, internal=True,
                                 manager="kube-controller-manager")
                except E.ApiError:
                    pass
            fins.remove("orphan")
        elif "foregroundDeletion" in fins:
            if deps:
                for drt, dep in deps:
                    if not dep["metadata"].get("deletionTimestamp"):
                        self.delete(drt, dep, "Foreground")
                self.schedule(("fg", rt.key, ns, name), self.finalize_dependents, rt, ns, name, delay=0.1)
                return
            fins.remove("foregroundDeletion")
        else:
            return
        body = clone(owner)
        body["metadata"]["finalizers"] = fins
        if not fins:
            body["metadata"].pop("finalizers")
        self.c.write(rt, body, namespace=ns or None, old=owner, internal=True, manager="kube-controller-manager")


def _manager(kind):
    return {"ReplicaSet": "kube-controller-manager", "Pod": "kube-controller-manager",
            "PersistentVolumeClaim": "kube-controller-manager"}.get(kind, "kube-controller-manager")
