"""grafana_access.yml on KOF 1.10 (kofsim serving kcm 1.x). Grafana is optional in KOF 1.x and off by default: the
playbook then says how to enable it, having written nothing. Enabled as the k0rdent docs do it (kof-grafana:
kof-operators' grafana-operator and kof-mothership's grafana.enabled in the umbrella values, then the user's Grafana
instance grafana-vm), the admin credentials kof-mothership made go to a private file, never to the output, with the
port-forward command."""
from __future__ import annotations

import base64
import json
import os
import stat
import time

import pytest
import yaml

from kofsim.testing import Kofsim
from tests.helpers import ROOT, ansible_playbook, tool_env
from tests.integration.kof1x import flat, kubectl, kubectl_json
from tests.integration.tiers.conftest import write_inventory

HOSTS = {"all": {"children": {"kof_management": {"hosts": {"hub": None}}}}}
GRAFANA_ON = {"kof-operators": {"values": {"grafana-operator": {"enabled": True}}},
              "kof-mothership": {"values": {"grafana": {"enabled": True}}}}
# the docs' "Install Grafana manually" (k0rdent docs admin/kof/kof-grafana), verbatim but for the comments (the
# Grafana CRD is grafana-operator v5.21.4's, kof-operators 1.10.0's: disableDefaultAdminSecret is one of its fields)
GRAFANA = {"apiVersion": "grafana.integreatly.org/v1beta1", "kind": "Grafana",
           "metadata": {"name": "grafana-vm", "namespace": "kof", "labels": {"dashboards": "grafana"}},
           "spec": {"version": "10.4.18-security-01", "disableDefaultAdminSecret": True,
                    "persistentVolumeClaim": {"spec": {"accessModes": ["ReadWriteOnce"],
                                                       "resources": {"requests": {"storage": "200Mi"}}}},
                    "deployment": {"spec": {"template": {"spec": {
                        "securityContext": {"fsGroup": 472},
                        "volumes": [{"name": "grafana-data", "persistentVolumeClaim": {"claimName": "grafana-vm-pvc"}}],
                        "containers": [{"name": "grafana", "env": [
                        *({"name": k, "valueFrom": {"secretKeyRef": {"key": k, "name": "grafana-admin-credentials"}}}
                          for k in ("GF_SECURITY_ADMIN_USER", "GF_SECURITY_ADMIN_PASSWORD")),
                        {"name": "GF_INSTALL_PLUGINS", "value": "victoriametrics-logs-datasource 0.21.0,"
                                                                "victoriametrics-metrics-datasource 0.19.4"}]}]}}}}}}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    k = Kofsim(tmp_path_factory.mktemp("kofsim-grafana-1x"), ready_after=0.3, kcm_api_version="v1beta1")
    k.start()
    gv = {"kof_version": "1.10.0", "kof_chart_repository": str(ROOT / "kofsim" / "kofsim" / "charts-1.10"),
          "kof_dns_mode": "none", "kof_wait_timeout": 300, "kof_access_dir": str(tmp_path_factory.mktemp("access"))}
    yield {"kofsim": k, "gv": gv, "inv": tmp_path_factory.mktemp("inventory"),
           "env": tool_env(home=tmp_path_factory.mktemp("home"), extra={"K8S_AUTH_KUBECONFIG": k.kubeconfig})}
    k.stop()


def play(fleet, playbook, **group_vars):
    inv = write_inventory(fleet["inv"], json.loads(json.dumps(HOSTS)), dict(fleet["gv"], **group_vars))
    return ansible_playbook("-i", inv, f"playbooks/{playbook}", env=fleet["env"])


def test_1_without_grafana_it_says_how_to_enable_it(fleet):
    assert play(fleet, "mothership.yml").rc == 0
    k = fleet["kofsim"]
    seq = k.last_seq()
    run = play(fleet, "grafana_access.yml")
    assert run.rc != 0
    out = flat(run.stdout)
    assert "Service kof/grafana-vm-service not found on the management cluster: Grafana is optional in KOF 1.10.0 " \
           "and off by default. Enable it as the k0rdent docs (admin/kof, kof-grafana) do - kof_values " \
           "kof-operators.values.grafana-operator.enabled and kof-mothership.values.grafana.enabled" in out, out[-2000:]
    assert k.writes(since=seq) == []
    assert not os.listdir(fleet["gv"]["kof_access_dir"])


def test_2_enabled_the_credentials_go_to_a_private_file(fleet):
    run = play(fleet, "mothership.yml", kof_values=GRAFANA_ON)
    assert run.rc == 0, run
    kubectl(fleet, "apply", "-f", "-", input=json.dumps(GRAFANA))
    deadline = time.monotonic() + 60
    while kubectl_json(fleet, "get", "service", "-n", "kof", "grafana-vm-service", check=False) is None:
        assert time.monotonic() < deadline, "grafana-operator made no grafana-vm-service"
        time.sleep(0.5)
    secret = kubectl_json(fleet, "get", "secret", "-n", "kof", "grafana-admin-credentials")
    user, password = (base64.b64decode(secret["data"][k]).decode()
                      for k in ("GF_SECURITY_ADMIN_USER", "GF_SECURITY_ADMIN_PASSWORD"))
    run = play(fleet, "grafana_access.yml", kof_values=GRAFANA_ON)
    assert run.rc == 0, run
    path = os.path.join(fleet["gv"]["kof_access_dir"], "hub-grafana-admin.yml")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert yaml.safe_load(open(path, encoding="utf-8")) == {"user": user, "password": password}
    assert password not in run.stdout + run.stderr
    assert "port-forward -n kof svc/grafana-vm-service" in run.stdout
