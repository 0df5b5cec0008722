"""kofsim's control API against a running server: authentication, fault injection (each kind, count,
path_regex, methods, Retry-After, dropped connections), the request log and reset."""
from __future__ import annotations

import http.client as httpc
import json
import ssl
import time

import pytest
from kofsim_clients import kubectl


def call(k, method, path, *, token=None, body=None, content_type="application/json"):
    """One raw HTTPS request; returns (status, headers, parsed body or None)."""
    ctx = ssl.create_default_context(cafile=k.ca_file)
    conn = httpc.HTTPSConnection("127.0.0.1", k.port, context=ctx, timeout=30)
    headers = {"Accept": "application/json"}
    if token is not False:
        headers["Authorization"] = f"Bearer {token or k.token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = content_type
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, dict(resp.getheaders()), (json.loads(raw) if raw else None)
    finally:
        conn.close()


CM = "/api/v1/namespaces/default/configmaps"


def cm(name, data=None):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data or {"a": "1"}}


@pytest.fixture(autouse=True)
def fresh(bare):
    bare.reset()
    yield
    bare.clear_faults()


def test_bearer_token_is_required(bare):
    st, _, body = call(bare, "GET", CM, token=False)
    assert st == 401 and body["reason"] == "Unauthorized" and body["kind"] == "Status"
    assert call(bare, "GET", CM, token="wrong")[0] == 401
    assert call(bare, "GET", "/kofsim/requests", token="wrong")[0] == 401
    assert call(bare, "GET", CM)[0] == 200
    # the failed attempts are in the request log, with their status
    assert [r["status"] for r in bare.requests() if r["path"] == CM] == [401, 401, 200]


def test_error_faults_count_and_path_regex(bare):
    for kind, reason in (("500", "InternalError"), ("503", "ServiceUnavailable")):
        bare.set_faults(kinds=[kind], count=1, path_regex="/configmaps$")
        assert call(bare, "GET", "/api/v1/namespaces/default/secrets")[0] == 200  # path does not match
        st, _, body = call(bare, "GET", CM)
        assert (st, body["reason"]) == (int(kind), reason)
        assert call(bare, "GET", CM)[0] == 200  # count exhausted
    faulted = [r for r in bare.requests() if r.get("fault")]
    assert [(r["fault"], r["status"]) for r in faulted] == [("500", 500), ("503", 503)]


def test_429_carries_retry_after_and_clients_honour_it(bare):
    bare.set_faults(kinds=["429"], count=1, retry_after=1, path_regex="/configmaps")
    st, headers, body = call(bare, "GET", CM)
    assert st == 429 and headers["Retry-After"] == "1" and body["details"]["retryAfterSeconds"] == 1
    # client-go (kubectl) waits Retry-After and retries on its own
    bare.set_faults(kinds=["429"], count=1, retry_after=1, path_regex="/configmaps")
    seq = bare.last_seq()
    t0 = time.monotonic()
    kubectl(bare, "get", "configmaps", "-n", "default")
    assert time.monotonic() - t0 >= 1.0
    assert [r["status"] for r in bare.requests(since=seq) if r["path"].endswith("/configmaps")] == [429, 200]


def test_conflicts_only_for_updates_and_methods_filter(bare):
    assert call(bare, "POST", CM, body=cm("c"))[0] == 201
    bare.set_faults(kinds=["409"], count=1)
    assert call(bare, "GET", f"{CM}/c")[0] == 200  # a conflict is no answer to a read
    st, _, body = call(bare, "PATCH", f"{CM}/c", body={"data": {"a": "2"}},
                       content_type="application/merge-patch+json")
    assert st == 409 and body["reason"] == "Conflict"
    bare.set_faults(kinds=["500"], methods=["DELETE"])
    assert call(bare, "PATCH", f"{CM}/c", body={"data": {"a": "3"}},
                content_type="application/merge-patch+json")[0] == 200
    assert call(bare, "DELETE", f"{CM}/c")[0] == 500
    bare.clear_faults()
    assert call(bare, "DELETE", f"{CM}/c")[0] == 200


def test_dropped_connection_and_latency(bare):
    bare.set_faults(kinds=["drop"], count=1, path_regex="/configmaps")
    with pytest.raises((httpc.RemoteDisconnected, ConnectionResetError)):
        call(bare, "GET", CM)
    assert call(bare, "GET", CM)[0] == 200
    assert [r["status"] for r in bare.requests() if r["path"] == CM][-2:] == [-1, 200]

    bare.set_faults(kinds=["latency"], latency_ms=400, path_regex="/configmaps")
    t0 = time.monotonic()
    assert call(bare, "GET", CM)[0] == 200
    assert time.monotonic() - t0 >= 0.4


def test_a_seed_repeats_the_same_faults(bare):
    """With a seed the draws are the same every time: the same requests, in the same order, get the same faults."""
    def faults_of_40_gets():
        seq = bare.last_seq()
        bare.set_faults(rate=0.3, kinds=["500", "503"], seed=7, path_regex="/configmaps$")
        statuses = [call(bare, "GET", CM)[0] for _ in range(40)]
        bare.clear_faults()
        assert statuses == [r["status"] for r in bare.requests(since=seq) if r["path"] == CM]
        return statuses
    first = faults_of_40_gets()
    assert 0 < sum(st != 200 for st in first) < 40 and {500, 503} <= set(first)
    assert faults_of_40_gets() == first
    st, _, body = call(bare, "PUT", "/kofsim/faults", body={"seed": "x"})
    assert st == 400 and "seed" in body["message"]


def test_fault_spec_is_validated(bare):
    for spec in ({"kinds": ["418"]}, {"rate": 2}, {"count": -1}, {"path_regex": "("}, {"colour": "red"}):
        st, _, body = call(bare, "PUT", "/kofsim/faults", body=spec)
        assert st == 400, spec
    # rate defaults to 1: every matching request
    st, _, body = call(bare, "PUT", "/kofsim/faults", body={"kinds": ["503"], "count": 2})
    assert st == 200 and body["rate"] == 1.0
    assert [call(bare, "GET", CM)[0] for _ in range(3)] == [503, 503, 200]


def test_reset_and_request_log(bare):
    assert call(bare, "POST", CM, body=cm("before-reset"))[0] == 201
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "scratch"}}
    assert call(bare, "POST", "/api/v1/namespaces", body=ns)[0] == 201
    bare.set_faults(kinds=["500"], path_regex="/never")
    entry = [r for r in bare.requests() if r["method"] == "POST"][-1]
    assert {"seq", "time", "method", "path", "query", "cluster", "status", "content_type", "accept",
            "user_agent", "dry_run"} <= set(entry)
    bare.reset()
    assert bare.call("GET", "/kofsim/faults") == {}
    assert bare.requests() == []  # the log is empty; seq numbers keep growing across resets
    assert call(bare, "GET", f"{CM}/before-reset")[0] == 404
    names = [n["metadata"]["name"] for n in call(bare, "GET", "/api/v1/namespaces")[2]["items"]]
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]
    # dry runs are logged but are not writes
    assert call(bare, "POST", CM + "?dryRun=All", body=cm("dry"))[0] == 201
    assert bare.writes() == [] and bare.requests()[-1]["dry_run"] is True
