#!/usr/bin/env python3
"""Generate AWX survey specs (awx/surveys/<job>.json) from role argument specs, so surveys and the roles'
documented interface cannot drift apart. Run: .venv/bin/python scripts/argspec_to_survey.py"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SPECS = yaml.safe_load((ROOT / "roles" / "kof" / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]

# Only flat scalars belong in a survey; structured settings stay in inventory group_vars.
JOBS = {
    "site": ("Roll out KOF to the fleet", ["kof_version", "kof_child_serial", "kof_regional_serial",
                                           "kof_max_fail_percentage", "kof_wait_timeout", "kof_verify_timeout",
                                           "kof_render_dir"]),
    "verify": ("Verify the fleet and write the report", ["kof_verify_timeout", "kof_report_dir"]),
    "grafana_access": ("Grafana admin credentials into a private file, and the port-forward",
                       ["kof_access_dir", "kof_access_show_credentials", "kof_grafana_local_port"]),
    "sveltos_access": ("Read-only ServiceAccount and bounded token for the Sveltos dashboard",
                       ["kof_sveltos_token_duration", "kof_sveltos_token_renew", "kof_sveltos_cluster_admin",
                        "kof_access_dir", "kof_access_show_credentials", "kof_sveltos_local_port"]),
    "backup": ("Back up KOF's configuration into an archive",
               ["kof_backup_dir", "kof_backup_include_secrets", "kof_backup_force"]),
    "restore": ("Restore a KOF backup archive",
                ["kof_backup_dir", "kof_restore_archive", "kof_restore_mode", "kof_restore_helm_owned",
                 "kof_restore_secrets"]),
    "uninstall": ("Uninstall KOF (children, regions, management tier) after a backup",
                  ["kof_uninstall_confirm", "kof_uninstall_mothership", "kof_backup_before_uninstall",
                   "kof_backup_dir"]),
    "prune": ("Report, and with confirmation delete, KOF clusters that left the inventory", ["kof_prune_confirm"]),
    "upgrade": ("Upgrade KOF: management tier, then region by region, each batch verified",
                ["kof_chart_version", "kof_upgrade_serial", "kof_upgrade_allow_downgrade",
                 "kof_upgrade_remove_old_templates", "kof_verify_timeout"]),
}
TYPES = {"str": "text", "raw": "text", "int": "integer", "float": "float", "bool": "multiplechoice"}


def question(name: str) -> dict:
    spec = SPECS[name]
    q = {"variable": name, "question_name": name.replace("kof_", "").replace("_", " ").capitalize(),
         "question_description": spec["description"][:500] if isinstance(spec["description"], str)
         else " ".join(spec["description"])[:500],
         "required": False, "type": TYPES.get(spec["type"], "text")}
    default = spec.get("default")
    if spec.get("choices"):
        q["type"] = "multiplechoice"
        q["choices"] = list(spec["choices"])
    if spec["type"] == "bool":
        q["choices"] = ["true", "false"]
        default = str(default).lower()
    if isinstance(default, (str, int, float)) and "{{" not in str(default):
        q["default"] = default
    if name in ("kof_child_serial", "kof_regional_serial"):
        q["default"] = "100%"
    if name == "kof_max_fail_percentage":
        q.update(type="integer", min=0, max=100, default=100)
    return q


def main() -> int:
    out = ROOT / "awx" / "surveys"
    out.mkdir(parents=True, exist_ok=True)
    for job, (desc, names) in JOBS.items():
        spec = {"name": f"k0rdent.kof {job}", "description": desc, "spec": [question(n) for n in names]}
        (out / f"{job}.json").write_text(json.dumps(spec, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
