"""Pure logic of the resource modules: the objects built from options (the install guide's, exactly), the KOF
version mapping, validation messages, what the operators report back, and masking."""
from __future__ import annotations

import pytest

from ansible_collections.k0rdent.kof.plugins.module_utils import kof_resources as kr
from ansible_collections.k0rdent.kof.plugins.module_utils.helm_cli import merge as helm_merge
from ansible_collections.k0rdent.kof.plugins.module_utils.kof_resources import ValidationError

GUIDE = {"cluster_name": "aws-ue2-region1", "regional_domain": "aws-ue2-region1.kof.example.com"}


# ---------------------------------------------------------------------------------- PromxyServerGroup
def test_psg_is_the_guides_object_except_tls_verification():
    """kof-install-guide, Regional Cluster step 3, with insecure_skip_verify turned to false."""
    assert kr.promxy_server_group(dict(GUIDE)) == {
        "apiVersion": "kof.k0rdent.mirantis.com/v1alpha1",
        "kind": "PromxyServerGroup",
        "metadata": {"name": "aws-ue2-region1-metrics", "namespace": "kof",
                     "labels": {"app.kubernetes.io/name": "promxy-operator",
                                "k0rdent.mirantis.com/promxy-secret-name": "kof-mothership-promxy-config"}},
        "spec": {"cluster_name": "aws-ue2-region1",
                 "targets": ["vmauth.aws-ue2-region1.kof.example.com:443"],
                 "path_prefix": "/vm/select/0/prometheus/",
                 "scheme": "https",
                 "http_client": {"dial_timeout": "5s",
                                 "tls_config": {"insecure_skip_verify": False},
                                 "basic_auth": {"credentials_secret_name": "storage-vmuser-credentials",
                                                "username_key": "username", "password_key": "password"}}}}


@pytest.mark.parametrize("version, api, label", [
    ("0.1.1", "v1alpha1", "k0rdent.mirantis.com/promxy-secret-name"),
    ("0.3.0", "v1alpha1", "k0rdent.mirantis.com/promxy-secret-name"),
    ("v0.3.9", "v1alpha1", "k0rdent.mirantis.com/promxy-secret-name"),
    ("1.0.0", "v1beta1", "k0rdent.mirantis.com/promxy-secret-name"),
    ("1.7.3", "v1beta1", "k0rdent.mirantis.com/promxy-secret-name"),
    ("1.8.0-rc1", "v1beta1", "k0rdent.mirantis.com/secret-name"),
    ("1.10.0", "v1beta1", "k0rdent.mirantis.com/secret-name"),
])
def test_psg_version_mapping(version, api, label):
    obj = kr.promxy_server_group(dict(GUIDE, kof_version=version))
    assert obj["apiVersion"] == f"kof.k0rdent.mirantis.com/{api}"
    assert obj["metadata"]["labels"][label] == "kof-mothership-promxy-config"
    assert len([k for k in obj["metadata"]["labels"] if k.endswith("secret-name")]) == 1


def test_psg_typed_options():
    obj = kr.promxy_server_group({
        "cluster_name": "r2", "name": "r2-m", "namespace": "observability", "targets": ["10.0.0.1:8481", "[::1]:443"],
        "path_prefix": "/select/0/prometheus", "scheme": "http", "dial_timeout": "1m30s",
        "insecure_skip_verify": True, "promxy_secret": "kof-promxy-config", "labels": {"team": "obs"},
        "annotations": {"note": "any text: allowed"}, "kof_version": "1.2.0",
        "basic_auth": {"secret_name": "r2-creds", "username_key": "user", "password_key": "pass"}})
    assert obj["metadata"] == {"name": "r2-m", "namespace": "observability",
                               "labels": {"app.kubernetes.io/name": "promxy-operator", "team": "obs",
                                          "k0rdent.mirantis.com/promxy-secret-name": "kof-promxy-config"},
                               "annotations": {"note": "any text: allowed"}}
    assert obj["spec"]["targets"] == ["10.0.0.1:8481", "[::1]:443"]
    assert obj["spec"]["scheme"] == "http"
    assert obj["spec"]["http_client"] == {
        "dial_timeout": "1m30s", "tls_config": {"insecure_skip_verify": True},
        "basic_auth": {"credentials_secret_name": "r2-creds", "username_key": "user", "password_key": "pass"}}


def test_psg_label_key_cannot_be_overridden_by_extra_labels():
    obj = kr.promxy_server_group(dict(GUIDE, labels={"k0rdent.mirantis.com/promxy-secret-name": "other"}))
    assert obj["metadata"]["labels"]["k0rdent.mirantis.com/promxy-secret-name"] == "kof-mothership-promxy-config"


def test_psg_without_credentials_from_kof_0_2():
    obj = kr.promxy_server_group(dict(GUIDE, kof_version="1.1.0", basic_auth={"secret_name": ""}))
    assert "basic_auth" not in obj["spec"]["http_client"]
    with pytest.raises(ValidationError, match="basic_auth.secret_name is empty: the KOF 0.1.x promxy-operator"):
        kr.promxy_server_group(dict(GUIDE, basic_auth={"secret_name": ""}))


@pytest.mark.parametrize("change, message", [
    ({"cluster_name": None}, "cluster_name None is not a valid name"),
    ({"cluster_name": "Region1"}, "cluster_name 'Region1' is not a valid name"),
    ({"cluster_name": "r" * 64}, "cluster_name 'r+' is not a valid name.*at most 63"),
    ({"cluster_name": "region-"}, "cluster_name 'region-'"),
    ({"regional_domain": "a_b.example.com"}, "regional_domain 'a_b.example.com' is not a DNS domain"),
    ({"regional_domain": None}, "targets is empty"),
    ({"targets": ["vmauth.example.com"]}, "targets entry 'vmauth.example.com' is not host:port"),
    ({"targets": ["vmauth.example.com:0"]}, "targets entry"),
    ({"targets": ["vmauth.example.com:65536"]}, "targets entry"),
    ({"targets": ["https://vmauth.example.com:443"]}, "targets entry"),
    ({"targets": ["exa mple.com:443"]}, "targets entry"),
    ({"name": "Metrics"}, "name 'Metrics' is not a valid name"),
    ({"name": "a" * 254}, "name 'a+' is not a valid name"),
    ({"namespace": "kof.x"}, "namespace 'kof.x' is not a valid name"),
    ({"scheme": "ftp"}, "scheme 'ftp' must be http or https"),
    ({"dial_timeout": "5"}, "dial_timeout '5' is not a Go duration"),
    ({"dial_timeout": "five s"}, "dial_timeout"),
    ({"path_prefix": "vm/select"}, "path_prefix 'vm/select' must be a URL path starting with /"),
    ({"path_prefix": "/vm /select"}, "path_prefix"),
    ({"kof_version": "latest"}, "kof_version 'latest' is not a version"),
    ({"kof_version": "1.8"}, "kof_version '1.8'"),
    ({"promxy_secret": "Promxy"}, "promxy_secret 'Promxy' is not a valid name"),
    ({"basic_auth": {"secret_name": "Bad Name"}}, "basic_auth.secret_name 'Bad Name'"),
    ({"basic_auth": {"secret_name": "s", "username_key": "a/b"}}, "basic_auth.username_key 'a/b' is not a valid"),
    ({"basic_auth": {"secret_name": "s", "password_key": ""}}, None),  # empty key falls back to the default
    ({"labels": {"-bad": "x"}}, "labels key '-bad' is not a valid key"),
    ({"labels": {"Example.COM/x": "y"}}, "labels key 'Example.COM/x'"),
    ({"labels": {"x": "has space"}}, "labels value 'has space' of 'x' is not a valid label value"),
    ({"labels": {"x": True}}, "labels value of 'x' must be a string"),
    ({"annotations": {"x": 1}}, "annotations value of 'x' must be a string"),
    ({"annotations": "x=y"}, "annotations must be a dictionary"),
])
def test_psg_validation_names_the_option(change, message):
    params = dict(GUIDE, **change)
    if message is None:
        kr.promxy_server_group(params)
        return
    with pytest.raises(ValidationError, match=message):
        kr.promxy_server_group(params)


def test_identity_for_absent_needs_no_target_or_url():
    assert kr.promxy_server_group_id({"cluster_name": "r1", "kof_version": "1.9.0"}) == {
        "apiVersion": "kof.k0rdent.mirantis.com/v1beta1", "kind": "PromxyServerGroup",
        "metadata": {"name": "r1-metrics", "namespace": "kof"}}
    assert kr.grafana_datasource_id({"name": "ds", "namespace": "obs"})["metadata"] == {"name": "ds", "namespace": "obs"}
    with pytest.raises(ValidationError, match="name is required unless cluster_name"):
        kr.grafana_datasource_id({})
    with pytest.raises(ValidationError, match="cluster_name"):
        kr.promxy_server_group_id({"cluster_name": "R1"})


# ---------------------------------------------------------------------------------- GrafanaDatasource
def test_gds_is_the_guides_logs_datasource():
    """kof-install-guide, Regional Cluster step 3, except the managed-by label (the guide's Helm is untrue)."""
    assert kr.grafana_datasource(dict(GUIDE)) == {
        "apiVersion": "grafana.integreatly.org/v1beta1",
        "kind": "GrafanaDatasource",
        "metadata": {"name": "aws-ue2-region1-logs", "namespace": "kof",
                     "labels": {"app.kubernetes.io/managed-by": "k0rdent.kof"}},
        "spec": {
            "valuesFrom": [
                {"targetPath": "basicAuthUser",
                 "valueFrom": {"secretKeyRef": {"key": "username", "name": "storage-vmuser-credentials"}}},
                {"targetPath": "secureJsonData.basicAuthPassword",
                 "valueFrom": {"secretKeyRef": {"key": "password", "name": "storage-vmuser-credentials"}}}],
            "datasource": {"name": "aws-ue2-region1", "url": "https://vmauth.aws-ue2-region1.kof.example.com/vls",
                           "access": "proxy", "isDefault": False, "type": "victoriametrics-logs-datasource",
                           "basicAuth": True, "basicAuthUser": "${username}",
                           "secureJsonData": {"basicAuthPassword": "${password}"}},
            "instanceSelector": {"matchLabels": {"dashboards": "grafana"}},
            "resyncPeriod": "5m"}}


@pytest.mark.parametrize("ds_type", kr.DATASOURCE_TYPES)
def test_gds_types(ds_type):
    assert kr.grafana_datasource(dict(GUIDE, type=ds_type))["spec"]["datasource"]["type"] == ds_type


def test_gds_typed_options_and_no_credentials():
    obj = kr.grafana_datasource({
        "name": "r1-metrics", "datasource_name": "Region 1 metrics", "type": "prometheus",
        "url": "https://vmauth.r1.example.com:8443/vm/select/0/prometheus", "access": "direct", "is_default": True,
        "json_data": {"timeInterval": "30s"}, "instance_selector": {"dashboards": "ops"}, "resync_period": "10m0s",
        "allow_cross_namespace_import": True})
    assert obj["metadata"]["name"] == "r1-metrics"
    assert obj["spec"] == {
        "datasource": {"name": "Region 1 metrics", "type": "prometheus", "access": "direct", "isDefault": True,
                       "url": "https://vmauth.r1.example.com:8443/vm/select/0/prometheus",
                       "jsonData": {"timeInterval": "30s"}},
        "instanceSelector": {"matchLabels": {"dashboards": "ops"}}, "resyncPeriod": "10m0s",
        "allowCrossNamespaceImport": True}
    # with cluster_name, basic auth defaults on; an empty secret name turns it off
    off = kr.grafana_datasource(dict(GUIDE, basic_auth={"secret_name": ""}))
    assert "valuesFrom" not in off["spec"] and "basicAuth" not in off["spec"]["datasource"]


def test_gds_custom_secret_keys_become_placeholders():
    obj = kr.grafana_datasource(dict(GUIDE, basic_auth={"secret_name": "r1-creds", "username_key": "user",
                                                        "password_key": "pass"}))
    ds = obj["spec"]["datasource"]
    assert ds["basicAuthUser"] == "${user}" and ds["secureJsonData"] == {"basicAuthPassword": "${pass}"}
    assert [v["valueFrom"]["secretKeyRef"] for v in obj["spec"]["valuesFrom"]] == [
        {"name": "r1-creds", "key": "user"}, {"name": "r1-creds", "key": "pass"}]


@pytest.mark.parametrize("change, message", [
    ({"cluster_name": None}, "name is required unless cluster_name is given"),
    ({"cluster_name": "Bad"}, "cluster_name 'Bad'"),
    ({"name": "-logs"}, "name '-logs' is not a valid name"),
    ({"regional_domain": None}, "url is empty"),
    ({"url": "ftp://vmauth.example.com/vls"}, "url 'ftp://vmauth.example.com/vls' is not an http"),
    ({"url": "https:///vls"}, "url"),
    ({"url": "https://vm auth.example.com/vls"}, "url"),
    ({"url": "https://vmauth.example.com:99999/vls"}, "url"),
    ({"url": "https://u:p@vmauth.example.com/vls"}, "url must not contain credentials"),
    ({"type": "graphite"}, "type 'graphite' must be one of"),
    ({"access": "server"}, "access 'server' must be proxy or direct"),
    ({"resync_period": "5 minutes"}, "resync_period '5 minutes'"),
    ({"instance_selector": {}}, "instance_selector is empty"),
    ({"instance_selector": {"dashboards": "a b"}}, "instance_selector value 'a b'"),
    ({"json_data": ["a"]}, "json_data must be a dictionary"),
    ({"datasource_name": " "}, "datasource_name ' ' must be a non-empty string"),
    ({"basic_auth": {"secret_name": "creds", "password_key": "pass word"}}, "basic_auth.password_key"),
    ({"labels": {"app": 1}}, "labels value of 'app' must be a string"),
])
def test_gds_validation_names_the_option(change, message):
    with pytest.raises(ValidationError, match=message):
        kr.grafana_datasource(dict(GUIDE, **change))


def test_credentials_in_url_are_not_echoed():
    with pytest.raises(ValidationError) as err:
        kr.grafana_datasource(dict(GUIDE, url="https://admin:hunter2@vmauth.example.com/vls"))
    assert "hunter2" not in str(err.value)


# ------------------------------------------------------------------------------------ operators' side
def _group(cluster="r1", targets=("vmauth.r1.example.com:443",), path="/vm/select/0/prometheus/", scheme="https",
           insecure=False, tls=True):
    group = {"static_configs": [{"targets": list(targets)}], "path_prefix": path, "scheme": scheme,
             "http_client": {"dial_timeout": "5s"}, "labels": {"promxyCluster": cluster}}
    if tls:
        group["http_client"]["tls_config"] = {"insecure_skip_verify": insecure}
    return group


def test_promxy_rendered_matches_the_current_spec_only():
    obj = kr.promxy_server_group({"cluster_name": "r1", "regional_domain": "r1.example.com"})
    assert kr.promxy_rendered(obj, {"promxy": {"server_groups": [_group(cluster="r0"), _group()]}})
    assert kr.promxy_rendered(obj, {"promxy": {"server_groups": [_group(tls=False)]}})  # 1.x without basic auth
    # a render of the previous spec does not count
    assert not kr.promxy_rendered(obj, {"promxy": {"server_groups": [_group(targets=["old.example.com:443"])]}})
    assert not kr.promxy_rendered(obj, {"promxy": {"server_groups": [_group(path="/select/0/prometheus")]}})
    assert not kr.promxy_rendered(obj, {"promxy": {"server_groups": [_group(scheme="http")]}})
    assert not kr.promxy_rendered(obj, {"promxy": {"server_groups": [_group(insecure=True)]}})
    assert not kr.promxy_rendered(obj, {"promxy": {"server_groups": []}})
    assert not kr.promxy_rendered(obj, {})
    assert not kr.promxy_rendered(obj, {"promxy": {"server_groups": ["garbage"]}})


def _gds(generation=2, **status):
    return {"kind": "GrafanaDatasource", "metadata": {"generation": generation}, "status": status}


def test_datasource_synchronized_conditions_are_generation_aware():
    ok = {"type": "DatasourceSynchronized", "status": "True", "observedGeneration": 2, "message": "applied"}
    assert kr.datasource_synchronized(_gds(NoMatchingInstances=False, conditions=[ok])) == (True, ok, "")
    stale = dict(ok, observedGeneration=1)
    done, _cond, why = kr.datasource_synchronized(_gds(NoMatchingInstances=False, conditions=[stale]))
    assert not done and "generation 1, not 2" in why
    nomatch = {"type": "DatasourceSynchronized", "status": "False", "observedGeneration": 2,
               "message": "No instances found matching .spec.instanceSelector"}
    done, _cond, why = kr.datasource_synchronized(_gds(NoMatchingInstances=True, conditions=[nomatch]))
    assert not done and why.startswith("No instances found")
    assert kr.datasource_synchronized(None)[0] is False


def _v513(status=None, datasource=None, uid="u-1"):
    """A GrafanaDatasource as grafana-operator v5.13.0 reports it: no conditions, no observedGeneration."""
    return {"kind": "GrafanaDatasource", "metadata": {"generation": 1, "uid": uid},
            "spec": {"datasource": datasource or {"name": "r1", "url": "https://vmauth.r1.example.com/vls"}},
            "status": status or {}}


def test_datasource_synchronized_on_grafana_operator_5_13_status():
    synced = {"hash": "h1", "uid": "u-1", "lastResync": "2026-12-04T10:00:00Z"}
    done, observed, why = kr.datasource_synchronized(_v513(synced))
    assert done and why == "" and observed == synced
    # nothing reported yet, or a missing Secret / Grafana not ready: v5.13.0 writes no status for those
    done, _obs, why = kr.datasource_synchronized(_v513())
    assert not done and "valuesFrom Secret" in why and "not ready" in why
    done, _obs, why = kr.datasource_synchronized(_v513({"NoMatchingInstances": True}))
    assert not done and "NoMatchingInstances" in why
    done, _obs, why = kr.datasource_synchronized(_v513(dict(synced, lastMessage="dial tcp: connection refused")))
    assert not done and why == "dial tcp: connection refused"
    # an explicit spec.datasource.uid is what the operator reports
    assert kr.datasource_synchronized(_v513(dict(synced, uid="logs-r1"), dict(uid="logs-r1")))[0]
    done, _obs, why = kr.datasource_synchronized(_v513(synced, dict(uid="logs-r1")))
    assert not done and "status.uid u-1" in why


def test_datasource_synchronized_5_13_waits_for_the_new_content_hash():
    before = _v513({"hash": "h1", "uid": "u-1"})
    after_same_hash = _v513({"hash": "h1", "uid": "u-1"}, {"name": "r1", "url": "https://vmauth.new.example.com/vls"})
    done, _obs, why = kr.datasource_synchronized(after_same_hash, before)
    assert not done and "previous content" in why
    after = _v513({"hash": "h2", "uid": "u-1"}, {"name": "r1", "url": "https://vmauth.new.example.com/vls"})
    assert kr.datasource_synchronized(after, before)[0]
    # a change outside spec.datasource (resyncPeriod) gives no new hash: the healthy status is enough
    assert kr.datasource_synchronized(_v513({"hash": "h1", "uid": "u-1"}), before)[0]


# ----------------------------------------------------------------------------------------- helpers
def test_referenced_secret_and_cluster_of():
    psg = kr.promxy_server_group(dict(GUIDE))
    gds = kr.grafana_datasource(dict(GUIDE, basic_auth={"secret_name": "r1-creds"}))
    assert kr.referenced_secret(psg) == "storage-vmuser-credentials"
    assert kr.referenced_secret(gds) == "r1-creds"
    assert kr.referenced_secret(kr.grafana_datasource(dict(GUIDE, basic_auth={"secret_name": ""}))) is None
    assert kr.cluster_of(psg) == kr.cluster_of(gds) == "aws-ue2-region1"


def test_redact_masks_literal_credentials_only():
    foreign = {"kind": "GrafanaDatasource",
               "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": '{"pw": "hunter2"}'}},
               "spec": {"datasource": {"basicAuthUser": "admin", "user": "${user}",
                                       "secureJsonData": {"basicAuthPassword": "hunter2", "token": "${token}"},
                                       "password": "hunter3"}}}
    shown = kr.redact(foreign)
    ds = shown["spec"]["datasource"]
    assert ds == {"basicAuthUser": kr.REDACTED, "user": "${user}", "password": kr.REDACTED,
                  "secureJsonData": {"basicAuthPassword": kr.REDACTED, "token": "${token}"}}
    assert shown["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] == kr.REDACTED
    assert foreign["spec"]["datasource"]["secureJsonData"]["basicAuthPassword"] == "hunter2"  # a copy
    ours = kr.grafana_datasource(dict(GUIDE))
    assert kr.redact(ours) == ours
    psg = kr.promxy_server_group(dict(GUIDE))
    assert kr.redact(psg) == psg and kr.redact(None) is None


def _grafana(ns="kof", stage="complete", stage_status="success"):
    return {"metadata": {"name": "grafana-vm", "namespace": ns, "labels": {"dashboards": "grafana"}},
            "status": {"stage": stage, "stageStatus": stage_status}}


def test_datasource_synchronized_5_13_checks_the_grafanas_it_imports_into():
    synced = _v513({"hash": "h1", "uid": "u-1"})
    synced["metadata"]["namespace"] = "kof"
    assert kr.datasource_synchronized(synced, None, [_grafana()])[0]
    done, _obs, why = kr.datasource_synchronized(synced, None, [])
    assert not done and why == "no Grafana instance matches spec.instanceSelector"
    done, _obs, why = kr.datasource_synchronized(synced, None, [_grafana(ns="other")])
    assert not done and "allowCrossNamespaceImport is false" in why
    synced["spec"]["allowCrossNamespaceImport"] = True
    assert kr.datasource_synchronized(synced, None, [_grafana(ns="other")])[0]
    done, _obs, why = kr.datasource_synchronized(synced, None, [_grafana(stage="deployment", stage_status="failed")])
    assert not done and "is not ready (stage deployment, failed)" in why


def test_instance_label_selector():
    obj = {"spec": {"instanceSelector": {"matchLabels": {"dashboards": "grafana", "a": "b"},
                                         "matchExpressions": [{"key": "tier", "operator": "In", "values": ["x", "y"]},
                                                              {"key": "gone", "operator": "DoesNotExist"}]}}}
    assert kr.instance_label_selector(obj) == "a=b,dashboards=grafana,tier in (x,y),!gone"


@pytest.mark.parametrize("version,flow", [("0.1.0", "0.1"), ("0.1.1", "0.1"), ("0.1.9", "0.1"), ("0.2.0", None),
                                          ("1.0.0", None), ("1.7.3", None), ("1.8.0", "1.x"), ("1.9.0", "1.x"),
                                          ("1.10.0", "1.x"), ("v1.10.0", "1.x"), ("1.10.0-rc1", "1.x"),
                                          ("1.11.0-rc0", None), ("2.0.0", None)])
def test_install_flow_is_the_one_version_gate(version, flow):
    if flow:
        assert kr.install_flow(version) == flow
    else:
        with pytest.raises(kr.ValidationError, match=f"kof_version '{version}': this collection installs KOF 0.1.x"):
            kr.install_flow(version)


def test_install_flow_refuses_a_flow_the_playbook_does_not_implement():
    assert kr.install_flow("0.1.1", ("0.1",), "upgrade.yml") == "0.1"
    with pytest.raises(kr.ValidationError, match=r"kof_version '1.10.0' is KOF 1.8-1.10 .*: Upgrade KOF is "
                                                 r"implemented for KOF 0.1.x \(the install guide\) only so far"):
        kr.install_flow("1.10.0", ("0.1",), "Upgrade KOF")


def _flux_release(gen=2, observed=2, ready=None, stalled=None):
    conds = []
    if ready:
        conds.append({"type": "Ready", "status": ready[0], "reason": ready[1], "message": ready[2],
                      "observedGeneration": observed})
    if stalled:
        conds.append({"type": "Stalled", "status": "True", "reason": stalled[0], "message": stalled[1]})
    return {"metadata": {"name": "kof-mothership", "generation": gen},
            "status": {"observedGeneration": observed, "conditions": conds}}


def test_flux_release_state():
    assert kr.flux_release_state(None) == ("pending", "not created yet")
    assert kr.flux_release_state(_flux_release())[0] == "pending"  # no condition yet
    ok = _flux_release(ready=("True", "InstallSucceeded", "Helm install succeeded"))
    assert kr.flux_release_state(ok) == ("ready", "Helm install succeeded")
    # Ready from the previous generation: a spec change Flux has not reconciled yet
    assert kr.flux_release_state(_flux_release(gen=3, observed=2, ready=("True", "UpgradeSucceeded", "x")))[0] == \
        "pending"
    retrying = _flux_release(ready=("False", "InstallFailed", "values don't meet the specifications of the schema"))
    assert kr.flux_release_state(retrying) == ("pending", "InstallFailed: values don't meet the specifications "
                                                          "of the schema")
    retrying["status"]["failures"] = 3
    assert kr.flux_release_state(retrying)[0] == "pending"  # Flux retries: by default so does the wait
    assert kr.flux_release_state(retrying, failure_threshold=3)[0] == "failed"
    assert kr.flux_release_state(retrying, failure_threshold=4)[0] == "pending"
    stalled = _flux_release(ready=("False", "InstallFailed", "x"), stalled=("RetriesExceeded", "gave up"))
    assert kr.flux_release_state(stalled) == ("failed", "RetriesExceeded: gave up")


def _service_set(states, deployed=True, failure=""):
    return {"metadata": {"name": "ss"},
            "spec": {"services": [{"name": n} for n in states]},
            "status": {"deployed": deployed,
                       "services": [{"name": n, "namespace": "kof", "state": st,
                                     **({"failureMessage": failure} if st == "Failed" else {})}
                                    for n, st in states.items() if st]}}


def test_service_set_state():
    assert kr.service_set_state(None)[0] == "pending"
    state, msg, services = kr.service_set_state(_service_set({"cert-manager": "Deployed", "kof-storage": "Deployed"}))
    assert (state, services) == ("ready", {"cert-manager": "Deployed", "kof-storage": "Deployed"})
    state, msg, _ = kr.service_set_state(_service_set({"cert-manager": "Deployed", "kof-storage": ""}, deployed=False))
    assert state == "pending" and "kof-storage: not started" in msg
    # kcm's deployed flag alone is not enough while a listed service has no state
    assert kr.service_set_state(_service_set({"a": "Deployed", "b": "Provisioning"}))[0] == "pending"
    state, msg, _ = kr.service_set_state(_service_set({"a": "Deployed", "kof-storage": "Failed"}, deployed=False,
                                                      failure="unknown field"))
    assert state == "failed" and msg == "service kof/kof-storage failed: unknown field"


def _set(name, mcs, states, failure=""):
    s = _service_set(states, deployed=all(v == "Deployed" for v in states.values()), failure=failure)
    s["metadata"]["name"] = name
    s["spec"].update(cluster="c1", multiClusterService=mcs)
    for svc in s["spec"]["services"]:
        svc["namespace"] = "kof" if svc["name"].startswith("kof") else svc["name"]
    return s


def test_cluster_services_state_judges_every_kof_multiclusterservice_of_the_cluster():
    child = _set("c1-49a75732", "kof-child-cluster", {"cert-manager": "Deployed", "kof-collectors": "Deployed"})
    creds = _set("c1-851570cc", "kof-storage-child-secret-propagation", {"kof-vmuser-creds": "Deployed"})
    users = _set("c1-00000000", "team-logging", {"fluent-bit": "Failed"}, failure="not KOF's")
    assert kr.cluster_services_state([], "child")[0] == "pending"
    assert kr.cluster_services_state([creds], "child")[0] == "pending"  # the tier's own MCS must be there
    state, msg, services, namespaces = kr.cluster_services_state([creds, child, users], "child")
    assert state == "ready" and set(services) == {"cert-manager", "kof-collectors", "kof-vmuser-creds"}
    assert namespaces == ["cert-manager", "kof"]
    # kof-mothership's kcm.kof.mcs copies (kof-propagation into kcm's namespace): a service, no pods to expect there
    dns = _set("c1-5e1f0c2d", "kof-aws-dns-secrets-remote", {"secret-external-dns-aws-credentials": "Deployed"})
    dns["spec"]["services"][0].update(namespace="kcm-system", template="kof-propagation-1-10-0")
    state, _msg, services, namespaces = kr.cluster_services_state([creds, child, dns], "child")
    assert state == "ready" and "secret-external-dns-aws-credentials" in services
    assert namespaces == ["cert-manager", "kof"]
    creds_failed = _set("c1-851570cc", "kof-storage-child-secret-propagation", {"kof-vmuser-creds": "Failed"},
                        failure="Secret not found")
    state, msg, _s, _n = kr.cluster_services_state([child, creds_failed], "child")
    assert state == "failed"
    assert msg == ("ServiceSet c1-851570cc (MultiClusterService kof-storage-child-secret-propagation): "
                   "service kof/kof-vmuser-creds failed: Secret not found")


def test_cluster_services_state_waits_for_the_chart_version_after_an_upgrade():
    child = _set("c1-49a75732", "kof-child-cluster", {"cert-manager": "Deployed", "kof-collectors": "Deployed"})
    for svc in child["spec"]["services"]:
        svc["template"] = "kof-collectors-1-9-0" if svc["name"] == "kof-collectors" else "cert-manager-v1-19-3"
    assert kr.cluster_services_state([child], "child", "1.9.0")[0] == "ready"
    state, msg, _s, _n = kr.cluster_services_state([child], "child", "1.10.0")
    assert state == "pending" and "kof-collectors (kof-collectors-1-9-0)" in msg
    assert kr.cluster_services_state([child], "child")[0] == "ready"  # no version asked for


def test_cluster_services_state_of_an_explicitly_named_multiclusterservice():
    """A user's own MultiClusterService instead of the tier's: only its ServiceSet counts, at any chart version."""
    child = _set("c1-49a75732", "kof-child-cluster", {"cert-manager": "Failed"}, failure="not this MCS")
    own = _set("c1-0badcafe", "acme-collectors", {"kof-collectors": "Deployed"})
    own["spec"]["services"][0]["template"] = "kof-collectors-1-9-0"
    assert kr.cluster_services_state([child], "child", mcs="acme-collectors")[:2] == (
        "pending", "no ServiceSet of MultiClusterService acme-collectors yet (it has not selected the cluster)")
    state, _msg, services, namespaces = kr.cluster_services_state([child, own], "child", "1.10.0",
                                                                 mcs="acme-collectors")
    assert (state, services, namespaces) == ("ready", {"kof-collectors": "Deployed"}, ["kof"])
    assert kr.cluster_services_state([child, own], "child", mcs="kof-child-cluster")[0] == "failed"


def test_a_service_set_is_done_only_with_every_service_of_its_multiclusterservice():
    """kcm adds a service to the ServiceSet once its dependencies are deployed: the first wave alone is not done."""
    regional = _set("r1-f4f250a9", "kof-regional-cluster", {"cert-manager": "Deployed"})
    assert kr.cluster_services_state([regional], "regional")[0] == "ready"  # what the ServiceSet alone says
    mcs = kr.multi_cluster_service_names([{"metadata": {"name": "kof-regional-cluster"}, "spec": {"serviceSpec": {
        "services": [{"name": "cert-manager"}, {"name": "kof-storage"}]}}}])
    state, msg, _s, _n = kr.cluster_services_state([regional], "regional", mcs_services=mcs)
    assert state == "pending" and "kof-storage: not started" in msg


def test_resolve_version_for_kof_version_auto():
    # the installed release decides (an upgrade never happens by omission)
    assert kr.resolve_version({"release": "kof", "version": "1.9.0"}, ["v1beta1"]) == (
        "1.9.0", "the installed release kof (chart version 1.9.0)")
    assert kr.resolve_version({"release": "kof-mothership", "version": "v0.1.1"}, ["v1alpha1"])[0] == "0.1.1"
    # a new install: the newest KOF for the kcm served
    assert kr.resolve_version(None, ["v1beta1"])[0] == "1.10.0"
    assert kr.resolve_version(None, ["v1alpha1"])[0] == "0.1.1"
    assert kr.resolve_version({}, ["v1alpha1", "v1beta1"])[0] == "1.10.0"
    # nothing to go by: an install is refused (empty), a read assumes the guide's release and says so
    version, why = kr.resolve_version(None, [])
    assert version == "" and "k0rdent.mirantis.com is not served" in why
    version, why = kr.resolve_version(None, [], reading=True)
    assert version == "0.1.1" and why.endswith("name kof_version for a KOF 1.x fleet)")
    version, why = kr.resolve_version({"release": "kof", "version": "1.10.0"}, ["v1beta1"], no_cluster="offline")
    assert version == "0.1.1" and why.startswith("offline: KOF 0.1.1")


# --- the "Upgrade to v1.10.0" collectors workaround (docs step 2 adds it, step 9 removes it)
def _kof_regional(collectors, rv="42"):
    return {"metadata": {"name": "kof-regional", "resourceVersion": rv},
            "spec": {"values": {"collectors": {"opentelemetry-kube-stack": {"collectors": collectors}}}}}


FIX_VOLUME = {"name": "fix", "emptyDir": {}}
FIX_MOUNT = {"name": "fix", "mountPath": "/tmp/fix"}


def test_collectors_workaround_patch_removes_what_the_docs_patch_added():
    hr = _kof_regional({"target-allocator": {"volumes": [FIX_VOLUME], "volumeMounts": [FIX_MOUNT]},
                        "cluster": {"volumes": [FIX_VOLUME], "volumeMounts": [FIX_MOUNT]}})
    assert kr.collectors_workaround_patch(hr) == {
        "metadata": {"resourceVersion": "42"},
        "spec": {"values": {"collectors": {"opentelemetry-kube-stack": {"collectors": {
            "target-allocator": None, "cluster": None}}}}}}  # merge patch null: the key goes (not a helm null)


def test_collectors_workaround_patch_keeps_the_users_own_entries():
    own = {"name": "certs", "secret": {"secretName": "ca"}}
    hr = _kof_regional({"target-allocator": {"volumes": [own, FIX_VOLUME], "volumeMounts": [FIX_MOUNT],
                                             "resources": {"limits": {"cpu": "1"}}},
                        "cluster": {"volumes": [FIX_VOLUME], "env": [{"name": "A", "value": "1"}]}})
    patch = kr.collectors_workaround_patch(hr)["spec"]["values"]["collectors"]["opentelemetry-kube-stack"]
    assert patch == {"collectors": {"target-allocator": {"volumes": [own], "volumeMounts": None},
                                    "cluster": {"volumes": None}}}


@pytest.mark.parametrize("hr", [None, {}, _kof_regional({}), _kof_regional({"cluster": {"volumes": "x"}}),
                                _kof_regional({"target-allocator": {"volumes": [{"name": "data"}]}})])
def test_collectors_workaround_patch_is_empty_without_the_workaround(hr):
    assert kr.collectors_workaround_patch(hr) == {}


# --------------------------------------------------------------------------- regional ConfigMap (KOF 1.x)
def test_regional_config_map_is_the_docs_object_named_as_kof_operator_resolves_it():
    """k0rdent docs kof-install "Regional ConfigMap", with every key kof-operator v1.10.0's ConfigData.ToMap has;
    named kof-<cluster> (GetRegionalClusterConfigMapName), the name a child's kof-regional-cluster-name label finds."""
    cm = kr.regional_config_map({"cluster_name": "us-hosted", "namespace": "kcm-system", "aws_region": "us-east-1",
                                 "regional_domain": "us.kof.example.com",
                                 "endpoints": {"logs_read": "https://logs.example.com/select"}})
    assert cm["metadata"] == {"name": "kof-us-hosted", "namespace": "kcm-system",
                              "labels": {"app.kubernetes.io/managed-by": "k0rdent.kof",
                                         "k0rdent.mirantis.com/kof-cluster-role": "regional"}}
    assert cm["data"] == {
        "regional_cluster_name": "us-hosted", "regional_cluster_namespace": "kcm-system",
        "regional_cluster_cloud": "aws", "aws_region": "us-east-1", "azure_location": "", "openstack_region": "",
        "vsphere_datacenter": "", "istio_role": "", "kof_http_config": "",
        "write_metrics_endpoint": "https://vmauth.us.kof.example.com/vm/insert/0/prometheus/api/v1/write",
        "read_metrics_endpoint": "https://vmauth.us.kof.example.com/vm/select/0/prometheus",
        "write_logs_endpoint": "https://vmauth.us.kof.example.com/vli/insert/opentelemetry/v1/logs",
        "read_logs_endpoint": "https://logs.example.com/select",
        "write_audit_logs_endpoint": "https://vmauth.us.kof.example.com/vlai/insert/opentelemetry/v1/logs",
        "read_audit_logs_endpoint": "https://vmauth.us.kof.example.com/vlas",
        "write_traces_endpoint": "https://vmauth.us.kof.example.com/vti/insert/opentelemetry/v1/traces",
        "read_traces_endpoint": "https://vmauth.us.kof.example.com/vts"}
    insecure = kr.regional_config_map({"cluster_name": "r", "regional_domain": "r.example.com",
                                       "insecure_skip_verify": "true"})
    assert insecure["data"]["kof_http_config"] == '{"tls_config": {"insecure_skip_verify": true}}'


@pytest.mark.parametrize("params, message", [
    ({"cluster_name": "r", "endpoints": {"metrics_read": "https://m.example.com"}},
     "regional_domain is empty and endpoints lacks metrics_write"),
    ({"cluster_name": "r", "regional_domain": "r.example.com", "endpoints": {"metric_read": "https://x.example"}},
     "endpoints has unknown keys metric_read"),
    ({"cluster_name": "r", "regional_domain": "r.example.com", "endpoints": {"logs_write": "ftp://x.example"}},
     "endpoints.logs_write 'ftp://x.example' is not an http(s) URL"),
    ({"cluster_name": "R", "regional_domain": "r.example.com"}, "cluster_name 'R' is not a valid name"),
])
def test_regional_config_map_refuses_bad_options(params, message):
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        kr.regional_config_map(params)


# ------------------------------------------------------------------ kof-storage StatefulSets' claim templates
def _cd_01(storage_values):
    import yaml
    return {"spec": {"serviceSpec": {"services": [
        {"name": "cert-manager", "values": "cert-manager: {crds: {enabled: true}}\n"},
        {"name": "kof-storage", "values": yaml.safe_dump(storage_values)}]}}}


def _cd_1x(storage_class=None, storage_values=None, role="regional"):
    import yaml
    ann = {"k0rdent.mirantis.com/kof-regional-domain": "eu.example.com"}
    if storage_class is not None:
        ann["k0rdent.mirantis.com/kof-storage-class"] = storage_class
    if storage_values is not None:
        ann["k0rdent.mirantis.com/kof-storage-values"] = yaml.safe_dump(storage_values)
    return {"metadata": {"labels": {"k0rdent.mirantis.com/kof-cluster-role": role}},
            "spec": {"config": {"clusterAnnotations": ann}}}


VLS = "kof-storage-victoria-logs-single-server"
VL, VT = "kof-storage-victoria-logs-cluster-vlstorage", "kof-storage-vt-cluster-vtstorage"


def test_claim_template_changes_0_1():
    pv = {"victoria-logs-single": {"server": {"persistentVolume": {"enabled": True}}}}
    with_class = {"victoria-logs-single": {"server": {"persistentVolume": {"enabled": True,
                                                                          "storageClassName": "fast"}}}}
    assert kr.claim_template_changes(None, _cd_01(with_class)) == []  # a new cluster
    assert kr.claim_template_changes(_cd_01(pv), _cd_01(pv)) == []
    assert kr.claim_template_changes(_cd_01(pv), _cd_01(with_class)) == [VLS]
    # the mount path reaches only the pod template (an update may change it)
    moved = {"victoria-logs-single": {"server": {"persistentVolume": {"enabled": True, "mountPath": "/data"}}}}
    assert kr.claim_template_changes(_cd_01(pv), _cd_01(moved)) == []
    # a Deployment (statefulSet.enabled false) or a disabled component has no claim template to keep
    dep = {"victoria-logs-single": {"server": {"statefulSet": {"enabled": False},
                                               "persistentVolume": {"enabled": True, "storageClassName": "fast"}}}}
    assert kr.claim_template_changes(_cd_01(pv), _cd_01(dep)) == []
    off = {"victoria-logs-single": {"enabled": False}}
    assert kr.claim_template_changes(_cd_01(pv), _cd_01(off)) == []


def test_claim_template_changes_1x():
    assert kr.claim_template_changes(_cd_1x(), _cd_1x()) == []
    # the storage class annotation reaches both the log and the trace storage (kof-regional v1.10.0)
    assert kr.claim_template_changes(_cd_1x(), _cd_1x("fast")) == [VL, VT]
    assert kr.claim_template_changes(_cd_1x("fast"), _cd_1x("fast", {"external-dns": {"enabled": True}})) == []
    bigger = {"victoria-traces-cluster": {"vtstorage": {"persistentVolume": {"size": "200Gi"}}}}
    assert kr.claim_template_changes(_cd_1x("fast"), _cd_1x("fast", bigger)) == [VT]
    # a class in the storage values wins over the annotation: the annotation's change does not reach that one
    pinned = {"victoria-logs-cluster": {"vlstorage": {"persistentVolume": {"storageClassName": "gp3"}}}}
    assert kr.claim_template_changes(_cd_1x("fast", pinned), _cd_1x("slow", pinned)) == [VT]
    # children carry no kof-storage
    assert kr.claim_template_changes(_cd_1x(role="child"), _cd_1x("fast", role="child")) == []
    # a 0.1.1 regional moved to the 1.x shape (migrate.yml): other StatefulSets, nothing updated in place
    assert kr.claim_template_changes(_cd_01({}), _cd_1x("fast")) == []


def test_claim_template_changes_1x_beneath_kof_regionals_storage_values():
    """The regional tier reads kof-regional's storage values (its HelmRelease) when a cluster's storage annotations
    change: a class they pin for one StatefulSet is not changed by the cluster's kof-storage-class annotation."""
    helm = {"victoria-logs-cluster": {"vlstorage": {"persistentVolume": {"storageClassName": "gp3"}}}}
    assert kr.claim_template_changes(_cd_1x("fast"), _cd_1x("slow")) == [VL, VT]
    assert kr.claim_template_changes(_cd_1x("fast"), _cd_1x("slow"), helm) == [VT]
    # their default class reaches the clusters without an annotation: adding one with the same class changes nothing
    default = {"global": {"storageClass": "gp3"}}
    assert kr.claim_template_changes(_cd_1x(), _cd_1x("gp3")) == [VL, VT]
    assert kr.claim_template_changes(_cd_1x(), _cd_1x("gp3"), default) == []
    # an explicit class in the cluster's values removed: the cluster falls back to kof-regional's pinned one, which
    # the annotations alone cannot see
    own = {"victoria-logs-cluster": {"vlstorage": {"persistentVolume": {"storageClassName": "fast"}}}}
    assert kr.claim_template_changes(_cd_1x("fast", own), _cd_1x("fast")) == []
    assert kr.claim_template_changes(_cd_1x("fast", own), _cd_1x("fast"), helm) == [VL]


def test_storage_annotations_change_only_for_a_live_1x_regional():
    assert kr.storage_annotations_change(_cd_1x(), _cd_1x("fast"))
    assert kr.storage_annotations_change(_cd_1x("fast"), _cd_1x("fast", {"external-dns": {"enabled": True}}))
    assert not kr.storage_annotations_change(_cd_1x("fast"), _cd_1x("fast"))
    assert not kr.storage_annotations_change(None, _cd_1x("fast"))  # a new cluster: nothing to re-create
    assert not kr.storage_annotations_change(_cd_1x(role="child"), _cd_1x("fast", role="child"))
    assert not kr.storage_annotations_change(_cd_01({}), _cd_01({"global": {"storageClass": "fast"}}))


def _named(cd, name, namespace="kcm-system"):
    cd["metadata"].update(name=name, namespace=namespace)
    return cd


# the umbrella chart's kof-regional storage defaults (k0rdent/kof v1.10.0 charts/kof/values.yaml), claim part
DEFAULTS = kr.storage_claim_values({
    "cert-manager": {"cluster-issuer": {"provider": "letsencrypt"}},
    "victoria-logs-cluster": {"enabled": True, "vlstorage": {"persistentVolume": {"size": "100Gi"}}},
    "victoria-traces-cluster": {"enabled": True, "vtstorage": {"persistentVolume": {"size": "100Gi"}}}})


def _hr(storage):
    return {"spec": {"values": {"storage": storage}}}


def test_storage_claim_values_keeps_only_what_reaches_the_claim_templates():
    assert DEFAULTS == {"victoria-logs-cluster": {"enabled": True, "vlstorage": {"persistentVolume": {"size": "100Gi"}}},
                        "victoria-traces-cluster": {"enabled": True,
                                                    "vtstorage": {"persistentVolume": {"size": "100Gi"}}}}
    assert kr.storage_claim_values({"global": {"storageClass": "gp3", "clusterName": "x"},
                                    "victoria-logs-cluster": {"vlstorage": {"podManagementPolicy": "Parallel",
                                                                            "resources": {"cpu": 1}}}}) == {
        "global": {"storageClass": "gp3"},
        "victoria-logs-cluster": {"vlstorage": {"podManagementPolicy": "Parallel"}}}
    assert kr.storage_claim_values(None) == {}


def test_storage_values_claim_changes_judges_every_regional_with_its_own_annotations():
    live = _hr(helm_merge(DEFAULTS, {"cert-manager": {"enabled": True}}))
    plain = _named(_cd_1x(), "eu-storage")
    sized = _named(_cd_1x(storage_values={"victoria-logs-cluster": {"vlstorage": {"persistentVolume": {
        "size": "500Gi"}}}}), "us-storage", "team-a")
    regionals = [sized, plain]
    change = kr.storage_values_claim_changes
    # nothing that reaches a claim template changes: no cluster, whatever else does
    assert change(regionals, live["spec"]["values"]["storage"], {"gateway": {"annotations": {"a": "b"}}},
                  DEFAULTS) == []
    # a bigger log volume: every regional whose annotation does not set its own size, sorted by namespace/name
    bigger = {"victoria-logs-cluster": {"vlstorage": {"persistentVolume": {"size": "200Gi"}}}}
    assert change(regionals, live["spec"]["values"]["storage"], bigger, DEFAULTS) == [
        {"cluster": "kcm-system/eu-storage", "statefulsets": [VL]}]
    # a default storage class reaches both claim templates of the clusters without a kof-storage-class annotation
    classed = {"global": {"storageClass": "gp3"}}
    annotated = _named(_cd_1x("fast"), "ap-storage")
    assert change([plain, annotated], live["spec"]["values"]["storage"], classed, DEFAULTS) == [
        {"cluster": "kcm-system/eu-storage", "statefulsets": [VL, VT]}]
    # back to the defaults from a size the installed values set: the chart's default is what comes back
    assert change([plain], helm_merge(DEFAULTS, bigger), {}, DEFAULTS) == [
        {"cluster": "kcm-system/eu-storage", "statefulsets": [VL]}]
    assert change([plain], helm_merge(DEFAULTS, bigger), bigger, DEFAULTS) == []
    # a cluster being deleted is left alone; regionless mode judges the management cluster ("")
    going = _named(_cd_1x(), "old-storage")
    going["metadata"]["deletionTimestamp"] = "2026-12-07T00:00:00Z"
    assert change([going], live["spec"]["values"]["storage"], bigger, DEFAULTS, management=True) == [
        {"cluster": "", "statefulsets": [VL]}]


def test_grafana_claim_change_0_1():
    def cd(storage_class=None, grafana=None):
        values = {"global": {"storageClass": storage_class}} if storage_class else {}
        if grafana is not None:
            values["grafana"] = grafana
        return _cd_01(values)
    assert kr.grafana_claim_change(None, cd("fast")) is None  # a new cluster
    assert kr.grafana_claim_change(cd("gp2"), cd("gp2")) is None
    assert kr.grafana_claim_change(cd("gp2"), cd("fast")) == {"namespace": "kof", "grafana": "grafana-vm",
                                                              "claim": "grafana-vm-pvc", "from": "gp2", "to": "fast"}
    # from the cluster's default class to a named one: the claim's class may change
    assert kr.grafana_claim_change(cd(), cd("fast"))["from"] is None
    # unset: grafana-operator's merge keeps the live claim's class
    assert kr.grafana_claim_change(cd("gp2"), cd()) is None
    # no Grafana in kof-storage, or KOF 1.x (Grafana is off on regional clusters, the class is not global there)
    assert kr.grafana_claim_change(cd("gp2", {"enabled": False}), cd("fast", {"enabled": False})) is None
    assert kr.grafana_claim_change(_cd_1x("gp2"), _cd_1x("fast")) is None


def test_a_grafana_stuck_at_a_stage_is_a_problem():
    from ansible_collections.k0rdent.kof.plugins.plugin_utils import health  # pylint: disable=import-outside-toplevel
    ok = {"metadata": {"name": "grafana-vm", "namespace": "kof"}, "status": {"stage": "complete",
                                                                            "stageStatus": "success"}}
    stuck = {"metadata": {"name": "grafana-vm", "namespace": "kof"},
             "status": {"stage": "pvc", "stageStatus": "failed",
                        "lastMessage": 'PersistentVolumeClaim "grafana-vm-pvc" is invalid: spec: Forbidden'}}
    assert health.grafana_problems([ok, {"metadata": {"name": "new", "namespace": "kof"}}]) == []
    assert health.grafana_problems([stuck]) == [
        'Grafana kof/grafana-vm: stage pvc failed: PersistentVolumeClaim "grafana-vm-pvc" is invalid: spec: Forbidden']
