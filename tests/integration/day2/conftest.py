"""Day-2 fixtures: one kofsim with the local fleet deployed once by playbooks/site.yml, shared by the tests of a
module (they run in file order; destructive ones last), and helpers to read it with the kubernetes client."""
from __future__ import annotations

import base64
import copy

import pytest
import yaml

from kofsim.testing import Kofsim
from tests.helpers import ROOT, ansible_playbook, tool_env

LOCAL = ROOT / "inventories" / "local"


def base_inventory() -> tuple[dict, dict]:
    """inventories/local (two regions, three children) with kofsim's stand-in charts."""
    hosts = yaml.safe_load((LOCAL / "hosts.yml").read_text())
    group_vars = yaml.safe_load((LOCAL / "group_vars" / "all.yml").read_text())
    group_vars["kof_chart_repository"] = str(ROOT / "kofsim" / "kofsim" / "charts")
    return hosts, group_vars


def write_inventory(path, hosts: dict, group_vars: dict):
    (path / "group_vars").mkdir(parents=True, exist_ok=True)
    (path / "hosts.yml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    (path / "group_vars" / "all.yml").write_text(yaml.safe_dump(group_vars, sort_keys=False))
    return path

CD = ("k0rdent.mirantis.com", "v1alpha1", "clusterdeployments")


class Fleet:
    def __init__(self, k: Kofsim, tmp):
        self.k = k
        self.tmp = tmp
        self.env = tool_env(home=tmp / "home", extra={"K8S_AUTH_KUBECONFIG": k.kubeconfig})
        self.hosts, self.gv = base_inventory()
        # the version named, as a production inventory pins it: the day-2 refusals then send no request at all
        # (with kof_version auto the run first reads which KOF runs; tests/integration/kof1x/test_auto_version.py)
        self.gv.update(kof_report_dir=str(tmp / "report"), kof_access_dir=str(tmp / "access"),
                       kof_backup_dir=str(tmp / "backups"), kof_verify_timeout=60, kof_verify_interval=1,
                       kof_version="0.1.1")
        self.inv = write_inventory(tmp / "inventory", self.hosts, self.gv)
        self._api = None

    def play(self, playbook, *args, inv=None, env=None, timeout=900):
        return ansible_playbook("-i", inv or self.inv, f"playbooks/{playbook}", *args, env=env or self.env,
                                timeout=timeout)

    def inventory(self, mutate=None, name="inventory-variant", **gv):
        """A variant of the fleet inventory (hosts changed by `mutate`, group vars overridden by `gv`)."""
        hosts = copy.deepcopy(self.hosts)
        if mutate:
            mutate(hosts)
        return write_inventory(self.tmp / name, hosts, dict(self.gv, **gv))

    # --- reading the clusters -------------------------------------------------------------------
    @property
    def api(self):
        if self._api is None:
            from kubernetes import client, config
            cfg = client.Configuration()
            config.load_kube_config(config_file=self.k.kubeconfig, client_configuration=cfg)
            self._api = client.ApiClient(cfg)
        return self._api

    def workload_api(self, name):
        from kubernetes import client, config
        sec = client.CoreV1Api(self.api).read_namespaced_secret(f"{name}-kubeconfig", "kcm-system")
        cfg = client.Configuration()
        config.load_kube_config_from_dict(yaml.safe_load(base64.b64decode(sec.data["value"])),
                                          client_configuration=cfg)
        return client.ApiClient(cfg)

    def custom(self, api=None):
        from kubernetes import client
        return client.CustomObjectsApi(api or self.api)

    def core(self, api=None):
        from kubernetes import client
        return client.CoreV1Api(api or self.api)

    def cds(self) -> dict:
        items = self.custom().list_namespaced_custom_object(*CD[:2], "kcm-system", CD[2])["items"]
        return {cd["metadata"]["name"]: cd for cd in items}

    def secret_values(self, name, namespace="kof") -> list[str]:
        data = self.core().read_namespaced_secret(name, namespace).data or {}
        return [base64.b64decode(v).decode() for v in data.values()]

    def api_requests(self, since):
        return [r for r in self.k.requests(since) if not r["path"].startswith("/kofsim/")]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("day2")
    (tmp / "home").mkdir()
    k = Kofsim(tmp / "kofsim", ready_after=0.3)
    k.start()
    f = Fleet(k, tmp)
    run = f.play("site.yml")
    if run.rc != 0:
        k.stop()
        pytest.fail(f"site.yml could not deploy the fleet for the day-2 tests: {run!r}")
    yield f
    if f._api is not None:
        f._api.close()
    k.stop()


__all__ = ["Fleet", "CD", "write_inventory"]
