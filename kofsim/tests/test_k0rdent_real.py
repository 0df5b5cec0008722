"""kofsim's simulated k0rdent on the real kube-apiserver only: what the emulator cannot show about the controllers'
process (`kofsim controllers`). The behaviour both backends share is tested by test_k0rdent.py on both.

- optimistic concurrency: a write computed from a stale read is the real server's 409, which the controllers
  retry, and their state converges while another client keeps writing the same object;
- the process: `kofsim up --api real` starts it, `down` stops it with the workload clusters' control planes, a
  restarted process finds its clusters again and creates nothing twice;
- kcm's ValidatingWebhookConfiguration, as kube-apiserver calls it (and refuses writes while it is down)."""
from __future__ import annotations

import json
import os
import threading
import time

import pytest

from kofsim import errors as E
from kofsim import realapi
from kofsim.k0rdent import api
from kofsim.k0rdent.rest import RestClient
from kofsim.testing import RealKube
from test_k0rdent import NS, child_cd, wait_for

MISSING = realapi.missing()
pytestmark = pytest.mark.skipif(bool(MISSING) and not os.environ.get("KOFSIM_REQUIRE_REAL"),
                                reason=f"real control plane not built: {MISSING}")
CD = ("k0rdent.mirantis.com", "clusterdeployments")


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    k = RealKube(tmp_path_factory.mktemp("real"), k0rdent=True)
    k.start()
    yield k
    k.stop()


def ready(cd) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in (cd.get("status") or {}).get("conditions") or [])


def test_a_stale_write_is_the_real_servers_409_and_the_controllers_converge(real):
    client = RestClient(real.kubeconfig)
    res = client.resource(*CD)
    cd = client.create(child_cd("conflicts", services=[]))
    wait_for(lambda: ready(client.get(res, NS, "conflicts")), "Ready", timeout=90)
    # a status computed from a read that another writer has overtaken: kube-apiserver answers 409
    stale = client.get(res, NS, "conflicts")
    moved = api.mutable(stale)
    moved["metadata"].setdefault("labels", {})["moved"] = "yes"
    client.update(moved)
    with pytest.raises(E.ApiError) as conflict:
        client.set_status(stale, dict(stale["status"], observedGeneration=0))
    assert conflict.value.code == 409 and "the object has been modified" in conflict.value.message
    assert api.retry_delay(conflict.value, 0) is not None  # the controllers' runtime retries it

    # another client keeps changing the spec while kcm's controller writes status.observedGeneration
    before = real.log().count("Operation cannot be fulfilled")
    writer_conflicts = []

    def writer():
        for n in range(40):
            while True:
                cur = client.get(res, NS, "conflicts")
                body = api.mutable(cur)
                body["spec"]["config"]["workersNumber"] = 3 + n % 5
                body["spec"]["config"]["publicIP"] = bool(n % 2)
                try:
                    client.update(body)
                    break
                except E.ApiError as err:
                    assert err.code == 409, err.message
                    writer_conflicts.append(err.message)
    t = threading.Thread(target=writer)
    t.start()
    t.join(timeout=120)
    final = wait_for(lambda: (lambda c: c if c["status"].get("observedGeneration") == c["metadata"]["generation"]
                              and ready(c) else None)(client.get(res, NS, "conflicts")),
                     "observedGeneration caught up", timeout=60)
    assert final["metadata"]["generation"] >= 40
    retried = real.log().count("Operation cannot be fulfilled") - before
    print(f"409s: controllers retried {retried}, the writer met {len(writer_conflicts)}")
    assert retried + len(writer_conflicts) > 0
    client.delete(res, NS, "conflicts")
    wait_for(lambda: client.get(res, NS, "conflicts") is None, "deleted", timeout=60)


def test_the_webhook_configuration_and_a_controllers_restart(real):
    """kcm's webhooks are a real ValidatingWebhookConfiguration served by the controllers' process: while it
    is down, kube-apiserver refuses ClusterDeployment writes (failurePolicy Fail); restarted, it serves again,
    finds the workload cluster it had started, and creates nothing twice."""
    client = RestClient(real.kubeconfig)
    vwc = client.get(client.resource("admissionregistration.k8s.io", "validatingwebhookconfigurations"), "",
                     "kcm-validating-webhook-configuration")
    hooks = {h["name"]: h for h in vwc["webhooks"]}
    assert set(hooks) == {"validation.clusterdeployment.k0rdent.mirantis.com",
                          "validation.clustertemplate.k0rdent.mirantis.com",
                          "validation.servicetemplate.k0rdent.mirantis.com"}
    cdhook = hooks["validation.clusterdeployment.k0rdent.mirantis.com"]
    assert (cdhook["failurePolicy"], cdhook["sideEffects"]) == ("Fail", "None")
    assert cdhook["clientConfig"]["url"].startswith("https://127.0.0.1:")
    res = client.resource(*CD)
    client.create(child_cd("survivor", services=[]))
    wait_for(lambda: ready(client.get(res, NS, "survivor") or {}), "Ready", timeout=90)
    assert real.workload_clusters() == [f"{NS}/survivor"]
    plane_pid = realapi.read_pids(real.dir / "clusters" / f"{NS}--survivor")["kube-apiserver"]

    # the process stopped: its webhook does not answer
    pid = real.pids()[realapi.CONTROLLERS]
    realapi.stop_process(real.dir, realapi.CONTROLLERS, pid)
    with pytest.raises(E.ApiError) as down:
        client.create(child_cd("refused", services=[]))
    assert down.value.code == 500 and 'failed calling webhook "validation.clusterdeployment.k0rdent.mirantis.com"' \
        in down.value.message
    # started again: the same cluster (same process), nothing new
    real.restart(realapi.CONTROLLERS)
    assert realapi.read_pids(real.dir / "clusters" / f"{NS}--survivor")["kube-apiserver"] == plane_pid
    client.create(child_cd("second", services=[]))
    wait_for(lambda: ready(client.get(res, NS, "second") or {}), "Ready", timeout=90)
    assert real.workload_clusters() == [f"{NS}/second", f"{NS}/survivor"]
    survivor = client.get(res, NS, "survivor")
    assert ready(survivor)
    secrets = [s["metadata"]["name"] for s in client.list(client.resource("", "secrets"), NS)]
    assert sorted(n for n in secrets if n.endswith("-kubeconfig")) == ["second-kubeconfig", "survivor-kubeconfig"]
    for name in ("survivor", "second"):
        client.delete(res, NS, name)
    wait_for(lambda: not real.workload_clusters(), "the workload clusters gone", timeout=90)


SUMMARIES = ("config.projectsveltos.io", "clustersummaries")
CERT_MANAGER = [{"name": "cert-manager", "namespace": "kof", "template": "cert-manager-1-16-2"}]


def _provisioned(client, name):
    cs = client.get(client.resource(*SUMMARIES), NS, name)
    return cs if cs and all(f.get("status") == "Provisioned"
                            for f in (cs.get("status") or {}).get("featureSummaries") or [{}]) else None


def test_a_missing_cluster_summary_is_made_again_across_a_restart(real):
    """Sveltos' stand-in watches its own kinds, as the real addon-controller does: a ClusterSummary that goes while
    its Profile still selects the cluster is made again, by the running process and by a restarted one (whose
    informers list every Profile anew and reconcile each: nothing depends on what the old process had scheduled)."""
    client = RestClient(real.kubeconfig)
    res, summaries = client.resource(*CD), client.resource(*SUMMARIES)
    name = "p--summarized-capi-summarized"
    client.create(child_cd("summarized", services=CERT_MANAGER))
    first = wait_for(lambda: _provisioned(client, name), "the ClusterSummary Provisioned", timeout=120)
    # deleted while the controllers run
    client.delete(summaries, NS, name)
    again = wait_for(lambda: (lambda cs: cs if cs and cs["metadata"]["uid"] != first["metadata"]["uid"] and
                              _provisioned(client, name) else None)(client.get(summaries, NS, name)),
                     "the ClusterSummary made again", timeout=60)
    # deleted while the controllers are down: the restarted process makes it again
    realapi.stop_process(real.dir, realapi.CONTROLLERS, real.pids()[realapi.CONTROLLERS])
    client.delete(summaries, NS, name)
    wait_for(lambda: client.get(summaries, NS, name) is None, "the ClusterSummary gone", timeout=30)
    real.restart(realapi.CONTROLLERS)
    wait_for(lambda: (lambda cs: cs if cs and cs["metadata"]["uid"] != again["metadata"]["uid"] and
                      _provisioned(client, name) else None)(client.get(summaries, NS, name)),
             "the ClusterSummary made by the restarted controllers", timeout=90)
    assert ready(client.get(res, NS, "summarized"))
    client.delete(res, NS, "summarized")
    wait_for(lambda: client.get(res, NS, "summarized") is None, "deleted", timeout=60)
    wait_for(lambda: client.get(summaries, NS, name) is None, "its ClusterSummary collected", timeout=60)


def test_down_stops_the_controllers_and_every_workload_plane(tmp_path):
    k = RealKube(tmp_path / "plane", k0rdent=True)
    k.start()
    try:
        client = RestClient(k.kubeconfig)
        client.create(child_cd("gone", services=[]))
        wait_for(lambda: k.workload_clusters() == [f"{NS}/gone"], "a workload plane", timeout=90)
        plane = realapi.read_pids(tmp_path / "plane" / "clusters" / f"{NS}--gone")
        pids = dict(k.pids(), **{f"plane {n}": p for n, p in plane.items()})
        assert set(k.pids()) == {"etcd", "kube-apiserver", "kube-controller-manager", realapi.CONTROLLERS}
    finally:
        k.stop()
    assert not any(realapi._alive(p) for p in pids.values()), pids
    assert json.loads(json.dumps(realapi.read_pids(tmp_path / "plane"))) == {}
    time.sleep(0.1)
