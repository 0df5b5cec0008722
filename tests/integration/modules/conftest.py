"""Fixtures for the module integration tests: one kofsim per test module, and the part of kof-mothership the
modules need (the PromxyServerGroup / grafana-operator CRDs, namespace kof, the storage-vmuser-credentials
Secret, the Grafana instance, the promxy-operator Deployment), applied with the kubernetes client in well under a
second instead of a helm run."""
from __future__ import annotations

import base64
import json
import socket
import sys
import time

import pytest
import yaml

from kofsim.testing import Kofsim
from tests.helpers import ROOT, ansible_playbook, tool_env

# kofsim's CRD library (the same definitions its kof-mothership stand-in installs)
CRDS = ROOT / "kofsim" / "kofsim" / "data" / "crds"
PLAYBOOKS = ROOT / "tests" / "integration" / "modules" / "playbooks"
# what the tests assert never shows up anywhere: the value of the storage credentials
SECRET_USER = "vmuser-7d1c"
SECRET_PASSWORD = "s3cr3t-Pa55-9f2e41"


class Mothership:
    """Installs the objects of kof-mothership the modules depend on, through the real HTTPS API."""

    def __init__(self, kofsim: Kofsim):
        from kubernetes import client, config
        self.kofsim = kofsim
        self.api = config.new_client_from_config(config_file=kofsim.kubeconfig)
        self.client = client

    def crds(self, names=("promxyservergroups", "grafanadatasources", "grafanas")):
        ext = self.client.ApiextensionsV1Api(self.api)
        for path in sorted(CRDS.glob("*/*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if doc and doc["spec"]["names"]["plural"] in names:
                    ext.create_custom_resource_definition(doc)
        deadline = time.monotonic() + 20
        for name in names:  # served once Established
            crd_name = next(p.stem for p in CRDS.glob(f"*/{name}.*.yaml"))
            while True:
                status = ext.read_custom_resource_definition(crd_name).status
                if any(c.type == "Established" and c.status == "True" for c in (status and status.conditions) or []):
                    break
                assert time.monotonic() < deadline, f"CRD {crd_name} not established"
                time.sleep(0.05)

    def namespace(self, name="kof"):
        self.client.CoreV1Api(self.api).create_namespace({"metadata": {"name": name}})

    def credentials(self, namespace="kof", name="storage-vmuser-credentials"):
        data = {"username": SECRET_USER, "password": SECRET_PASSWORD}
        self.client.CoreV1Api(self.api).create_namespaced_secret(namespace, {
            "metadata": {"name": name},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}})

    def grafana(self, namespace="kof"):
        self.client.CustomObjectsApi(self.api).create_namespaced_custom_object(
            "grafana.integreatly.org", "v1beta1", namespace, "grafanas",
            {"apiVersion": "grafana.integreatly.org/v1beta1", "kind": "Grafana",
             "metadata": {"name": "grafana-vm", "labels": {"dashboards": "grafana"}}, "spec": {}})

    def promxy_operator(self, namespace="kof"):
        """The operator's Deployment: kofsim's promxy-operator renders only while it runs."""
        labels = {"app.kubernetes.io/name": "promxy-operator"}
        self.client.AppsV1Api(self.api).create_namespaced_deployment(namespace, {
            "metadata": {"name": "kof-mothership-promxy-operator", "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                         {"name": "manager", "image": "ghcr.io/k0rdent/kof/promxy-operator-controller:latest"}]}}}})

    def install(self):
        self.crds()
        self.namespace()
        self.credentials()
        self.grafana()
        self.promxy_operator()

    def get(self, group, version, plural, name, namespace="kof"):
        try:
            return self.client.CustomObjectsApi(self.api).get_namespaced_custom_object(
                group, version, namespace, plural, name)
        except self.client.ApiException as err:
            if err.status == 404:
                return None
            raise

    def secret(self, name, namespace="kof"):
        try:
            return self.client.CoreV1Api(self.api).read_namespaced_secret(name, namespace)
        except self.client.ApiException as err:
            if err.status == 404:
                return None
            raise


@pytest.fixture(scope="module")
def kofsim(tmp_path_factory):
    k = Kofsim(tmp_path_factory.mktemp("kofsim"))
    k.start()
    yield k
    k.stop()


@pytest.fixture
def fresh(kofsim):
    """kofsim back to its seed (a k0rdent management cluster without KOF) before each test."""
    kofsim.reset()
    return Mothership(kofsim)


@pytest.fixture
def run_playbook(kofsim, tmp_path):
    """Runs one of playbooks/ with the real ansible-playbook against kofsim (kubeconfig from K8S_AUTH_KUBECONFIG,
    as an AWX credential gives it); the playbooks get kofsim's URL, CA and token to read its request log."""
    home = tmp_path / "home"
    home.mkdir()
    with socket.socket() as sock:  # a port nothing listens on, for "API unreachable"
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps({
        "kofsim_url": kofsim.url, "kofsim_token": kofsim.token, "kofsim_ca": kofsim.ca_file,
        "closed_port": closed_port, "ansible_python_interpreter": sys.executable}))

    def run(name, *args):
        env = tool_env(home=home)
        env["K8S_AUTH_KUBECONFIG"] = kofsim.kubeconfig
        env["ANSIBLE_PIPELINING"] = "1"  # local connection: no temporary module files per task
        result = ansible_playbook(PLAYBOOKS / name, "-i", "localhost,", "-c", "local", "-e", f"@{extra}", *args,
                                  env=env, timeout=600)
        # the whole output, for a failure's post-mortem (the assertion shows only its tail)
        (tmp_path / f"{name}.out").write_text(result.stdout + result.stderr)
        return result
    return run
