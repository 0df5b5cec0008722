"""ansible-lint, production profile, with no skipped rule (config: .ansible-lint)."""
import subprocess

import pytest

from tests.helpers import ROOT, VENV_BIN, tool_env


@pytest.mark.static
def test_ansible_lint_production_profile(tmp_path):
    proc = subprocess.run([str(VENV_BIN / "ansible-lint", ), "--offline", "-q"], capture_output=True, text=True,
                          env=tool_env(home=tmp_path), cwd=ROOT, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert "Profile 'production' was required, and it passed" in out or proc.returncode == 0


def test_lint_config_skips_nothing():
    text = (ROOT / ".ansible-lint").read_text()
    assert "skip_list" not in text and "warn_list" not in text
    assert "profile: production" in text
