"""Regional data migration, pure parts: endpoints by domain / from KOF 1.x's regional ConfigMap, their checks,
the streaming counter and the coverage judgement (module_utils/migration.py), KOF 1.x's admin credentials name."""
from __future__ import annotations

import json

import pytest

from ansible_collections.k0rdent.kof.plugins.action.regional_data_migration import admin_secret_name
from ansible_collections.k0rdent.kof.plugins.module_utils import migration as m


def test_endpoints_by_domain_follow_each_generations_vmauth_routes():
    assert m.endpoints_for_domain("r1.example.net", "0.1") == {
        "metrics_read": "https://vmauth.r1.example.net/vm/select/0/prometheus",
        "metrics_write": "https://vmauth.r1.example.net/vm/insert/0/prometheus",
        "logs_read": "https://vmauth.r1.example.net/vls", "logs_write": "https://vmauth.r1.example.net/vls"}
    assert m.endpoints_for_domain("r1.example.net", "1.x")["logs_write"] == "https://vmauth.r1.example.net/vli"
    with pytest.raises(m.MigrationError, match="no domain"):
        m.endpoints_for_domain("", "1.x")


def test_endpoints_from_the_regional_configmap_drop_the_collectors_suffixes():
    # kof-operator 1.10's defaults for a regional domain (clusterdeployment_kof_cluster_role.go)
    data = {"read_metrics_endpoint": "https://vmauth.r1.example.net/vm/select/0/prometheus",
            "write_metrics_endpoint": "https://vmauth.r1.example.net/vm/insert/0/prometheus/api/v1/write",
            "read_logs_endpoint": "https://vmauth.r1.example.net/vls",
            "write_logs_endpoint": "https://vmauth.r1.example.net/vli/insert/opentelemetry/v1/logs"}
    assert m.endpoints_from_configmap(data) == {
        "metrics_read": "https://vmauth.r1.example.net/vm/select/0/prometheus",
        "metrics_write": "https://vmauth.r1.example.net/vm/insert/0/prometheus",
        "logs_read": "https://vmauth.r1.example.net/vls", "logs_write": "https://vmauth.r1.example.net/vli"}
    assert m.endpoints_from_configmap({}) == dict.fromkeys(m.ENDPOINT_KEYS, "")


@pytest.mark.parametrize("url, why", [("", "must be an http"), ("ftp://x/y", "must be an http"),
                                      ("https://u:p@vmauth.x/vls", "must not carry credentials"),
                                      ("ftp://u:p@x/y", "must not carry credentials")])
def test_check_endpoints_refuses_what_cannot_be_used(url, why):
    with pytest.raises(m.MigrationError, match=why) as err:
        m.check_endpoints({"logs_read": url}, ["logs_read"], "regional cluster r1")
    assert ":p@" not in str(err.value), "a credential in the message"
    assert m.check_endpoints({"logs_read": "http://127.0.0.1:9428/"}, ["logs_read"], "x") == \
        {"logs_read": "http://127.0.0.1:9428"}


def test_counter_counts_series_samples_and_range_across_chunk_boundaries():
    lines = [json.dumps({"metric": {"__name__": "up", "i": str(i)}, "values": [1] * (i + 1),
                         "timestamps": [1000 * (i + 1) + k for k in range(i + 1)]}).encode() for i in range(5)]
    blob = b"\n".join(lines) + b"\n"
    c = m.Counter(metrics=True)
    for i in range(0, len(blob), 7):  # chunks that cut lines anywhere
        c.feed(blob[i:i + 7])
    assert c.close().summary() == {"series": 5, "samples": 15, "first_ms": 1000, "last_ms": 5004}
    logs = m.Counter(metrics=False)
    logs.feed(b'{"_msg":"a"}\n{"_msg":"b"}')
    assert logs.close().summary() == {"rows": 2}


def test_counter_refuses_a_broken_export():
    c = m.Counter(metrics=True)
    with pytest.raises(m.MigrationError, match="not JSON"):
        c.feed(b'{"metric": \n')


def test_covered_names_what_the_target_misses():
    src = {"series": 3, "samples": 30}
    assert m.covered(src, {"series": 3, "samples": 31}) == []
    assert m.covered(src, {"series": 2, "samples": 20}) == ["series 2 < 3", "samples 20 < 30"]
    assert m.covered({"rows": 5}, {}) == ["rows 0 < 5"]


def test_export_params():
    assert m.metrics_export_params(['{__name__!=""}'], "2026-01-01T00:00:00Z") == {
        "start": "2026-01-01T00:00:00Z", "match[]": ['{__name__!=""}'], "reduce_mem_usage": "1"}
    assert m.logs_export_params("*", end="1700000000") == {"end": "1700000000", "query": "*"}


def test_admin_secret_name_is_helms_adler32sum():
    # helm's adler32sum: the decimal Adler-32 of the string (kof-regional's template)
    assert admin_secret_name("r1", "kcm-system") == "kof-vmuser-creds-admin-912328269"


def test_basic_auth_header():
    assert m.basic_auth("u", "p") == {"Authorization": "Basic dTpw"}
