"""kofsim's simulation of what a real backend's clusters lack: a node, its kubelet, the scheduler's binding, a
volume provisioner and a cloud load balancer (the real backend has no scheduler, kubelet, CSI driver or cloud
controller: pods would never run). It is kofsim's simulation, not Kubernetes': nothing runs in the pods.

Everything else is the real thing: kube-controller-manager creates the ReplicaSets and Pods of Deployments,
StatefulSets (and their claims), DaemonSets; binds claims to volumes; removes the protection finalizers; collects
garbage. On top of it, per cluster, as an API client (api.Client):

- **node**: one Node `kofsim-node` (Ready, 8 CPUs, 32Gi, 250 pods), registered as a kubelet would; once Ready, the
  `node.kubernetes.io/not-ready:NoSchedule` taint kube-apiserver put on it goes, as the node lifecycle controller
  removes it (that controller does not run: the node sends no heartbeats, which it would take for a dead node);
- **scheduler**: a pending pod is bound (pods/binding) to the node once its claims exist and it tolerates the
  node's NoSchedule/NoExecute taints (else it is Unschedulable, as the scheduler reports it); a claim of a
  `WaitForFirstConsumer` class gets the scheduler's `volume.kubernetes.io/selected-node` annotation first, and the
  pod waits until the claim is Bound;
- **provisioner**: a claim of a StorageClass (explicit, or the default one the admission plugin set) that is
  Immediate or has a selected node gets a PersistentVolume `pvc-<uid>` of the class's provisioner, pre-bound to the
  claim (kube-controller-manager's binder binds them); a Released volume of a `Delete` class is deleted;
- **kubelet**: a pod bound to the node becomes Running and Ready (containers running, an IP), or stays
  `ContainerCreating` while a Secret or ConfigMap volume it mounts is missing, or goes `CrashLoopBackOff` when a
  scenario says so; a pod being deleted is confirmed gone (gracePeriodSeconds=0), as the kubelet does after the
  containers stopped;
- **cloud load balancer**: a LoadBalancer Service of a workload cluster gets `<hash>.<region>.elb.amazonaws.com`.
"""
from __future__ import annotations

import hashlib
import secrets as _secrets

from .. import errors as E
from .api import RETRY_CODES, mutable, now

NODE = "kofsim-node"
MANAGER = "kubelet"
SELECTED = "volume.kubernetes.io/selected-node"


def _tolerates(pod, taint) -> bool:
    for t in (pod.get("spec") or {}).get("tolerations") or []:
        if t.get("effect") and t["effect"] != taint.get("effect"):
            continue
        if t.get("operator") == "Exists" and (not t.get("key") or t["key"] == taint.get("key")):
            return True
        if t.get("key") == taint.get("key") and t.get("value", "") == taint.get("value", ""):
            return True
    return False


def _hash(text: str, n: int = 10) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


class NodeSim:
    def __init__(self, client, sched, *, lb_domain: str | None = None, crashloops=lambda: ()):
        self.c = client
        self.sched = sched
        self.lb_domain = lb_domain
        self.crashloops = crashloops
        self.pods_rt = client.resource("", "pods")
        self.pvc_rt = client.resource("", "persistentvolumeclaims")
        self.pv_rt = client.resource("", "persistentvolumes")
        self.sc_rt = client.resource("storage.k8s.io", "storageclasses")
        client.watch("", "nodes", self.on_node)
        client.watch("", "pods", self.on_pod)
        client.watch("", "persistentvolumeclaims", self.on_pvc)
        client.watch("", "persistentvolumes", self.on_pv)
        client.watch("", "services", self.on_service)
        client.watch("", "secrets", self.on_volume_source)
        client.watch("", "configmaps", self.on_volume_source)
        sched.schedule(("node",), self.register)

    # ------------------------------------------------------------------------------------- node
    def register(self):
        rt = self.c.resource("", "nodes")
        node = self.c.get(rt, "", NODE)
        if node is None:
            node = self.c.create({"apiVersion": "v1", "kind": "Node", "metadata": {
                "name": NODE, "labels": {"kubernetes.io/hostname": NODE, "kubernetes.io/os": "linux",
                                         "kubernetes.io/arch": "amd64", "node-role.kubernetes.io/control-plane": ""}}},
                manager=MANAGER)
        ts = now()
        status = {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                  "message": "kubelet is posting ready status", "lastHeartbeatTime": ts,
                                  "lastTransitionTime": ts}],
                  "nodeInfo": {"kubeletVersion": "v1.36.3", "osImage": "kofsim (simulated node)",
                               "containerRuntimeVersion": "containerd://1.7.0", "kernelVersion": "6.1.0",
                               "operatingSystem": "linux", "architecture": "amd64", "kubeProxyVersion": "",
                               "machineID": "", "systemUUID": "", "bootID": ""},
                  "addresses": [{"type": "InternalIP", "address": "10.0.0.10"},
                                {"type": "Hostname", "address": NODE}],
                  "capacity": {"cpu": "8", "memory": "32Gi", "pods": "250"},
                  "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "250"}}
        if not any(c.get("type") == "Ready" and c.get("status") == "True"
                   for c in (node.get("status") or {}).get("conditions") or []):
            node = self.c.set_status(node, status, manager=MANAGER)
        # the node lifecycle controller's NoSchedule pass: kube-apiserver's TaintNodesByCondition admission gave the
        # new node `node.kubernetes.io/not-ready:NoSchedule`; once it is Ready, the taint goes (that controller,
        # which also evicts pods of nodes without heartbeats, does not run: kofsim's node sends none)
        taints = (node.get("spec") or {}).get("taints") or []
        keep = [t for t in taints if t.get("key") != "node.kubernetes.io/not-ready"]
        if keep != taints:
            body = mutable(node)
            body["spec"]["taints"] = keep
            if not keep:
                del body["spec"]["taints"]
            self.c.update(body, manager="node-lifecycle-controller")

    # ------------------------------------------------------------------------------------- events
    def on_node(self, type_, node):
        if type_ != "DELETED" and node["metadata"]["name"] == NODE:
            for p in self.c.list(self.pods_rt):
                if not (p.get("spec") or {}).get("nodeName"):
                    ns, name = p["metadata"]["namespace"], p["metadata"]["name"]
                    self.sched.schedule(("pod", ns, name), self.pod, ns, name)

    def on_pod(self, type_, pod):
        if type_ != "DELETED":
            ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
            self.sched.schedule(("pod", ns, name), self.pod, ns, name)

    def on_pvc(self, type_, pvc):
        ns, name = pvc["metadata"]["namespace"], pvc["metadata"]["name"]
        if type_ != "DELETED":
            self.sched.schedule(("pvc", ns, name), self.pvc, ns, name)
        if (pvc.get("status") or {}).get("phase") == "Bound":
            self._pending_pods(ns)

    def on_pv(self, type_, pv):
        if type_ != "DELETED":
            self.sched.schedule(("pv", pv["metadata"]["name"]), self.pv, pv["metadata"]["name"])

    def on_service(self, type_, svc):
        if type_ != "DELETED" and self.lb_domain and (svc.get("spec") or {}).get("type") == "LoadBalancer":
            ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
            self.sched.schedule(("svc", ns, name), self.service, ns, name)

    def on_volume_source(self, type_, obj):
        if type_ != "DELETED":
            self._pending_pods(obj["metadata"]["namespace"])

    def _pending_pods(self, ns):
        for p in self.c.list(self.pods_rt, ns):
            if (p.get("status") or {}).get("phase") in (None, "Pending"):
                self.sched.schedule(("pod", ns, p["metadata"]["name"]), self.pod, ns, p["metadata"]["name"], delay=0.05)

    def restart(self, ns, prefix):
        """Pods of that prefix are looked at again (a crashloop scenario that changed)."""
        for p in self.c.list(self.pods_rt, ns):
            if p["metadata"]["name"].startswith(prefix):
                self.sched.schedule(("pod", ns, p["metadata"]["name"]), self.pod, ns, p["metadata"]["name"])

    # ------------------------------------------------------------------------------- scheduler, kubelet
    def pod(self, ns, name):
        pod = self.c.get(self.pods_rt, ns, name)
        if pod is None:
            return
        spec, st = pod.get("spec") or {}, pod.get("status") or {}
        if pod["metadata"].get("deletionTimestamp"):
            if spec.get("nodeName") == NODE:  # the containers stopped: the kubelet confirms the deletion
                self.c.delete(self.pods_rt, ns, name, uid=pod["metadata"]["uid"], grace_seconds=0)
            return
        if not spec.get("nodeName"):
            self.schedule(pod)
            return
        if spec["nodeName"] != NODE:
            return
        self.run(pod)

    def schedule(self, pod):
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        if (pod.get("spec") or {}).get("schedulingGates"):
            return
        for v in (pod.get("spec") or {}).get("volumes") or []:
            claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
            if not claim:
                continue
            pvc = self.c.get(self.pvc_rt, ns, claim)
            if pvc is None:
                self._unschedulable(pod, f'persistentvolumeclaim "{claim}" not found')
                return
            if pvc["metadata"].get("deletionTimestamp"):  # volumebinding's PreFilter (v1.36.3)
                self._unschedulable(pod, f'persistentvolumeclaim "{claim}" is being deleted')
                return
            if (pvc.get("status") or {}).get("phase") == "Bound":
                continue
            sc = self._class_of(pvc)
            if sc is not None and sc.get("volumeBindingMode") == "WaitForFirstConsumer" and \
                    not (pvc["metadata"].get("annotations") or {}).get(SELECTED):
                body = mutable(pvc)
                body["metadata"].setdefault("annotations", {})[SELECTED] = NODE
                self.c.update(body, manager="kube-scheduler")
            return  # waits for the claim to be bound (its event brings the pod back)
        node = self.c.get(self.c.resource("", "nodes"), "", NODE)
        untolerated = [t for t in ((node or {}).get("spec") or {}).get("taints") or []
                       if t.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(pod, t)]
        if node is None or untolerated:
            why = (f"1 node(s) had untolerated taint {{{untolerated[0]['key']}: {untolerated[0].get('value', '')}}}"
                   if untolerated else "no nodes available to schedule pods")
            self._unschedulable(pod, why)
            return  # the node's next change (Ready, its taint gone) brings the pending pods back
        self.c.subresource("POST", self.pods_rt, ns, name, "binding", {
            "apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, "namespace": ns,
                                                                 "uid": pod["metadata"]["uid"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": NODE}})

    def _unschedulable(self, pod, why):
        st = pod.get("status") or {}
        cond = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": f"0/1 nodes are available: {why}. preemption: 0/1 nodes are available: 1 Preemption is "
                           f"not helpful for scheduling.", "lastProbeTime": None, "lastTransitionTime": now()}
        old = next((c for c in st.get("conditions") or [] if c.get("type") == "PodScheduled"), {})
        if old.get("message") != cond["message"]:
            self.c.set_status(pod, dict(st, phase="Pending", conditions=[cond]), manager="kube-scheduler")

    def _missing_volume_source(self, pod, ns):
        for v in (pod.get("spec") or {}).get("volumes") or []:
            sec = v.get("secret")
            if sec and not sec.get("optional") and \
                    self.c.get(self.c.resource("", "secrets"), ns, sec.get("secretName", "")) is None:
                return f'secret "{sec.get("secretName")}"'
            cm = v.get("configMap")
            if cm and not cm.get("optional") and \
                    self.c.get(self.c.resource("", "configmaps"), ns, cm.get("name", "")) is None:
                return f'configmap "{cm.get("name")}"'
        return None

    def run(self, pod):
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        st = pod.get("status") or {}
        containers = (pod.get("spec") or {}).get("containers") or []
        missing = self._missing_volume_source(pod, ns)
        if missing:
            want = dict(st, phase="Pending", hostIP="10.0.0.10", qosClass=st.get("qosClass", "BestEffort"),
                        message=f"MountVolume.SetUp failed: {missing} not found",
                        containerStatuses=[{"name": c["name"], "image": c.get("image", ""), "imageID": "",
                                            "ready": False, "started": False, "restartCount": 0,
                                            "state": {"waiting": {"reason": "ContainerCreating"}}} for c in containers])
            if st.get("message") != want["message"]:
                self.c.set_status(pod, want, manager=MANAGER)
            return
        crash = any(ns == cns and name.startswith(prefix) for cns, prefix in self.crashloops())
        if st.get("phase") == "Running" and not crash and all(
                c.get("ready") for c in st.get("containerStatuses") or [{}]):
            return
        ts = st.get("startTime") or now()
        restarts = max([cs.get("restartCount", 0) for cs in st.get("containerStatuses") or []] + [0])
        if crash:
            cstat = [{"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": False,
                      "started": False, "restartCount": restarts + 1,
                      "state": {"waiting": {"reason": "CrashLoopBackOff",
                                            "message": f"back-off 10s restarting failed container={c['name']}"}},
                      "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": ts,
                                                   "finishedAt": now()}}} for c in containers]
            ready = "False"
        else:
            cstat = [{"name": c["name"], "image": c.get("image", ""), "imageID": c.get("image", ""),
                      "containerID": f"containerd://{_secrets.token_hex(16)}", "ready": True, "started": True,
                      "restartCount": 0, "state": {"running": {"startedAt": ts}}} for c in containers]
            ready = "True"
        n = int(_hash(pod["metadata"]["uid"], 8), 16) % 60000
        ip = f"10.244.{n // 250}.{n % 250 + 1}"
        status = {"phase": "Running", "hostIP": "10.0.0.10", "hostIPs": [{"ip": "10.0.0.10"}], "podIP": ip,
                  "podIPs": [{"ip": ip}], "startTime": ts, "qosClass": st.get("qosClass", "BestEffort"),
                  "conditions": [{"type": t, "status": ready if t in ("Ready", "ContainersReady") else "True",
                                  "lastProbeTime": None, "lastTransitionTime": ts}
                                 for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                                           "PodScheduled")],
                  "containerStatuses": cstat}
        self.c.set_status(pod, status, manager=MANAGER)
        if crash:
            self.sched.schedule(("pod", ns, name), self.pod, ns, name, delay=2.0)

    # ------------------------------------------------------------------------------------ volumes
    def _class_of(self, pvc):
        name = (pvc.get("spec") or {}).get("storageClassName")
        return self.c.get(self.sc_rt, "", name) if name else None

    def pvc(self, ns, name):
        pvc = self.c.get(self.pvc_rt, ns, name)
        if pvc is None or pvc["metadata"].get("deletionTimestamp"):
            return
        spec = pvc.get("spec") or {}
        if spec.get("volumeName") or (pvc.get("status") or {}).get("phase") == "Bound":
            return
        sc = self._class_of(pvc)
        if sc is None:
            return  # no class (yet): the claim stays Pending, as with no provisioner
        if sc.get("volumeBindingMode") == "WaitForFirstConsumer" and \
                not (pvc["metadata"].get("annotations") or {}).get(SELECTED):
            return
        pv_name = f"pvc-{pvc['metadata']['uid']}"
        if self.c.get(self.pv_rt, "", pv_name) is not None:
            return
        size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        try:
            self.c.create({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {
                "name": pv_name, "annotations": {"pv.kubernetes.io/provisioned-by": sc.get("provisioner", "")}},
                "spec": {"capacity": {"storage": size},
                         "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                         "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy") or "Delete",
                         "storageClassName": sc["metadata"]["name"],
                         "volumeMode": spec.get("volumeMode") or "Filesystem",
                         "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": ns,
                                      "name": name, "uid": pvc["metadata"]["uid"]},
                         "csi": {"driver": sc.get("provisioner") or "ebs.csi.aws.com",
                                 "volumeHandle": f"vol-{_hash(pvc['metadata']['uid'], 17)}"}}},
                manager="kofsim-provisioner")
        except E.ApiError as err:
            if err.code in RETRY_CODES and err.reason != "AlreadyExists":
                raise

    def pv(self, name):
        pv = self.c.get(self.pv_rt, "", name)
        if pv is None or pv["metadata"].get("deletionTimestamp"):
            return
        if (pv.get("status") or {}).get("phase") == "Released" and \
                (pv.get("spec") or {}).get("persistentVolumeReclaimPolicy") == "Delete":
            self.c.delete(self.pv_rt, "", name)

    # ------------------------------------------------------------------------------------ services
    def service(self, ns, name):
        rt = self.c.resource("", "services")
        svc = self.c.get(rt, ns, name)
        if svc is None or (svc.get("spec") or {}).get("type") != "LoadBalancer" or not self.lb_domain:
            return
        if ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress"):
            return
        host = f"{_hash(svc['metadata']['uid'])}-{int(_hash(ns + '/' + name, 7), 16) % 10 ** 8}.{self.lb_domain}"
        self.c.set_status(svc, dict(svc.get("status") or {}, loadBalancer={"ingress": [{"hostname": host}]}),
                          manager="service-lb-controller")
