"""helm-controller v1.5.5 records every generation of an in-sync HelmRelease without a Helm action: a spec change
that touches neither chart nor values (spec.interval) bumps metadata.generation; the reconcile finds the release
ReleaseStatusInSync (internal/reconcile/atomic_release.go actionForState returns no action), AtomicRelease.Reconcile
then deletes Reconciling and calls summarize (internal/reconcile/release.go), which sets Ready with
ObservedGeneration = metadata.generation, and the controller's deferred patch (internal/controller/
helmrelease_controller.go Reconcile, patch.WithStatusObservedGeneration) sets status.observedGeneration. No new
revision, no history entry; Released keeps the generation of its last release action."""
from __future__ import annotations

import json

import pytest

from kofsim_clients import kubectl
from test_flux_1x import all_ready, cond, hrs, install, kofsim_1x
from test_k0rdent import wait_for


@pytest.fixture(scope="module")
def k1(tmp_path_factory):
    yield from kofsim_1x(tmp_path_factory, "flux-gen-1x")


def test_interval_change_records_generation_without_upgrade(k1):
    install(k1)
    before = wait_for(lambda: all_ready(k1), "every HelmRelease Ready", timeout=90)["kof-operators"]
    gen0 = before["metadata"]["generation"]
    assert cond(before, "Ready")["observedGeneration"] == gen0
    kubectl(k1, "patch", "helmrelease", "-n", "kof", "kof-operators", "--type=merge",
            "-p", json.dumps({"spec": {"interval": "7m"}}))

    def recorded():
        hr = hrs(k1)["kof-operators"]
        gen = hr["metadata"]["generation"]
        ok = gen > gen0 and hr["status"].get("observedGeneration") == gen \
            and cond(hr, "Ready").get("observedGeneration") == gen
        return hr if ok else None

    after = wait_for(recorded, "kof-operators Ready for its new generation", timeout=10)
    assert after["metadata"]["generation"] == gen0 + 1
    assert after["spec"]["interval"] == "7m"
    ready, released = cond(after, "Ready"), cond(after, "Released")
    assert ready["status"] == "True"
    assert (ready["reason"], ready["message"]) == (released["reason"], released["message"])
    assert ready["lastTransitionTime"] == cond(before, "Ready")["lastTransitionTime"]
    assert released == cond(before, "Released")  # summarize re-sets only Ready
    assert not cond(after, "Reconciling")
    # no Helm action: same revision, same history, same last attempt
    for key in ("history", "lastAttemptedRevision", "lastAttemptedConfigDigest", "lastAttemptedReleaseAction"):
        assert after["status"].get(key) == before["status"].get(key), key
    assert after["status"]["history"][0]["version"] == before["status"]["history"][0]["version"]
    assert after["status"]["lastAttemptedGeneration"] == gen0 + 1
