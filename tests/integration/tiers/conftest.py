"""Fixtures for the tier tests: a kofsim per test module and inventories built from inventories/local."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from kofsim.testing import Kofsim
from tests.helpers import ROOT, tool_env

LOCAL = ROOT / "inventories" / "local"


def charts_dir() -> str:
    """The stand-in KOF charts of the kofsim package the tests run against."""
    from kofsim import testing  # a module, so __file__ is set even when kofsim resolves as a namespace package
    return str(Path(testing.__file__).resolve().parent / "charts")


def base_inventory() -> tuple[dict, dict]:
    hosts = yaml.safe_load((LOCAL / "hosts.yml").read_text())
    group_vars = yaml.safe_load((LOCAL / "group_vars" / "all.yml").read_text())
    group_vars["kof_chart_repository"] = charts_dir()
    return hosts, group_vars


def write_inventory(path, hosts: dict, group_vars: dict):
    (path / "group_vars").mkdir(parents=True, exist_ok=True)
    (path / "hosts.yml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    (path / "group_vars" / "all.yml").write_text(yaml.safe_dump(group_vars, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def kofsim_k0rdent(tmp_path_factory):
    k = Kofsim(tmp_path_factory.mktemp("kofsim"))
    k.start()
    yield k
    k.stop()


@pytest.fixture
def inventory(tmp_path):
    """(hosts, group_vars) copies to modify, and a writer returning the inventory directory."""
    hosts, gv = base_inventory()

    def write(h=None, g=None):
        return write_inventory(tmp_path / "inventory", h or hosts, g or gv)
    return copy.deepcopy(hosts), copy.deepcopy(gv), write


@pytest.fixture
def env_for(tmp_path):
    def make(k: Kofsim, **extra):
        home = tmp_path / "home"
        home.mkdir(exist_ok=True)
        e = tool_env(home=home)
        e["K8S_AUTH_KUBECONFIG"] = k.kubeconfig
        e.update({key: str(v) for key, v in extra.items()})
        return e
    return make
