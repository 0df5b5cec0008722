"""`kofsim controllers`: kofsim's simulated k0rdent as a process of API clients against a kube-apiserver.

The same controllers as the emulator's k0rdent layer (layer.Layer: kcm, Sveltos, the KOF operators, helm on the
workload clusters), here on rest.RestClient informers and one worker thread (rest.ThreadRuntime), with:

- kcm's validating webhooks served over TLS on loopback and registered as a ValidatingWebhookConfiguration
  (webhook.py);
- one real control plane per ClusterDeployment (realfleet.py), reached through the `<name>-kubeconfig` Secret;
- kofsim's node simulation on every cluster, the management cluster included (kubelet.py): pods Running, claims
  bound, load balancers; kube-controller-manager does the rest.

`kofsim up --api real` starts it (`<dir>/pids` names it `kofsim-controllers`; its log is
`<dir>/logs/kofsim-controllers.log`) and `kofsim down` stops it. On start it seeds what a k0rdent 0.1 management
cluster has (a kcm 1.x one with KOFSIM_KCM_API_VERSION=v1beta1: `kcm_version` in controllers.json, written by `up`)
once (what exists is left alone), registers the webhooks, writes `<dir>/controllers.ready`, and runs until SIGTERM.
Restarted, it finds the workload clusters again and its informers list everything anew: nothing is created twice.
"""
from __future__ import annotations

import faulthandler
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from .kubelet import NodeSim
from .layer import Layer, Settings
from .realfleet import RealFleet
from .rest import RestClient, ThreadRuntime
from .webhook import WebhookServer

log = logging.getLogger("kofsim.k0rdent")


def run(state_dir, kubeconfig=None, *, ready_after: float | None = None, simulate_nodes: bool = True) -> int:
    d = Path(state_dir).resolve()
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # kill -USR1 <pid>: every thread's stack in the log
    logging.basicConfig(level=os.environ.get("KOFSIM_LOG", "INFO"), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings_file = d / "controllers.json"
    settings = json.loads(settings_file.read_text()) if settings_file.exists() else {}
    if ready_after is not None:
        settings["ready_after"] = ready_after
    (d / "controllers.ready").unlink(missing_ok=True)
    runtime = ThreadRuntime()
    mgmt = RestClient(str(kubeconfig or d / "kubeconfig"), name="", dispatch=runtime.call_soon)
    fleet = RealFleet(d, dispatch=runtime.call_soon)

    def on_cluster(cid, client):
        if not simulate_nodes:
            return
        fleet.nodes[cid] = NodeSim(client, runtime.scope(cid), lb_domain=fleet.lb_domain(cid) if cid else None,
                                   crashloops=lambda: fleet.crashloops(cid))

    t0 = time.monotonic()
    # kcm 0.1.x (v1alpha1) by default; v1beta1: kcm 1.x and KOF 1.x, as the emulator (`up` writes the version it
    # installed the CRDs of into controllers.json, so a restarted process keeps it)
    kcm_version = settings.get("kcm_version") or os.environ.get("KOFSIM_KCM_API_VERSION") or "v1alpha1"
    layer = Layer(mgmt, runtime, fleet, kcm_version=kcm_version, settings=Settings(settings.get("ready_after", 0)),
                  on_cluster=on_cluster)
    hook = WebhookServer(layer.kcm, d).start()
    hook.register(mgmt)
    layer.seed()
    runtime.start()
    # workload clusters whose ClusterDeployment went while the controllers were away
    runtime.schedule(("", "orphans"), _remove_orphans, layer, delay=5.0)
    (d / "controllers.ready").write_text(json.dumps({"pid": os.getpid(), "webhook_port": hook.port}) + "\n")
    log.info("kofsim controllers: serving %s (kcm %s, webhook https://127.0.0.1:%s) in %.1f s", mgmt.server,
             kcm_version, hook.port, time.monotonic() - t0)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass
    log.info("kofsim controllers: stopping")
    (d / "controllers.ready").unlink(missing_ok=True)
    hook.stop()
    runtime.stop()
    mgmt.close()
    fleet.stop()
    return 0


def _remove_orphans(layer):
    cds = {f"{cd['metadata']['namespace']}/{cd['metadata']['name']}"
           for cd in layer.kcm.list("k0rdent.mirantis.com", "clusterdeployments")}
    for cid in layer.fleet.ids():
        if cid not in cds:
            log.info("removing the workload cluster %s: its ClusterDeployment is gone", cid)
            layer.fleet.remove(cid)
