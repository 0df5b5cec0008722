"""KOF 1.x flow tests on kofsim serving kcm 1.x, and what they share."""
from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path

from kofsim.k0rdent import catalog_1x
from kofsim.testing import Kofsim
from tests.helpers import ROOT, ansible_playbook, tool_env
from tests.helpers import flat as _flat
from tests.integration.tiers.conftest import write_inventory

KUBECTL = str(ROOT / ".tools" / "bin" / "kubectl")


def kubectl_json(fleet, *args, check=True):
    """`kubectl <args> -o json` against the fleet's kofsim, parsed; check=False: None when kubectl fails."""
    out = subprocess.run([KUBECTL, *args, "-o", "json"], capture_output=True,
                         text=True, env=fleet["env"] | {"KUBECONFIG": fleet["kofsim"].kubeconfig}, check=check)
    return json.loads(out.stdout) if out.returncode == 0 else None


# the shared tests.helpers.flat, with single quotes dropped too, as the 1.x tests have always read the output
flat = functools.partial(_flat, unquote=True)


def kubectl(fleet, *args, input=None):  # pylint: disable=redefined-builtin
    """`kubectl <args>` against the fleet's kofsim (stdin from `input`); fails the test when kubectl fails."""
    subprocess.run([KUBECTL, *args], input=input, capture_output=True, text=True, check=True,
                   env=fleet["env"] | {"KUBECONFIG": fleet["kofsim"].kubeconfig})


def tenant_namespace(fleet, namespace):
    """Create `namespace` with copies of kcm-system's ClusterTemplates and Credentials (their status too), as kcm's
    AccessManagement would copy them there: ClusterDeployments in that namespace can then be made."""
    kubectl(fleet, "create", "namespace", namespace)
    for kind in ("clustertemplates", "credentials"):
        for obj in kubectl_json(fleet, "get", kind, "-n", "kcm-system")["items"]:
            status = obj.pop("status")
            obj["metadata"] = {"name": obj["metadata"]["name"], "namespace": namespace}
            kubectl(fleet, "apply", "-f", "-", input=json.dumps(obj))
            kubectl(fleet, "patch", kind, "-n", namespace, obj["metadata"]["name"], "--subresource=status",
                    "--type=merge", "-p", json.dumps({"status": status}))


def changes_nothing(fleet, run_playbook):
    """Run `run_playbook()` (an ansible-playbook run): it succeeds, reports changed=0 and sends kofsim no write."""
    k = fleet["kofsim"]
    seq = k.last_seq()
    run = run_playbook()
    assert run.rc == 0 and run.changed == 0, run.recap
    assert k.writes(since=seq) == []
    return run


def upgrade_fleet(tmp_path_factory, name, **group_vars):
    """A module's kofsim serving kcm 1.x for a KOF 1.9 -> 1.10 upgrade (a fixture's generator): charts "1.9.0" (the
    1.10 stand-ins relabelled, catalog_1x.relabel) and "1.10.0", the group vars every upgrade test shares (plus
    `group_vars`), a report and a backup directory of its own; kofsim stops with the module."""
    k = Kofsim(tmp_path_factory.mktemp(name), ready_after=0.3, kcm_api_version="v1beta1")
    k.start()
    try:
        charts_19 = catalog_1x.relabel(tmp_path_factory.mktemp("charts") / "charts-1.9.0", "1.9.0")
        gv = {"kof_base_domain": "obs.example.net", "kof_admin_email": "noc@example.net", "kof_dns_mode": "none",
              "kof_verify_timeout": 90, "kof_wait_timeout": 300,
              "kof_report_dir": str(tmp_path_factory.mktemp("report")),
              "kof_backup_dir": str(tmp_path_factory.mktemp("backups")), **group_vars}
        env = tool_env(home=tmp_path_factory.mktemp("home"), extra={"K8S_AUTH_KUBECONFIG": k.kubeconfig})
        yield {"kofsim": k, "env": env, "gv": gv, "inv": tmp_path_factory.mktemp("inventory"),
               "charts": {"1.9.0": str(charts_19), "1.10.0": str(ROOT / "kofsim" / "kofsim" / "charts-1.10")}}
    finally:
        k.stop()


def play(fleet, hosts, playbook, version, *args):
    """ansible-playbook playbooks/<playbook> on the fleet's inventory (`hosts`) for KOF `version` and its charts."""
    gv = dict(fleet["gv"], kof_version=version, kof_chart_repository=fleet["charts"][version])
    inv = write_inventory(fleet["inv"], json.loads(json.dumps(hosts)), gv)
    return ansible_playbook("-i", inv, f"playbooks/{playbook}", *args, env=fleet["env"])


def templates_by_cluster(fleet, namespace="kcm-system"):
    """{cluster: the kof-* ServiceTemplates its ServiceSets run}, each ServiceSet asserted deployed."""
    out = {}
    for s in kubectl_json(fleet, "get", "servicesets", "-n", namespace)["items"]:
        assert s["status"]["deployed"] is True, (s["metadata"]["name"], s["status"])
        out.setdefault(s["spec"]["cluster"], set()).update(
            x["template"] for x in s["spec"]["services"] if x["template"].startswith("kof-"))
    return out


def archives(fleet):
    """The backup archives written into the fleet's kof_backup_dir."""
    return sorted(Path(fleet["gv"]["kof_backup_dir"]).glob("kof-backup-*.tar.gz"))
