"""Fixtures for the dns role tests: one kofsim and one moto server per test module, reset before each test, and
a runner for the real playbooks against both (AWS through amazon.aws to moto, Kubernetes over HTTPS to kofsim)."""
from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.error
import urllib.request

import pytest
import yaml

from kofsim.testing import Kofsim
from tests.helpers import ROOT, ansible_playbook, tool_env
from tests.moto_server import MotoServer

LOCAL = ROOT / "inventories" / "local"


@pytest.fixture(scope="module")
def moto():
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="module")
def kofsim_dns(tmp_path_factory):
    k = Kofsim(tmp_path_factory.mktemp("kofsim"))
    k.start()
    yield k
    k.stop()


class Dns:
    """The local inventory (management cluster, two regions, children), kofsim's kubeconfig, dummy AWS
    credentials. No AWS region in the environment: the role provides it (vars/main.yml, dns_aws_environment)."""

    def __init__(self, k: Kofsim, moto: MotoServer, tmp_path):
        self.k, self.moto, self.tmp = k, moto, tmp_path
        self.report_dir = tmp_path / "out"
        home = tmp_path / "home"
        home.mkdir()
        self.env = tool_env(home=home)
        for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_URL", "AWS_SESSION_TOKEN"):
            self.env.pop(var, None)
        self.env.update({key: value for key, value in moto.env().items() if key != "AWS_DEFAULT_REGION"})
        self.env["K8S_AUTH_KUBECONFIG"] = k.kubeconfig
        self.hosts = yaml.safe_load((LOCAL / "hosts.yml").read_text())
        self.group_vars = yaml.safe_load((LOCAL / "group_vars" / "all.yml").read_text())
        self.group_vars.pop("kof_chart_repository", None)  # no chart is installed here
        # named, as a production inventory pins it: the refusals then send not even a read (with kof_version auto
        # the run first reads which KOF runs, tests/integration/kof1x/test_auto_version.py)
        self.group_vars["kof_version"] = "0.1.1"

    def inventory(self):
        inv = self.tmp / "inventory"
        (inv / "group_vars").mkdir(parents=True, exist_ok=True)
        (inv / "hosts.yml").write_text(yaml.safe_dump(self.hosts, sort_keys=False))
        (inv / "group_vars" / "all.yml").write_text(yaml.safe_dump(self.group_vars, sort_keys=False))
        return inv

    def play(self, playbook: str, *args, **extra_vars):
        ev = {"kof_dns_aws_endpoint_url": self.moto.url, "kof_report_dir": str(self.report_dir)}
        ev.update(extra_vars)
        return ansible_playbook(ROOT / "playbooks" / playbook, "-i", self.inventory(), "-e", json.dumps(ev), *args,
                                env=self.env, timeout=600)

    # -- kofsim reads (GETs, never writes) -------------------------------------------------------------
    def secret(self, namespace: str, name: str) -> dict | None:
        status, body = self.k.call("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}", raw=True)
        return json.loads(body) if status == 200 else None

    def regional_get(self, cluster: str, path: str):
        """GET on a regional (virtual) cluster with the credentials of its kubeconfig Secret."""
        sec = self.secret("kcm-system", f"{cluster}-kubeconfig")
        if sec is None:
            return None
        kc = yaml.safe_load(base64.b64decode(sec["data"]["value"]))
        cl, user = kc["clusters"][0]["cluster"], kc["users"][0]["user"]
        ctx = ssl.create_default_context(cadata=base64.b64decode(cl["certificate-authority-data"]).decode())
        req = urllib.request.Request(cl["server"] + path, headers={"Authorization": f"Bearer {user['token']}"})
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise

    def regional_token(self, cluster: str) -> str:
        sec = self.secret("kcm-system", f"{cluster}-kubeconfig")
        return yaml.safe_load(base64.b64decode(sec["data"]["value"]))["users"][0]["user"]["token"]


@pytest.fixture
def dns(kofsim_dns, moto, tmp_path):
    kofsim_dns.reset()
    moto.reset()
    return Dns(kofsim_dns, moto, tmp_path)


# -- regional clusters for the manual records: what kof-mothership's installTemplates and the regional tier
# create, reduced to the ingress-nginx service (the records only need its load balancer) ------------------------
CATALOG_REPO = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
                "metadata": {"name": "k0rdent-catalog", "namespace": "kcm-system"},
                "spec": {"type": "oci", "url": "oci://ghcr.io/k0rdent/catalog/charts"}}
INGRESS_TEMPLATE = {"apiVersion": "k0rdent.mirantis.com/v1alpha1", "kind": "ServiceTemplate",
                    "metadata": {"name": "ingress-nginx-4-11-3", "namespace": "kcm-system"},
                    "spec": {"helm": {"chartSpec": {"chart": "ingress-nginx", "version": "4.11.3",
                                                    "interval": "10m0s", "reconcileStrategy": "ChartVersion",
                                                    "sourceRef": {"kind": "HelmRepository",
                                                                  "name": "k0rdent-catalog"}}}}}


def regional_cluster(name: str, region: str = "us-east-2") -> dict:
    return {"apiVersion": "k0rdent.mirantis.com/v1alpha1", "kind": "ClusterDeployment",
            "metadata": {"name": name, "namespace": "kcm-system"},
            "spec": {"template": "aws-standalone-cp-0-1-1", "credential": "aws-cluster-identity-cred",
                     "config": {"region": region},
                     "serviceSpec": {"services": [{"name": "ingress-nginx", "namespace": "ingress-nginx",
                                                   "template": "ingress-nginx-4-11-3"}]}}}


def create_regional_clusters(dns: Dns, names, wait_for_address=(), timeout: float = 60) -> dict:
    """Creates the clusters through kofsim's kcm and returns {name: load-balancer hostname} of those in
    wait_for_address once their ingress-nginx Service has one."""
    k = dns.k
    for collection, obj in (("/apis/source.toolkit.fluxcd.io/v1/namespaces/kcm-system/helmrepositories", CATALOG_REPO),
                            ("/apis/k0rdent.mirantis.com/v1alpha1/namespaces/kcm-system/servicetemplates",
                             INGRESS_TEMPLATE)):
        if k.call("GET", f"{collection}/{obj['metadata']['name']}", raw=True)[0] == 404:  # kcm may ship it
            k.call("POST", collection, obj)
    deadline = time.monotonic() + timeout
    while not (k.call("GET", "/apis/k0rdent.mirantis.com/v1alpha1/namespaces/kcm-system/servicetemplates/"
                             "ingress-nginx-4-11-3").get("status") or {}).get("valid"):
        assert time.monotonic() < deadline, "ServiceTemplate ingress-nginx-4-11-3 never became valid"
        time.sleep(0.1)
    for name in names:
        k.call("POST", "/apis/k0rdent.mirantis.com/v1alpha1/namespaces/kcm-system/clusterdeployments",
               regional_cluster(name))
    addresses = {}
    for name in wait_for_address:
        while True:
            svc = dns.regional_get(name, "/api/v1/namespaces/ingress-nginx/services/ingress-nginx-controller")
            ingress = ((svc or {}).get("status") or {}).get("loadBalancer", {}).get("ingress") or []
            if ingress:
                addresses[name] = ingress[0]["hostname"]
                break
            assert time.monotonic() < deadline, f"{name}: ingress-nginx never got a load-balancer address"
            time.sleep(0.2)
    return addresses
