"""KOF 1.x flow tests on kofsim serving kcm 1.x, and what they share."""
from __future__ import annotations

import functools
import json
import subprocess

from tests.helpers import ROOT
from tests.helpers import flat as _flat


def kubectl_json(fleet, *args, check=True):
    """`kubectl <args> -o json` against the fleet's kofsim, parsed; check=False: None when kubectl fails."""
    out = subprocess.run([str(ROOT / ".tools" / "bin" / "kubectl"), *args, "-o", "json"], capture_output=True,
                         text=True, env=fleet["env"] | {"KUBECONFIG": fleet["kofsim"].kubeconfig}, check=check)
    return json.loads(out.stdout) if out.returncode == 0 else None


# the shared tests.helpers.flat, with single quotes dropped too, as the 1.x tests have always read the output
flat = functools.partial(_flat, unquote=True)
