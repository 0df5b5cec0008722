#!/usr/bin/env python3
"""Generate AWX survey specs (awx/surveys/<job>.json) from role argument specs, so surveys and the roles'
documented interface cannot drift apart. Run: .venv/bin/python scripts/argspec_to_survey.py [output directory]"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SPECS = yaml.safe_load((ROOT / "roles" / "common" / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]

# Only flat scalars belong in a survey; structured settings stay in inventory group_vars.
JOBS = {
    "site": ("Roll out KOF to the fleet", ["kof_version", "kof_child_serial", "kof_regional_serial",
                                           "kof_max_fail_percentage", "kof_wait_timeout", "kof_verify_timeout"]),
    "verify": ("Verify the fleet and write the report", ["kof_verify_timeout", "kof_report_dir"]),
    "backup": ("Back up KOF's configuration into an archive",
               ["kof_backup_dir", "kof_backup_include_secrets", "kof_backup_force"]),
    "restore": ("Restore a KOF backup archive",
                ["kof_backup_dir", "kof_restore_archive", "kof_restore_mode", "kof_restore_helm_owned",
                 "kof_restore_secrets"]),
    "uninstall": ("Uninstall KOF (children, regions, management tier) after a backup",
                  ["kof_uninstall_confirm", "kof_uninstall_mothership", "kof_uninstall_remove_templates",
                   "kof_backup_before_uninstall", "kof_backup_dir"]),
    "prune": ("Report, and with confirmation delete, KOF clusters that left the inventory", ["kof_prune_confirm"]),
    "upgrade": ("Upgrade KOF: management tier, then region by region, each batch verified",
                ["kof_chart_version", "kof_upgrade_serial", "kof_upgrade_allow_downgrade",
                 "kof_upgrade_confirm_gateway_switch", "kof_upgrade_remove_old_templates", "kof_verify_timeout"]),
    # the sources themselves (kof_migrate_from) are host variables of the regional hosts, in the inventory
    "migrate": ("Copy regional clusters' stored metrics and logs into their successors (kof_migrate_from)",
                ["kof_migrate_confirm", "kof_backup_before_migrate", "kof_backup_dir", "kof_migrate_start",
                 "kof_migrate_end", "kof_migrate_logs_query", "kof_migrate_verify_timeout"]),
}
# Not offered to AWX: the render directory and the access playbooks (grafana_access, sveltos_access) write files
# for the person who runs them, which a job's container drops; kof_access_show_credentials would put credentials
# in the job log, which AWX stores. Backups must go to a volume that outlives the job: no default directory.
REQUIRED = {"kof_backup_dir"}
TYPES = {"str": "text", "raw": "text", "int": "integer", "float": "float", "bool": "multiplechoice"}


def question(name: str) -> dict:
    spec = SPECS[name]
    text = spec["description"] if isinstance(spec["description"], str) else " ".join(spec["description"])
    text = re.sub(r"\b[CVOIBEM]\(([^)]*)\)", r"\1", text)  # ansible-doc markup reads as plain text in AWX
    q = {"variable": name, "question_name": name.replace("kof_", "").replace("_", " ").capitalize(),
         "question_description": text[:500],
         "required": name in REQUIRED, "type": TYPES.get(spec["type"], "text")}
    default = None if name in REQUIRED else spec.get("default")
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
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "awx" / "surveys"
    out.mkdir(parents=True, exist_ok=True)
    for stale in set(out.glob("*.json")) - {out / f"{job}.json" for job in JOBS}:
        stale.unlink()
    for job, (desc, names) in JOBS.items():
        spec = {"name": f"k0rdent.kof {job}", "description": desc, "spec": [question(n) for n in names]}
        (out / f"{job}.json").write_text(json.dumps(spec, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
