"""kcm's ServiceSet controller (mcs.py) waiting for a non-optional templateResourceRef, on the emulator's in-process
API and scheduler, in virtual time: a Simulator whose event loop is a clock the test advances, so the built-in
Controllers' scheduling (one pending run per key) and the layer's back-off polls run exactly as in `kofsim up`, with
no sleeping and no timing margin.

- The referenced object appearing wakes the ServiceSet at once, also while a timed back-off poll is pending: the
  poll is scheduled under its own key, so the wake-up is not swallowed by it (the poll would come seconds later).
- The kof-child MultiClusterService's ChildConfig (`kof-cluster-config-<cd>`, not optional) missing is such a wait
  too (Provisioning, no failure), as in Sveltos v1.9.0, which kcm v1.10.0 deploys: collectTemplateResourceRefs'
  NotFound requeues the ClusterSummary before anything is deployed and sets no failure message."""
from __future__ import annotations

import heapq
import itertools

import pytest

from kofsim.server import Simulator

G = "k0rdent.mirantis.com"
NS = "kcm-system"
TEMPLATE = "ingress-nginx-4-12-1"  # a seeded, valid ServiceTemplate


class VirtualLoop:
    """What Controllers need of an asyncio loop (call_later), on a clock that only `advance` moves."""

    def __init__(self):
        self.now = 0.0
        self._queue: list = []
        self._seq = itertools.count()

    def call_later(self, delay, fn, *args, context=None):
        heapq.heappush(self._queue, (self.now + delay, next(self._seq), fn, args))

    def call_soon(self, fn, *args, context=None):
        self.call_later(0, fn, *args)

    def time(self):
        return self.now

    def due(self):
        """When each queued job runs, from now (seconds)."""
        return sorted(t - self.now for t, *_ in self._queue)

    def advance(self, seconds):
        end = self.now + seconds
        while self._queue and self._queue[0][0] <= end:
            due, _, fn, args = heapq.heappop(self._queue)
            self.now = max(self.now, due)
            fn(*args)
        self.now = end

    def until(self, predicate, within, step=0.05):
        """Advance in steps until predicate() is truthy; its value, or None after `within` virtual seconds."""
        start = self.now
        while self.now - start <= within:
            value = predicate()
            if value:
                return value
            self.advance(step)
        return None


@pytest.fixture
def sim():
    s = Simulator(ready_after=0.0)
    s.kcm_api_version = "v1beta1"  # kcm 1.x (KOF 1.x): the MultiClusterService / ServiceSet controllers
    loop = VirtualLoop()
    s.start(loop)
    s.loop = loop
    s.layer = s.plugins[0].layer
    yield s
    for p in s.plugins:
        p.stop()


def _rt(sim, plural, group=G):
    return sim.layer.mgmt.resource(group, plural)


def _create(sim, obj):
    return sim.layer.mgmt.create(obj, manager="test")


def _cluster(sim, name):
    """A ClusterDeployment that becomes a (virtual) workload cluster; labelled for the test's MCS only."""
    _create(sim, {"apiVersion": f"{G}/v1beta1", "kind": "ClusterDeployment",
                  "metadata": {"name": name, "namespace": NS, "labels": {"kofsim-test": "waiting"}},
                  "spec": {"template": "aws-standalone-cp-1-0-28", "credential": "aws-cluster-identity-cred",
                           "config": {"region": "us-east-2"}}})
    assert sim.loop.until(lambda: sim.layer.kcm.clusters.get((NS, name)), within=30), "the cluster never came"


def _mcs(sim, name, values, refs):
    _create(sim, {"apiVersion": f"{G}/v1beta1", "kind": "MultiClusterService", "metadata": {"name": name},
                  "spec": {"clusterSelector": {"matchLabels": {"kofsim-test": "waiting"}},
                           "serviceSpec": {"services": [{"name": "svc", "namespace": "svc", "template": TEMPLATE,
                                                         "values": values}],
                                           "templateResourceRefs": refs}}})


def _serviceset(sim, mcs):
    return next((s for s in sim.layer.mgmt.list(_rt(sim, "servicesets"), NS)
                 if s["spec"].get("multiClusterService") == mcs), None)


def _states(sim, mcs):
    ss = _serviceset(sim, mcs) or {}
    return [(s["state"], s.get("failureMessage", "")) for s in (ss.get("status") or {}).get("services") or []]


def _configmap(sim, name, data):
    _create(sim, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NS},
                  "data": data})


def test_referenced_object_wakes_the_serviceset_while_a_poll_is_pending(sim):
    _cluster(sim, "c1")
    _mcs(sim, "waits", 'controller:\n  replicaCount: {{ getField "Cfg" "data.replicas" }}\n',
         [{"identifier": "Cfg", "resource": {"apiVersion": "v1", "kind": "ConfigMap",
                                             "name": "cfg-{{ .Cluster.metadata.name }}"}}])
    assert sim.loop.until(lambda: _states(sim, "waits"), within=10) == [("Provisioning", "")]
    # the back-off polls (0.5, 1, 2, 4 s, ...) go on while the ConfigMap is missing: wait for the fourth run, the
    # next poll is then 4 s away
    key = (NS, _serviceset(sim, "waits")["metadata"]["name"])
    assert sim.loop.until(lambda: sim.layer.mcs.retries.get(key, 0) >= 4, within=10)
    sim.loop.advance(0.1)
    assert _states(sim, "waits") == [("Provisioning", "")]
    assert not _serviceset(sim, "waits")["status"]["deployed"]
    assert sim.loop.due() and sim.loop.due()[-1] > 3.0, sim.loop.due()  # a timed poll is pending
    # the referenced ConfigMap appears: the ServiceSet is deployed at once (its watch), not at the next poll
    _configmap(sim, "cfg-c1", {"replicas": "2"})
    t0 = sim.loop.now
    deployed = sim.loop.until(lambda: _serviceset(sim, "waits")["status"].get("deployed"), within=1.0)
    assert deployed, (f"not deployed {sim.loop.now - t0:.2f}s after the referenced ConfigMap appeared: "
                      f"{_states(sim, 'waits')}, queued jobs due in {sim.loop.due()}")
    assert sim.loop.now - t0 < 0.5
    assert _states(sim, "waits") == [("Deployed", "")]


def test_missing_child_config_waits_not_fails(sim):
    """kof-child v1.10.0's values read `getField "ChildConfig" ...` (the `mergeOverwrite` statement path of
    render_values); its ConfigMap `kof-cluster-config-<cd>` missing keeps the service Provisioning."""
    _cluster(sim, "c2")
    values = ('{{ $regionalClusterName := getField "ChildConfig" "data.regional_cluster_name" }}\n'
              '{{ $fromConfig := `controller: {name: "{r}"}` | replace "{r}" $regionalClusterName | fromYaml }}\n'
              '{{ $mergedValues := mergeOverwrite (dict) $fromConfig }}\n'
              '{{ $mergedValues | toYaml }}\n')
    _mcs(sim, "child", values,
         [{"identifier": "ChildConfig", "resource": {"apiVersion": "v1", "kind": "ConfigMap",
                                                     "name": "kof-cluster-config-{{ .Cluster.metadata.name }}",
                                                     "namespace": "{{ .Cluster.metadata.namespace }}"}}])
    assert sim.loop.until(lambda: _states(sim, "child"), within=10) == [("Provisioning", "")]
    sim.loop.advance(3)
    assert _states(sim, "child") == [("Provisioning", "")]
    _configmap(sim, "kof-cluster-config-c2", {"regional_cluster_name": "r1"})
    t0 = sim.loop.now
    assert sim.loop.until(lambda: _serviceset(sim, "child")["status"].get("deployed"), within=1.0), \
        _states(sim, "child")
    assert sim.loop.now - t0 < 0.5
    assert _states(sim, "child") == [("Deployed", "")]


def test_release_state_kept_at_install_is_helms_record(sim):
    """Sveltos' helm (Layer.install) keeps the state of the revision it wrote instead of parsing its manifest back;
    that state is what reading helm's release Secret gives (what a restarted emulator or a second revision sees)."""
    _cluster(sim, "c3")
    _mcs(sim, "plain", "controller:\n  replicaCount: 2\n", [])
    assert sim.loop.until(lambda: (_serviceset(sim, "plain") or {}).get("status", {}).get("deployed"), within=10), \
        _states(sim, "plain")
    target = sim.layer.fleet.client(f"{NS}/c3")
    kept = sim.layer.release(target, "svc", "svc")
    assert kept and kept["objects"] and kept["revision"] == 1
    sim.layer._releases.clear()
    assert sim.layer.release(target, "svc", "svc") == kept
