"""The shared runner of the resource modules (module_utils/kof_module.py), driven with a fake module and a fake
API client recording its calls: which requests a run sends, when it writes, check mode, the missing-Secret
policy, a CRD that is not served, absent, and the wait's timeout message."""
from __future__ import annotations

import copy

import pytest

from ansible_collections.k0rdent.kof.plugins.module_utils import kof_module
from ansible_collections.k0rdent.kof.plugins.module_utils.compare import FIELD_MANAGER, fieldset
from ansible_collections.k0rdent.kof.plugins.module_utils.kof_resources import (
    REDACTED, ValidationError, promxy_server_group)
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import KubeError

PARAMS = {"cluster_name": "r1", "regional_domain": "r1.example.com", "state": "present", "missing_secret": "warn",
          "wait": False, "wait_timeout": 1, "wait_sleep": 0}
SECRET_PATH = "/api/v1/namespaces/kof/secrets/storage-vmuser-credentials"
PSG_PATH = "/apis/kof.k0rdent.mirantis.com/v1alpha1/namespaces/kof/promxyservergroups/r1-metrics"


class Exit(Exception):
    pass


class FakeModule:
    def __init__(self, check_mode=False, diff=False, **params):
        self.params = dict(PARAMS, **params)
        self.check_mode = check_mode
        self._diff = diff
        self.warnings = []

    def warn(self, msg):
        self.warnings.append(msg)

    def fail_json(self, **kw):
        raise Exit(dict(kw, failed=True))

    def exit_json(self, **kw):
        raise Exit(kw)


class FakeKube:
    """Objects by path; a path in `not_served` answers 404 without details, as for a missing CRD."""

    host = "https://api.example.com:6443"

    def __init__(self, objects=None, not_served=()):
        self.objects = copy.deepcopy(objects or {})
        self.not_served = not_served
        self.calls = []
        self.requests = 0

    def get(self, path, query=None):
        self.calls.append(("GET", path))
        self.requests += 1
        if any(path.startswith(p) for p in self.not_served):
            raise KubeError("404", status=404, body={"details": {}})
        return copy.deepcopy(self.objects.get(path))

    def apply(self, path, obj, dry_run=False, field_manager=FIELD_MANAGER, force=True):
        self.calls.append(("APPLY-dry" if dry_run else "APPLY", path))
        self.requests += 1
        new = copy.deepcopy(obj)
        new["metadata"].update(uid="u1", generation=1, managedFields=[
            {"manager": field_manager, "operation": "Apply",
             "fieldsV1": _fields_v1(fieldset(obj))}])
        if not dry_run:
            self.objects[path] = new
        return copy.deepcopy(new)

    def delete(self, path, propagation="Foreground", dry_run=False):
        self.calls.append(("DELETE-dry" if dry_run else "DELETE", path))
        self.requests += 1
        if not dry_run:
            self.objects.pop(path, None)


def _fields_v1(paths):
    root = {}
    for path in paths:
        node = root
        for part in path:
            node = node.setdefault(part, {})
    return root


def runner(module, kube):
    return kof_module.ResourceRunner(module, kube)


def present(module, kube):
    result = {}
    runner(module, kube).present(promxy_server_group(module.params), result)
    return result


def test_create_then_no_op():
    kube = FakeKube({SECRET_PATH: {"data": {"password": "c2VjcmV0"}}})
    first = present(FakeModule(diff=True), kube)
    assert first["changed"] and first["method"] == "create"
    assert kube.calls == [("GET", PSG_PATH), ("GET", SECRET_PATH), ("APPLY", PSG_PATH)]
    assert first["diff"]["before"] == {} and first["diff"]["after"]["metadata"]["name"] == "r1-metrics"
    assert "managedFields" not in first["result"]["metadata"]
    kube.calls.clear()
    again = present(FakeModule(), kube)
    assert not again["changed"] and again["method"] == "none"
    assert kube.calls == [("GET", PSG_PATH)]  # no Secret check, no write


def test_check_mode_is_a_server_side_dry_run():
    kube = FakeKube({SECRET_PATH: {}})
    result = present(FakeModule(check_mode=True), kube)
    assert result["changed"] and kube.calls[-1] == ("APPLY-dry", PSG_PATH) and PSG_PATH not in kube.objects


def test_update_when_a_field_changes():
    kube = FakeKube({SECRET_PATH: {}})
    present(FakeModule(), kube)
    result = present(FakeModule(diff=True, dial_timeout="10s"), kube)
    assert result["method"] == "update"
    assert result["diff"]["before"]["spec"]["http_client"]["dial_timeout"] == "5s"
    assert result["diff"]["after"]["spec"]["http_client"]["dial_timeout"] == "10s"


@pytest.mark.parametrize("policy, fails, warns", [("fail", True, False), ("warn", False, True),
                                                  ("ignore", False, False)])
def test_missing_secret_policy(policy, fails, warns):
    kube = FakeKube()
    module = FakeModule(missing_secret=policy)
    if fails:
        with pytest.raises(KubeError, match="missing_secret: the credentials Secret kof/storage-vmuser-credentials"):
            present(module, kube)
        assert [c for c in kube.calls if c[0].startswith("APPLY")] == []
    else:
        present(module, kube)
        assert kube.calls[-1] == ("APPLY", PSG_PATH)
    assert bool(module.warnings) == warns
    assert (("GET", SECRET_PATH) in kube.calls) == (policy != "ignore")


def test_crd_not_served():
    kube = FakeKube(not_served=("/apis/kof.k0rdent.mirantis.com/",))
    with pytest.raises(KubeError, match=r"PromxyServerGroup \(kof.k0rdent.mirantis.com/v1alpha1\) is not served "
                                        r"by the Kubernetes API at https://api.example.com:6443"):
        present(FakeModule(), kube)
    module = FakeModule(check_mode=True, diff=True)
    result = present(module, kube)
    assert result["changed"] and result["method"] == "create" and result["diff"]["before"] == {}
    assert "check mode: reporting that it would be created" in module.warnings[0]
    assert kube.calls.count(("GET", PSG_PATH)) == 2 and len(kube.calls) == 2


def test_absent():
    kube = FakeKube({SECRET_PATH: {}})
    present(FakeModule(), kube)
    obj = promxy_server_group(PARAMS)
    result = {}
    runner(FakeModule(check_mode=True), kube).absent(obj, result)
    assert result["changed"] and kube.calls[-1] == ("DELETE-dry", PSG_PATH) and PSG_PATH in kube.objects
    result = {}
    runner(FakeModule(wait=True), kube).absent(obj, result)
    assert result == {"changed": True, "method": "delete", "result": {}} and PSG_PATH not in kube.objects
    kube.calls.clear()
    result = {}
    runner(FakeModule(), kube).absent(obj, result)
    assert not result["changed"] and kube.calls == [("GET", PSG_PATH)]


def test_wait_timeout_names_what_and_why():
    with pytest.raises(KubeError, match="timed out after 0s waiting until the thing happened: still pending"):
        runner(FakeModule(wait_timeout=0, wait_sleep=0), FakeKube()).wait_until(
            lambda: (False, "still pending"), "the thing happened")
    assert runner(FakeModule(), FakeKube()).wait_until(lambda: (True, ""), "x") is True


def test_run_validates_before_creating_a_client():
    def build(params):
        raise ValidationError("targets entry 'x' is not host:port")
    with pytest.raises(Exit) as out:
        kof_module.run(FakeModule(), build, build)
    assert out.value.args[0] == {"msg": "targets entry 'x' is not host:port", "failed": True}


def test_shown_masks_and_drops_managed_fields():
    obj = {"kind": "GrafanaDatasource", "metadata": {"managedFields": [{}]},
           "spec": {"datasource": {"secureJsonData": {"basicAuthPassword": "x"}}}}
    shown = kof_module.shown(obj)
    assert shown == {"kind": "GrafanaDatasource", "metadata": {},
                     "spec": {"datasource": {"secureJsonData": {"basicAuthPassword": REDACTED}}}}
