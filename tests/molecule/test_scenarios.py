"""Every molecule scenario (molecule/<name>/, shared config molecule/shared/base.yml): kofsim is created,
the scenario's prerequisites prepared, `--check` run and proven write-free from kofsim's request log, then
converge, idempotence (changed=0) and the scenario's verify playbook, then kofsim is destroyed."""
from __future__ import annotations

import re
import subprocess

import pytest

from tests.helpers import ROOT, VENV_BIN, tool_env

SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))
# deprecated roles kept under an old name: a thin wrapper of the renamed role, whose scenario covers it (the
# wrapper itself is run by tests/integration/renames/test_old_names.py)
RENAMED = {"kof": "common"}


def test_every_role_has_a_scenario():
    roles = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir())
    missing = [RENAMED.get(r, r) for r in roles if RENAMED.get(r, r) not in SCENARIOS]
    assert not missing, f"roles without a molecule scenario: {missing}"
    assert "default" in SCENARIOS


@pytest.mark.molecule
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario, tmp_path):
    env = tool_env(home=tmp_path)
    # molecule's ephemeral directories live under HOME; a private one keeps parallel runs apart
    proc = subprocess.run([str(VENV_BIN / "molecule"), "-c", "molecule/shared/base.yml", "test", "-s", scenario],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-8000:]
    plain = _plain(out)
    for step in ("check", "side_effect", "converge", "idempotence", "verify"):
        # molecule draws the arrow as ➜ with colours and as > without
        assert re.search(rf"{scenario} (➜|>) {step}: Executed: Successful", plain), \
            f"step {step} did not run successfully"


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)
