"""TLS verification is on by default at every entry point: a kubeconfig whose CA is not the API server's fails
with a message that says so (no traceback, no retry storm, nothing sent but the handshake), and verification goes
off only when kof_validate_certs (or validate_certs) is false, with a warning. The workload clusters' kubeconfigs
(from their Secrets) are covered in test_fleet.py::test_07."""
from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from kofsim.testing import Kofsim
from tests.helpers import ROOT, VENV_BIN, ansible_playbook, flat, tool_env
from tests.integration.security.conftest import kubeconfig_with_ca
from tests.integration.tiers.conftest import base_inventory, write_inventory

pytestmark = pytest.mark.slow
TLS_FAILED = re.compile(r"CERTIFICATE_VERIFY_FAILED|x509: certificate signed by unknown authority")


@pytest.fixture(scope="module")
def wrong_ca(tmp_path_factory):
    """A seeded kofsim, a kubeconfig for it that trusts another CA, an inventory, and the environment."""
    tmp = tmp_path_factory.mktemp("tls")
    k = Kofsim(tmp / "kofsim")
    k.start()
    kubeconfig = kubeconfig_with_ca(k.kubeconfig, tmp / "wrong-ca.kubeconfig")
    hosts, gv = base_inventory()
    gv.update(kof_report_dir=str(tmp / "report"), kof_backup_dir=str(tmp / "backups"),
              kof_access_dir=str(tmp / "access"), kof_cluster_template="aws-standalone-cp-0-1-1")
    inv = write_inventory(tmp / "inventory", hosts, gv)
    (tmp / "home").mkdir()
    env = tool_env(home=tmp / "home", extra={"K8S_AUTH_KUBECONFIG": str(kubeconfig)})
    yield {"k": k, "tmp": tmp, "inv": inv, "env": env, "kubeconfig": kubeconfig}
    k.stop()


def api_requests(k, since):
    return [r for r in k.requests(since) if not r["path"].startswith("/kofsim/")]


@pytest.mark.parametrize("playbook", ["site.yml", "child.yml", "verify.yml", "backup.yml", "grafana_access.yml"])
def test_a_wrong_ca_fails_clearly(wrong_ca, playbook):
    """site.yml (kubernetes.core in the management preflight), child.yml (the batch action plugin), verify.yml
    (fleet_health), backup.yml (the day-2 client), grafana_access.yml (kubernetes.core in a role)."""
    k = wrong_ca["k"]
    seq = k.last_seq()
    run = ansible_playbook("-i", wrong_ca["inv"], f"playbooks/{playbook}", env=wrong_ca["env"], timeout=300)
    assert run.rc != 0, run
    assert TLS_FAILED.search(run.stdout), run
    assert "Traceback" not in run.stdout + run.stderr, run
    assert api_requests(k, seq) == [], "a request got through a failed TLS handshake"


def test_helm_and_the_inventory_plugin_refuse_a_wrong_ca(wrong_ca):
    env = wrong_ca["env"]
    helm = subprocess.run([str(VENV_BIN / "ansible"), "localhost", "-m", "k0rdent.kof.helm_release", "-a",
                           f"release_name=kof-operators release_namespace=kof "
                           f"chart_ref={ROOT}/kofsim/kofsim/charts/kof-operators"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert helm.returncode != 0 and TLS_FAILED.search(helm.stdout), helm.stdout
    assert "Traceback" not in helm.stdout + helm.stderr

    source = wrong_ca["tmp"] / "fleet.management_cluster.yml"
    source.write_text(yaml.safe_dump({"plugin": "k0rdent.kof.management_cluster"}))
    inv = subprocess.run([str(VENV_BIN / "ansible-inventory"), "-i", str(source), "--list"], capture_output=True,
                         text=True, env=dict(env, ANSIBLE_INVENTORY_UNPARSED_FAILED="true"), cwd=ROOT, timeout=300)
    assert inv.returncode != 0, inv.stdout
    assert "cannot list the ClusterDeployments" in inv.stderr and "CERTIFICATE_VERIFY_FAILED" in inv.stderr
    assert "Traceback" not in inv.stderr


def test_verification_goes_off_only_explicitly_and_with_a_warning(wrong_ca):
    """kof_validate_certs=false: a small rollout (kubernetes.core, helm with --kube-insecure-skip-tls-verify, the
    batch plugin, the promxy/Grafana modules, the verification reaching the workload clusters) works against the
    untrusted certificate, and every play that contacts a cluster says that verification is off."""
    k, tmp = wrong_ca["k"], wrong_ca["tmp"]
    hosts, gv = base_inventory()
    groups = hosts["all"]["children"]
    groups["kof_regional"]["hosts"] = {"cloud1-region1": groups["kof_regional"]["hosts"]["cloud1-region1"]}
    groups["kof_child"] = {"hosts": {"cloud1-region1-child1": {"kof_regional": "cloud1-region1"}}}
    gv.update(kof_report_dir=str(tmp / "report"), kof_validate_certs=False, kof_verify_timeout=60,
              kof_verify_interval=1, kof_cluster_template="aws-standalone-cp-0-1-1")
    inv = write_inventory(tmp / "inventory-insecure", hosts, gv)
    plays = ("mothership.yml", "regional.yml", "child.yml", "verify.yml")
    run = ansible_playbook("-i", inv, *[f"playbooks/{p}" for p in plays], env=wrong_ca["env"], timeout=600)
    assert run.rc == 0 and not run.failed_hosts, run
    sections = re.split(r"^PLAY \[", run.stdout, flags=re.M)[1:]
    # verify.yml's second play only fails the hosts the first found unhealthy: it contacts no cluster
    contacting = [s for s in sections if not s.startswith("KOF fleet verification, per host]")]
    assert len(sections) == len(plays) + 1 and len(contacting) == len(plays), [s.split("]")[0] for s in sections]
    for play, section in zip(plays, contacting):
        assert "WARNING: kof_validate_certs is false" in flat(section), f"{play} did not warn"
    assert "validate_certs is false: the API server certificate is not verified" in flat(run.stderr + run.stdout)
    report = json.loads((tmp / "report" / "fleet-report.json").read_text())
    assert report["summary"]["ok"] and report["summary"]["clusters"] == 2, report["summary"]
    assert any("sh.helm.release.v1.kof-mothership" in w["path"] for w in k.writes())

    source = tmp / "insecure.management_cluster.yml"
    source.write_text(yaml.safe_dump({"plugin": "k0rdent.kof.management_cluster", "validate_certs": False}))
    inv = subprocess.run([str(VENV_BIN / "ansible-inventory"), "-i", str(source), "--list"], capture_output=True,
                         text=True, env=wrong_ca["env"], cwd=ROOT, timeout=300)
    assert inv.returncode == 0 and '"kof_management"' in inv.stdout, inv.stderr
    assert "TLS verification of the management cluster API is off" in flat(inv.stderr), inv.stderr


def test_nothing_turns_verification_off_by_itself():
    """No role or playbook sets an insecure option to a literal; every one of them comes from a variable whose
    default keeps verification on."""
    off = re.compile(r"(?<![\w-])(?:(?:validate_certs|verify_ssl)\s*:\s*(?:false|no)|(?:insecure_skip_tls_verify|"
                     r"insecure_skip_verify|insecure-skip-tls-verify|plain_http)\s*:\s*(?:true|yes))\b", re.I)
    found = [f"{path.relative_to(ROOT)}: {m.group(0)}"
             for path in [*ROOT.glob("roles/**/*.yml"), *ROOT.glob("playbooks/*.yml"), *ROOT.glob("awx/*.yml"),
                          *ROOT.glob("inventories/**/*.yml")]
             for m in off.finditer(path.read_text())]
    assert found == [], found
    defaults = yaml.safe_load((ROOT / "roles/common/defaults/main.yml").read_text())
    assert defaults["kof_validate_certs"] is True
