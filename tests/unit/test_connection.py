"""The one connection layer (module_utils/kube.py): exactly kubernetes.core's options and K8S_AUTH_* variables
(kubernetes.core 6.2.0 itself is the oracle where it is installed), one client configuration built from them
(the same as kubernetes.core's for every option), the impersonation headers, and helm_release's mapping of the
same settings to helm's flags (module_utils/helm_cli.py)."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.k0rdent.kof.plugins.module_utils import helm_cli, kube
from ansible_collections.k0rdent.kof.plugins.module_utils.kube import (
    AUTH_ARG_SPEC, ENV, Kube, KubeError, connection_settings, impersonation_headers)

ROOT = Path(__file__).resolve().parents[2]
ALL_ENV = {
    "K8S_AUTH_KUBECONFIG": "/k/config", "K8S_AUTH_CONTEXT": "ctx", "K8S_AUTH_HOST": "https://h:6443",
    "K8S_AUTH_API_KEY": "tok", "K8S_AUTH_USERNAME": "u", "K8S_AUTH_PASSWORD": "p", "K8S_AUTH_VERIFY_SSL": "no",
    "K8S_AUTH_SSL_CA_CERT": "/k/ca", "K8S_AUTH_CERT_FILE": "/k/crt", "K8S_AUTH_KEY_FILE": "/k/key",
    "K8S_AUTH_PROXY": "http://proxy:3128", "K8S_AUTH_NO_PROXY": "10.0.0.0/8", "K8S_AUTH_PERSIST_CONFIG": "true",
    "K8S_AUTH_IMPERSONATE_USER": "alice", "K8S_AUTH_IMPERSONATE_GROUPS": "g1,,g2",
    "K8S_AUTH_PROXY_HEADERS_USER_AGENT": "kof/1", "K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH": "a:b",
}


def core_module_utils():
    """kubernetes.core's module_utils from the installed `ansible` package (absent in a bare ansible-core)."""
    return pytest.importorskip("ansible_collections.kubernetes.core.plugins.module_utils.k8s.client")


def test_the_options_are_kubernetes_cores():
    args_common = pytest.importorskip("ansible_collections.kubernetes.core.plugins.module_utils.args_common")

    def norm(spec):
        out = {}
        for name, opt in spec.items():
            opt = dict(opt)
            opt.setdefault("type", "str")
            if "options" in opt:
                opt["options"] = norm(opt["options"])
            out[name] = opt
        return out
    assert norm(AUTH_ARG_SPEC) == norm(args_common.AUTH_ARG_SPEC)


@pytest.mark.parametrize("env", [ALL_ENV, {"K8S_AUTH_VALIDATE_CERTS": "false", "K8S_AUTH_CA_CERT": "/c",
                                           "K8S_AUTH_CLIENT_CERT": "/x", "K8S_AUTH_CLIENT_KEY": "/y"},
                                 {"K8S_AUTH_VERIFY_SSL": "yes", "K8S_AUTH_PERSIST_CONFIG": "0"}, {}])
def test_environment_fallbacks_are_kubernetes_cores(monkeypatch, env):
    """Every K8S_AUTH_* variable (and its alias) resolves as kubernetes.core's _create_auth_spec / _create_headers
    resolve it (the oracle, called here in a test only)."""
    client = core_module_utils()
    for name in [n for n in os.environ if n.startswith("K8S_AUTH_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    ours = connection_settings({})
    theirs = client._create_auth_spec()  # pylint: disable=protected-access
    names = {true: arg for true, arg in __import__(
        "ansible_collections.kubernetes.core.plugins.module_utils.args_common",
        fromlist=["AUTH_ARG_MAP"]).AUTH_ARG_MAP.items()}
    expect = {names[k]: v for k, v in theirs.items() if v not in (None, {})}
    headers = client._create_headers()  # pylint: disable=protected-access
    if "Impersonate-User" in headers:
        expect["impersonate_user"] = headers["Impersonate-User"]
    if "Impersonate-Group" in headers:
        expect["impersonate_groups"] = headers["Impersonate-Group"]
    assert ours == expect


def test_task_options_win_over_the_environment():
    env = dict(ALL_ENV)
    got = connection_settings({"host": "https://task:6443", "validate_certs": True, "impersonate_groups": ["t"]}, env)
    assert got["host"] == "https://task:6443" and got["validate_certs"] is True and got["impersonate_groups"] == ["t"]
    assert got["api_key"] == "tok" and got["proxy_headers"] == {"user_agent": "kof/1", "proxy_basic_auth": "a:b"}
    assert connection_settings({}, {"K8S_AUTH_HOST": ""}) == {}, "an empty variable counts as unset"


def test_every_option_has_its_variables():
    assert set(ENV) | {"proxy_headers"} == set(AUTH_ARG_SPEC)
    assert ENV["validate_certs"] == ("K8S_AUTH_VALIDATE_CERTS", "K8S_AUTH_VERIFY_SSL")
    assert ENV["ca_cert"] == ("K8S_AUTH_CA_CERT", "K8S_AUTH_SSL_CA_CERT")
    assert ENV["client_cert"] == ("K8S_AUTH_CLIENT_CERT", "K8S_AUTH_CERT_FILE")
    assert ENV["client_key"] == ("K8S_AUTH_CLIENT_KEY", "K8S_AUTH_KEY_FILE")


def kubeconfig(tmp_path, server="https://kc:6443", token="kc-token", insecure=False):
    cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "a",
           "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": insecure}}],
           "users": [{"name": "u", "user": {"token": token}}],
           "contexts": [{"name": "a", "context": {"cluster": "c", "user": "u"}},
                        {"name": "b", "context": {"cluster": "c", "user": "u", "namespace": "x"}}]}
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(cfg))
    return path, cfg


def token(c):
    return c.get_api_key_with_prefix("BearerToken", alias="authorization")


def conf(settings):
    pytest.importorskip("kubernetes")
    client = Kube(settings)
    try:
        return client, client.api.configuration
    finally:
        client.close()


def test_a_kubeconfig_path_or_mapping_with_overrides(tmp_path):
    path, cfg = kubeconfig(tmp_path)
    for given in (str(path), cfg):
        client, c = conf({"kubeconfig": given, "context": "b", "ca_cert": "/ca", "proxy": "http://p:1",
                          "no_proxy": "kc", "proxy_headers": {"user_agent": "kof"}, "validate_certs": False})
        assert c.host == "https://kc:6443" and token(c) == "Bearer kc-token"
        # token(c) ran the kubeconfig's refresh hook (as every request does): the task's settings are still there
        assert (c.ssl_ca_cert, c.proxy, c.no_proxy, c.verify_ssl) == ("/ca", "http://p:1", "kc", False)
        assert c.proxy_headers == {"user-agent": "kof"} and client.validate_certs is False


def test_a_host_with_whole_credentials_reads_no_kubeconfig(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))  # would fail if it were read
    _client, c = conf({"host": "https://h:6443/", "api_key": "t"})
    assert c.host == "https://h:6443" and token(c) == "Bearer t"
    _client, c = conf({"host": "https://h:6443", "username": "u", "password": "p"})
    assert token(c) == "Basic " + base64.b64encode(b"u:p").decode()
    _client, c = conf({"host": "https://h:6443", "client_cert": "/c", "client_key": "/k"})
    assert (c.cert_file, c.key_file, c.api_key) == ("/c", "/k", {})


def test_a_host_without_credentials_still_reads_the_kubeconfig(tmp_path, monkeypatch):
    path, _cfg = kubeconfig(tmp_path)
    monkeypatch.setenv("KUBECONFIG", str(path))  # the default kubeconfig, as E(KUBECONFIG) names it now
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    _client, c = conf({"host": "https://other:6443"})
    assert token(c) == "Bearer kc-token" and c.host == "https://other:6443"


def test_no_configuration_at_all(tmp_path, monkeypatch):
    pytest.importorskip("kubernetes")
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(KubeError, match="no Kubernetes API configured"):
        Kube({})
    with pytest.raises(KubeError, match="cannot load the kubeconfig .*: "):
        Kube({"kubeconfig": str(tmp_path / "nope")})
    with pytest.raises(KubeError, match=r"cannot load the kubeconfig \(mapping\)"):
        Kube({"kubeconfig": {"apiVersion": "v1"}, "context": "nope"})


def test_configuration_matches_kubernetes_cores(tmp_path):
    """The same settings give the same client configuration as kubernetes.core's _create_configuration."""
    client = core_module_utils()
    path, _cfg = kubeconfig(tmp_path)
    for settings in ({"kubeconfig": str(path), "context": "b", "ca_cert": "/ca", "validate_certs": False,
                      "proxy": "http://p:1", "no_proxy": "x"},
                     {"host": "https://h:6443", "api_key": "t", "client_cert": "/c", "client_key": "/k"}):
        _ours, c = conf(settings)
        auth = {{"validate_certs": "verify_ssl", "ca_cert": "ssl_ca_cert", "client_cert": "cert_file",
                 "client_key": "key_file"}.get(k, k): v for k, v in settings.items()}
        import kubernetes  # pylint: disable=import-outside-toplevel
        kubernetes.client.Configuration.set_default(kubernetes.client.Configuration())  # theirs reads the default
        theirs = client._create_configuration(auth)  # pylint: disable=protected-access
        # before any token refresh: kubernetes.core's own overrides are undone by the kubeconfig's refresh hook
        for attr in ("host", "verify_ssl", "ssl_ca_cert", "cert_file", "key_file", "proxy", "no_proxy"):
            assert getattr(c, attr) == getattr(theirs, attr), attr
        assert token(c) == token(theirs)


def test_impersonation_headers_one_per_group():
    headers = impersonation_headers({"impersonate_user": "alice", "impersonate_groups": ["g1", "g2"]})
    assert [(str(k), v) for k, v in headers.items()] == [
        ("Impersonate-User", "alice"), ("Impersonate-Group", "g1"), ("Impersonate-Group", "g2")]
    assert impersonation_headers({}) == {}


def test_every_request_carries_the_impersonation_headers(tmp_path):
    pytest.importorskip("kubernetes")
    sent = []

    class Raw:
        status, data = 200, b"{}"

    client = Kube({"host": "https://h:6443", "api_key": "t", "impersonate_user": "alice",
                   "impersonate_groups": ["g1", "g2"]})
    client.api.call_api = lambda *a, **kw: (sent.append(kw["header_params"]), Raw())[1]
    client.get("/api/v1/namespaces")
    headers = [(str(k), v) for k, v in sent[0].items() if str(k).startswith("Impersonate")]
    assert headers == [("Impersonate-User", "alice"), ("Impersonate-Group", "g1"), ("Impersonate-Group", "g2")]
    client.close()


# ------------------------------------------------------------------------------------------------- helm
def private_files(tmp_path):
    made = []

    def write(text):
        path = tmp_path / f"private-{len(made)}.yaml"
        path.write_text(text)
        made.append(path)
        return str(path)
    return write, made


def test_helm_flags_for_every_option_helm_has(tmp_path):
    write, _made = private_files(tmp_path)
    flags, env = helm_cli.helm_connection(
        {"kubeconfig": "~/k", "context": "c", "host": "https://h:6443", "ca_cert": "/ca", "validate_certs": False,
         "impersonate_user": "alice", "impersonate_groups": ["g1", "g2"], "proxy": "http://p:1", "no_proxy": "x",
         "persist_config": True}, {}, write)
    assert flags == ["--kubeconfig", os.path.expanduser("~/k"), "--kube-context", "c", "--kube-apiserver",
                     "https://h:6443", "--kube-ca-file", "/ca", "--kube-as-user", "alice", "--kube-as-group", "g1",
                     "--kube-as-group", "g2", "--kube-insecure-skip-tls-verify"]
    assert env == {"HTTPS_PROXY": "http://p:1", "HTTP_PROXY": "http://p:1", "NO_PROXY": "x"}


def test_helm_a_kubeconfig_mapping_goes_to_a_private_file(tmp_path):
    write, made = private_files(tmp_path)
    cfg = {"apiVersion": "v1", "kind": "Config", "clusters": []}
    flags, _env = helm_cli.helm_connection({"kubeconfig": cfg}, {}, write)
    assert flags == ["--kubeconfig", str(made[0])] and json.loads(made[0].read_text()) == cfg


def test_helm_a_host_with_a_token_reads_no_kubeconfig(tmp_path):
    write, made = private_files(tmp_path)
    flags, _env = helm_cli.helm_connection({"kubeconfig": "/k", "host": "https://h", "api_key": "t"}, {}, write)
    assert flags[:2] == ["--kubeconfig", str(made[0])] and json.loads(made[0].read_text())["kind"] == "Config"
    assert flags[2:] == ["--kube-apiserver", "https://h", "--kube-token", "t"]


@pytest.mark.parametrize("settings, given, named", [
    ({"username": "u", "password": "p"}, {"username": "u", "password": "p"}, "username, password"),
    ({"client_cert": "/c", "client_key": "/k"}, {}, "client_cert (from K8S_AUTH_CLIENT_CERT / K8S_AUTH_CERT_FILE)"),
    ({"proxy_headers": {"user_agent": "x"}}, {"proxy_headers": {"user_agent": "x"}}, "proxy_headers"),
    ({"persist_config": False}, {"persist_config": False}, "persist_config"),
])
def test_helm_refuses_what_it_has_no_flag_for(tmp_path, settings, given, named):
    write, made = private_files(tmp_path)
    with pytest.raises(helm_cli.HelmConnectionError, match="helm cannot take ") as err:
        helm_cli.helm_connection(settings, given, write)
    assert named in str(err.value) and made == []


def test_helm_release_and_the_modules_share_the_one_argument_spec():
    import importlib  # pylint: disable=import-outside-toplevel
    module = importlib.import_module("ansible_collections.k0rdent.kof.plugins.modules.promxy_server_group")
    spec = module.argument_spec()
    assert {k: spec[k] for k in AUTH_ARG_SPEC} == AUTH_ARG_SPEC
    # helm_release runs in the controller: KofAction adds the connection options to its own
    action = importlib.import_module("ansible_collections.k0rdent.kof.plugins.action.helm_release").ActionModule
    assert action.CONNECTION and not set(action.ARGS) & set(AUTH_ARG_SPEC)


def test_the_doc_fragment_documents_exactly_the_options():
    from ansible_collections.k0rdent.kof.plugins.doc_fragments.kube_connection import \
        ModuleDocFragment  # pylint: disable=import-outside-toplevel
    doc = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    assert set(doc) == set(AUTH_ARG_SPEC)
    for name, opt in AUTH_ARG_SPEC.items():
        assert doc[name]["type"] == opt["type"] and doc[name].get("aliases", []) == opt.get("aliases", []), name
        for var in ENV.get(name, ()):
            assert var in json.dumps(doc[name]), (name, var)
    assert set(doc["proxy_headers"]["suboptions"]) == set(kube.PROXY_HEADERS_SPEC)


def _imports_kubernetes(statement: str) -> bool:
    code = f"import sys\n{statement}\nprint('kubernetes.client' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)))
    return out.stdout.strip() == "True"


def test_action_plugins_import_the_library_in_the_controller_and_modules_on_first_use():
    # the strategy loads an action plugin's class in the controller before it forks the task's workers: the
    # library imported with a plugin that reaches clusters is inherited by every worker; a module (a process per
    # call) imports it only when it builds a client
    assert _imports_kubernetes("import ansible_collections.k0rdent.kof.plugins.action.kof_info")
    # a plugin that never reaches a cluster (inventory validation: a run refused there) does not pay for it
    assert not _imports_kubernetes("import ansible_collections.k0rdent.kof.plugins.action.validate_inventory")
    assert not _imports_kubernetes("import ansible_collections.k0rdent.kof.plugins.module_utils.kube")
