"""KOF's operators on the management cluster, as far as the collection observes them.

- promxy-operator (kof-facts §1): on any PromxyServerGroup event, list the PSGs of that namespace grouped by
  the secret-name label, read each one's basic-auth Secret (mandatory in 0.1.x: one missing Secret aborts the
  whole render) and write Secret `<label value>` key `config.yaml` with the server groups
  (label promxyCluster=<cluster_name>). A PSG without the label is skipped. The operator does not watch
  Secrets: rotating credentials does not re-render until some PSG changes (as the real one).
- grafana-operator: a GrafanaDatasource gets status (NoMatchingInstances, uid, hash, lastResync and a
  DatasourceSynchronized condition for its generation) from the Grafana instances its instanceSelector matches.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import json

import yaml

from ..selectors import match_label_selector_obj
from ..store import now

PSG_GROUP = "kof.k0rdent.mirantis.com"
SECRET_LABELS = ("k0rdent.mirantis.com/promxy-secret-name", "promxy-secret-name", "k0rdent.mirantis.com/secret-name")
GRAFANA_GROUP = "grafana.integreatly.org"


class KofOperators:
    def __init__(self, layer):
        self.layer = layer
        self.mgmt = layer.mgmt
        self.ctl = layer.sim.controllers[""]
        self.mgmt.listeners.append(self.on_event)

    def rt(self, group, plural):
        rts = self.mgmt.registry.versions_of(group, plural)
        return self.mgmt.storage_rt(rts[0]) if rts else None

    def on_event(self, type_, rt, obj):
        ns = obj["metadata"].get("namespace", "")
        if rt.group == PSG_GROUP and rt.kind == "PromxyServerGroup":
            self.ctl.schedule(("promxy", ns), self.render_promxy, ns)
        elif rt.group == GRAFANA_GROUP and rt.kind == "GrafanaDatasource" and type_ != "DELETED":
            self.ctl.schedule(("gds", ns, obj["metadata"]["name"]), self.sync_datasource, ns, obj["metadata"]["name"])
        elif rt.group == GRAFANA_GROUP and rt.kind == "Grafana":
            gds_rt = self.rt(GRAFANA_GROUP, "grafanadatasources")
            for d in self.mgmt.list_objects(gds_rt, ns) if gds_rt else []:
                self.ctl.schedule(("gds", ns, d["metadata"]["name"]), self.sync_datasource, ns, d["metadata"]["name"])

    # ---------------------------------------------------------------------------------- promxy
    def render_promxy(self, ns):
        rt = self.rt(PSG_GROUP, "promxyservergroups")
        if rt is None:
            return
        groups: dict[str, list] = {}
        for psg in self.mgmt.list_objects(rt, ns):
            labels = psg["metadata"].get("labels") or {}
            target = next((labels[k] for k in SECRET_LABELS if labels.get(k)), None)
            if target and not psg["metadata"].get("deletionTimestamp"):
                groups.setdefault(target, []).append(psg)
        sec_rt = self.mgmt.registry.get("", "v1", "secrets")
        for secret_name, psgs in groups.items():
            server_groups = []
            for psg in sorted(psgs, key=lambda p: p["metadata"]["name"]):
                spec = psg.get("spec") or {}
                http = spec.get("http_client") or {}
                ba = http.get("basic_auth") or {}
                cred = self.mgmt.find(sec_rt, ns, ba.get("credentials_secret_name", ""))
                if cred is None:
                    return  # PromxySecretCreationFailed: the whole reconcile stops (0.1.x behaviour)
                data = cred.get("data") or {}
                user = base64.b64decode(data.get(ba.get("username_key", ""), "")).decode()
                pw = base64.b64decode(data.get(ba.get("password_key", ""), "")).decode()
                server_groups.append({
                    "static_configs": [{"targets": list(spec.get("targets") or [])}],
                    "path_prefix": spec.get("path_prefix", ""), "scheme": spec.get("scheme", "http"),
                    "http_client": {"dial_timeout": http.get("dial_timeout", "5s"),
                                    "tls_config": {"insecure_skip_verify": bool(
                                        (http.get("tls_config") or {}).get("insecure_skip_verify", False))},
                                    "basic_auth": {"username": user, "password": pw}},
                    "labels": {"promxyCluster": spec.get("cluster_name", "")}})
            config = {"global": {"evaluation_interval": "5s", "external_labels": {"source": "promxy"}},
                      "remote_write": [{"url": "http://vminsert-cluster:8480/insert/0/prometheus/api/v1/write"}],
                      "promxy": {"server_groups": server_groups}}
            body = yaml.safe_dump(config, sort_keys=False).encode()
            cur = self.mgmt.find(sec_rt, ns, secret_name)
            want = base64.b64encode(body).decode()
            if cur is not None and (cur.get("data") or {}).get("config.yaml") == want:
                continue
            obj = copy.deepcopy(cur) if cur else {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                                                 "metadata": {"name": secret_name, "namespace": ns}}
            obj.setdefault("metadata", {}).setdefault("labels", {})["app.kubernetes.io/managed-by"] = "promxy-operator"
            obj["data"] = dict(obj.get("data") or {}, **{"config.yaml": want})
            self.mgmt.upsert(obj)

    # ---------------------------------------------------------------------------- grafana-operator
    def sync_datasource(self, ns, name):
        rt = self.rt(GRAFANA_GROUP, "grafanadatasources")
        g_rt = self.rt(GRAFANA_GROUP, "grafanas")
        ds = self.mgmt.find(rt, ns, name) if rt else None
        if ds is None or ds["metadata"].get("deletionTimestamp"):
            return
        spec = ds.get("spec") or {}
        selector = spec.get("instanceSelector") or {}
        instances = [g for g in (self.mgmt.list_objects(g_rt, ns) if g_rt else [])
                     if match_label_selector_obj(selector, g["metadata"].get("labels"))]
        gen = ds["metadata"].get("generation", 1)
        ts = now()
        prev = ds.get("status") or {}
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
        if instances:
            cond = {"type": "DatasourceSynchronized", "status": "True", "reason": "ApplySuccessful",
                    "message": f"Datasource was successfully applied to {len(instances)} instances",
                    "observedGeneration": gen, "lastTransitionTime": ts}
            status = {"NoMatchingInstances": False, "hash": digest, "lastResync": ts,
                      "uid": (spec.get("datasource") or {}).get("uid") or ds["metadata"]["uid"],
                      "conditions": [cond]}
        else:
            cond = {"type": "DatasourceSynchronized", "status": "False", "reason": "NoMatchingInstances",
                    "message": "No instances found matching .spec.instanceSelector",
                    "observedGeneration": gen, "lastTransitionTime": ts}
            status = {"NoMatchingInstances": True, "conditions": [cond]}
        old_cond = (prev.get("conditions") or [{}])[0]
        if (prev.get("NoMatchingInstances") == status["NoMatchingInstances"] and prev.get("hash") == status.get("hash")
                and old_cond.get("observedGeneration") == gen):
            return
        self.mgmt.set_status(rt, ds, status)
