"""kofsim's own tests: one server per module (bare or k0rdent), a private HOME per module so kubectl's and
the Python client's discovery caches never leak between servers."""
from __future__ import annotations


import pytest

from kofsim.testing import Kofsim



@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    k = Kofsim(tmp_path_factory.mktemp("bare"), bare=True)
    k.start()
    k.home = tmp_path_factory.mktemp("home")
    yield k
    k.stop()


@pytest.fixture(scope="module")
def k0rdent(tmp_path_factory):
    k = Kofsim(tmp_path_factory.mktemp("k0rdent"), ready_after=0.5)
    k.start()
    k.home = tmp_path_factory.mktemp("home")
    yield k
    k.stop()


@pytest.fixture
def dyn(bare):
    """A kubernetes DynamicClient for the bare server, with a private discovery cache."""
    from kubernetes import client, config, dynamic
    cfg = client.Configuration()
    config.load_kube_config(config_file=bare.kubeconfig, client_configuration=cfg)
    api = client.ApiClient(cfg)
    yield dynamic.DynamicClient(api, cache_file=str(bare.home / "discovery.json"))
    api.close()
