"""Real VictoriaLogs single-node (kofsim/realvm/kofvl.py, built by make setup): a gzip JSON-lines round trip
between two instances with basic auth. A: /insert/jsonline (gzip body, _msg_field/_time_field/_stream_fields);
export A with /select/logsql/query?query=* (gzip answer); re-ingest the export into B through /insert/jsonline
(gzip, no _stream_fields: B rebuilds the streams from _stream); B must return the same rows. Skips only when the
binary is not built (no Go at setup)."""
import gzip
import json
import os
import sys
import time
from datetime import datetime, timezone

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "kofsim", "realvm"))
import kofvl  # noqa: E402

N = 24  # rows: enough for an export above gzhttp's 1 KiB minimum, so the answer really is gzip


def source_lines(now: float) -> list[bytes]:
    out = []
    for i in range(N):
        t = datetime.fromtimestamp(now - 60 + i, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        out.append(json.dumps({"message": f"cost report {i:02d}: cluster region1-c{i % 4:02d} exported",
                               "ts": t, "app": "kof-finops", "cluster": f"region1-c{i % 4:02d}",
                               "level": "info" if i % 3 else "warn", "seq": str(i)}).encode())
    return out


class Pair:
    """A (user alice) loaded with the source lines, B (user bob) empty."""

    def __init__(self, a, b, lines, accepted):
        self.a, self.b, self.lines, self.accepted = a, b, lines, accepted


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    if not kofvl.binary():
        pytest.skip(f"victoria-logs not built in {kofvl.BIN_DIR}: run make setup (needs go)")
    d = str(tmp_path_factory.mktemp("vl"))
    a = kofvl.VictoriaLogs(d, username="alice", password="a-secret").start()
    try:
        b = kofvl.VictoriaLogs(d, username="bob", password="b-secret").start()
    except Exception:
        a.stop()
        raise
    try:
        lines = source_lines(time.time())
        # gzip body, the source's own field names, then /internal/force_flush
        accepted = kofvl.ingest_jsonline(a.url, lines, auth=a.auth, msg_field="message", time_field="ts",
                                         stream_fields="app,cluster")
        yield Pair(a, b, lines, accepted)
    finally:
        b.stop()
        a.stop()


def rows(body: bytes) -> list[dict]:
    return [json.loads(ln) for ln in body.splitlines() if ln.strip()]


def assert_same_rows(rows_a: list[dict], rows_b: list[dict]) -> None:
    """B holds what A held: the same number of rows, the same _msg values, the same rows field by field (but
    _stream_id, which carries the tenant)."""
    assert len(rows_b) == len(rows_a)
    assert sorted(r["_msg"] for r in rows_b) == sorted(r["_msg"] for r in rows_a)
    key = lambda r: (r["_time"], r["_msg"])  # noqa: E731
    strip = lambda r: {k: v for k, v in r.items() if k != "_stream_id"}  # noqa: E731
    assert [strip(r) for r in sorted(rows_b, key=key)] == [strip(r) for r in sorted(rows_a, key=key)]


def test_health_is_open_but_data_needs_auth(two):
    a = two.a
    assert kofvl.request(a.url, "/health")[0] == 200
    assert kofvl.request(a.url, "/select/logsql/query", params={"query": "*"})[0] == 401
    assert kofvl.request(a.url, "/select/logsql/query", params={"query": "*"}, auth=("alice", "wrong"))[0] == 401
    assert kofvl.request(a.url, "/internal/force_flush")[0] == 401
    with pytest.raises(RuntimeError, match="401"):
        kofvl.ingest_jsonline(a.url, [b'{"_msg":"x"}'], auth=None, flush=False)


def test_jsonline_gzip_round_trip(two):
    a, b = two.a, two.b
    assert two.accepted == N

    exported, enc = kofvl.export(a.url, "*", auth=a.auth)  # Accept-Encoding: gzip
    assert enc == "gzip"
    rows_a = rows(exported)
    assert len(rows_a) == N
    for r in rows_a:
        assert {"_msg", "_time", "_stream", "_stream_id", "app", "cluster", "level", "seq"} <= set(r)
        assert "message" not in r and "ts" not in r  # became _msg and _time
    assert sorted(r["_msg"] for r in rows_a) == sorted(json.loads(ln)["message"] for ln in two.lines)

    # re-ingest the export as is (gzip again): _msg/_time are the defaults, _stream gives the stream
    assert kofvl.ingest_jsonline(b.url, exported, auth=b.auth) == N
    body_b, enc_b = kofvl.export(b.url, "*", auth=b.auth)
    assert enc_b == "gzip"
    rows_b = rows(body_b)
    assert_same_rows(rows_a, rows_b)
    assert {r["_stream"] for r in rows_b} == {f'{{app="kof-finops",cluster="region1-c{k:02d}"}}' for k in range(4)}
    # a stream filter on B sees the rebuilt streams
    assert kofvl.count(b.url, '{cluster="region1-c01"}', auth=b.auth) == N // 4
    # B takes B's credentials only
    assert kofvl.request(b.url, "/select/logsql/query", params={"query": "*"}, auth=a.auth)[0] == 401


def test_round_trip_check_fails_on_lost_rows(two):
    """The comparison above fails when the round trip loses a row: re-ingest an export without its first line
    (into another tenant of B) and both the ingest count and assert_same_rows see it."""
    a, b = two.a, two.b
    exported, _ = kofvl.export(a.url, "*", auth=a.auth)
    lines = exported.splitlines()
    tenant = {"AccountID": "1"}
    assert kofvl.ingest_jsonline(b.url, b"\n".join(lines[1:]) + b"\n", auth=b.auth, headers=tenant) == N - 1
    rows_b = rows(kofvl.export(b.url, "*", auth=b.auth, headers=tenant)[0])
    with pytest.raises(AssertionError):
        assert_same_rows(rows(exported), rows_b)


def test_form_encoded_body_is_silently_lost(two):
    """The pitfall kofvl avoids: /insert/jsonline with the default form Content-Type answers 200 and stores
    nothing (its query args are read with FormValue, which eats the body)."""
    b = two.b
    body = gzip.compress(b'{"_msg":"lost"}\n')
    st, _, _ = kofvl.request(b.url, "/insert/jsonline", data=body, auth=b.auth,
                             headers={"Content-Encoding": "gzip", "AccountID": "2",
                                      "Content-Type": "application/x-www-form-urlencoded"})
    assert st == 200
    kofvl.force_flush(b.url, b.auth)
    assert kofvl.count(b.url, "*", auth=b.auth, headers={"AccountID": "2"}) == 0
    # the same body as JSON lines is stored
    assert kofvl.ingest_jsonline(b.url, gzip.decompress(body), auth=b.auth, headers={"AccountID": "2"}) == 1
