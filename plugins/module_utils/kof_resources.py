# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# Apache License 2.0 (see LICENSE)
"""Pure logic of the KOF custom resources: validation, KOF-version mapping and the objects the install guide
composes (PromxyServerGroup and GrafanaDatasource). No client here, so action plugins can reuse it."""
from __future__ import annotations

import re
from urllib.parse import urlparse

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$")
DURATION = re.compile(r"^(\d+(\.\d+)?(h|m|s|ms))+$")
VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?$")
DATASOURCE_TYPES = ("victoriametrics-logs-datasource", "prometheus", "victoriametrics-metrics-datasource", "loki",
                    "jaeger", "alertmanager")
GRAFANA_API = "grafana.integreatly.org/v1beta1"
DEFAULT_PROMXY_SECRET = "kof-mothership-promxy-config"
STORAGE_SECRET = "storage-vmuser-credentials"


class ValidationError(ValueError):
    """Bad module input: the message names the option."""


def kof_version_tuple(version: str) -> tuple:
    m = VERSION.match(str(version or ""))
    if not m:
        raise ValidationError(f"kof_version {version!r} is not a version like 0.1.1")
    return tuple(int(x) for x in m.groups())


def psg_api(kof_version: str) -> tuple[str, str]:
    """(apiVersion, secret-name label) of PromxyServerGroup for a KOF version (kof-facts §0-§1)."""
    v = kof_version_tuple(kof_version)
    if v < (1, 0, 0):
        return "kof.k0rdent.mirantis.com/v1alpha1", "k0rdent.mirantis.com/promxy-secret-name"
    if v < (1, 8, 0):
        return "kof.k0rdent.mirantis.com/v1beta1", "k0rdent.mirantis.com/promxy-secret-name"
    return "kof.k0rdent.mirantis.com/v1beta1", "k0rdent.mirantis.com/secret-name"


def check_name(value, option, label=False):
    limit = 63 if label else 253
    rx = DNS1123_LABEL if label else DNS1123_SUBDOMAIN
    if not isinstance(value, str) or not rx.match(value) or len(value) > limit:
        kind = "RFC 1123 label" if label else "DNS-1123 subdomain"
        raise ValidationError(f"{option} {value!r} is not a valid name (lowercase {kind}, at most {limit} characters)")
    return value


def check_target(value, option="targets"):
    host, sep, port = str(value).rpartition(":")
    if not sep or not HOSTNAME.match(host or "") or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValidationError(f"{option} entry {value!r} is not host:port (for example vmauth.example.com:443)")
    return value


def check_url(value, option):
    u = urlparse(str(value or ""))
    if u.scheme not in ("http", "https") or not u.hostname or not HOSTNAME.match(u.hostname):
        raise ValidationError(f"{option} {value!r} is not an http(s) URL")
    return value


def check_duration(value, option):
    if not DURATION.match(str(value or "")):
        raise ValidationError(f"{option} {value!r} is not a duration like 5s or 1m30s")
    return value


def check_labels(labels, option):
    for k, v in (labels or {}).items():
        prefix, _, name = str(k).rpartition("/")
        if (prefix and not DNS1123_SUBDOMAIN.match(prefix)) or not re.match(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$", name) \
                or len(name) > 63:
            raise ValidationError(f"{option} key {k!r} is not a valid label key")
        if option.endswith("labels") and v not in (None, "") and (
                not re.match(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$", str(v)) or len(str(v)) > 63):
            raise ValidationError(f"{option} value {v!r} of {k!r} is not a valid label value")
    return labels


# ------------------------------------------------------------------------------------ PromxyServerGroup
def promxy_server_group(p: dict) -> dict:
    """The PromxyServerGroup for module params `p` (guide defaults derived from cluster_name + regional_domain)."""
    cluster = check_name(p.get("cluster_name"), "cluster_name", label=True)
    domain = p.get("regional_domain")
    if domain is not None and not HOSTNAME.match(str(domain)):
        raise ValidationError(f"regional_domain {domain!r} is not a DNS domain")
    targets = p.get("targets") or ([f"vmauth.{domain}:443"] if domain else None)
    if not targets:
        raise ValidationError("targets is empty: give targets, or regional_domain to use vmauth.<domain>:443")
    for t in targets:
        check_target(t)
    name = check_name(p.get("name") or f"{cluster}-metrics", "name")
    namespace = check_name(p.get("namespace") or "kof", "namespace", label=True)
    api_version, label_key = psg_api(p.get("kof_version") or "0.1.1")
    secret_label = check_name(p.get("promxy_secret") or DEFAULT_PROMXY_SECRET, "promxy_secret")
    scheme = p.get("scheme") or "https"
    if scheme not in ("http", "https"):
        raise ValidationError(f"scheme {scheme!r} must be http or https")
    path_prefix = p.get("path_prefix") if p.get("path_prefix") is not None else "/vm/select/0/prometheus/"
    if not str(path_prefix).startswith("/"):
        raise ValidationError(f"path_prefix {path_prefix!r} must start with /")
    auth = p.get("basic_auth") or {}
    secret = auth.get("secret_name", STORAGE_SECRET)
    labels = {"app.kubernetes.io/name": "promxy-operator", label_key: secret_label}
    labels.update(check_labels(p.get("labels") or {}, "labels"))
    http = {"dial_timeout": check_duration(p.get("dial_timeout") or "5s", "dial_timeout"),
            "tls_config": {"insecure_skip_verify": bool(p.get("insecure_skip_verify", False))}}
    if secret:
        http["basic_auth"] = {"credentials_secret_name": check_name(secret, "basic_auth.secret_name"),
                              "username_key": auth.get("username_key") or "username",
                              "password_key": auth.get("password_key") or "password"}
    elif kof_version_tuple(p.get("kof_version") or "0.1.1") < (0, 2, 0):
        raise ValidationError("basic_auth.secret_name is empty: the KOF 0.1.x promxy-operator requires basic auth")
    obj = {"apiVersion": api_version, "kind": "PromxyServerGroup",
           "metadata": {"name": name, "namespace": namespace, "labels": labels},
           "spec": {"cluster_name": cluster, "targets": list(targets), "path_prefix": path_prefix, "scheme": scheme,
                    "http_client": http}}
    if p.get("annotations"):
        obj["metadata"]["annotations"] = check_labels(p["annotations"], "annotations")
    return obj


# ------------------------------------------------------------------------------------ GrafanaDatasource
def grafana_datasource(p: dict) -> dict:
    """The GrafanaDatasource for module params `p`; credentials only as Secret references (valuesFrom)."""
    cluster = p.get("cluster_name")
    if cluster is not None:
        check_name(cluster, "cluster_name", label=True)
    domain = p.get("regional_domain")
    if domain is not None and not HOSTNAME.match(str(domain)):
        raise ValidationError(f"regional_domain {domain!r} is not a DNS domain")
    name = p.get("name") or (f"{cluster}-logs" if cluster else None)
    if not name:
        raise ValidationError("name is required unless cluster_name is given (name defaults to <cluster_name>-logs)")
    check_name(name, "name")
    namespace = check_name(p.get("namespace") or "kof", "namespace", label=True)
    ds_name = p.get("datasource_name") or cluster or name
    ds_type = p.get("type") or "victoriametrics-logs-datasource"
    if ds_type not in DATASOURCE_TYPES:
        raise ValidationError(f"type {ds_type!r} must be one of {', '.join(DATASOURCE_TYPES)}")
    url = p.get("url") or (f"https://vmauth.{domain}/vls" if domain else None)
    if not url:
        raise ValidationError("url is empty: give url, or regional_domain to use https://vmauth.<domain>/vls")
    check_url(url, "url")
    access = p.get("access") or "proxy"
    if access not in ("proxy", "direct"):
        raise ValidationError(f"access {access!r} must be proxy or direct")
    resync = check_duration(p.get("resync_period") or "5m", "resync_period")
    selector = p.get("instance_selector") or {"dashboards": "grafana"}
    check_labels(selector, "instance_selector labels")
    datasource = {"name": ds_name, "url": url, "access": access, "isDefault": bool(p.get("is_default", False)),
                  "type": ds_type}
    if p.get("json_data"):
        datasource["jsonData"] = p["json_data"]
    spec = {"datasource": datasource, "instanceSelector": {"matchLabels": dict(selector)}, "resyncPeriod": resync}
    auth = p.get("basic_auth")
    if auth is None and cluster:
        auth = {"secret_name": STORAGE_SECRET}
    if auth and auth.get("secret_name"):
        secret = check_name(auth["secret_name"], "basic_auth.secret_name")
        ukey, pkey = auth.get("username_key") or "username", auth.get("password_key") or "password"
        datasource.update({"basicAuth": True, "basicAuthUser": "${%s}" % ukey,
                           "secureJsonData": {"basicAuthPassword": "${%s}" % pkey}})
        spec["valuesFrom"] = [
            {"targetPath": "basicAuthUser", "valueFrom": {"secretKeyRef": {"key": ukey, "name": secret}}},
            {"targetPath": "secureJsonData.basicAuthPassword", "valueFrom": {"secretKeyRef": {"key": pkey, "name": secret}}}]
    if p.get("allow_cross_namespace_import"):
        spec["allowCrossNamespaceImport"] = True
    labels = {"app.kubernetes.io/managed-by": "k0rdent.kof"}
    labels.update(check_labels(p.get("labels") or {}, "labels"))
    obj = {"apiVersion": GRAFANA_API, "kind": "GrafanaDatasource",
           "metadata": {"name": name, "namespace": namespace, "labels": labels}, "spec": spec}
    if p.get("annotations"):
        obj["metadata"]["annotations"] = check_labels(p["annotations"], "annotations")
    return obj


def referenced_secret(obj: dict) -> str | None:
    if obj["kind"] == "PromxyServerGroup":
        return ((obj["spec"].get("http_client") or {}).get("basic_auth") or {}).get("credentials_secret_name")
    for vf in obj["spec"].get("valuesFrom") or []:
        ref = (vf.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            return ref.get("name")
    return None
