"""Why each remaining difference remains (docs/conformance.md quotes these)."""
from __future__ import annotations

import fnmatch

# (case pattern, label pattern, reason)
REASONS: list[tuple[str, str, str]] = [
    ("discovery", "GET /api*", "kofsim does not serve the subresources that need a kubelet or a node "
     "(pods/exec, attach, portforward, proxy, binding, eviction, ephemeralcontainers, resize; nodes/proxy, "
     "services/proxy): its discovery lists only what it serves, so clients see at once that it has no container "
     "runtime (kofsim/README.md, \"No containers\")."),
    ("client kubectl", "kubectl apply a custom resource again", "kubectl asks for /openapi/v2 in protobuf "
     "(application/com.github.proto-openapi.spec.v2@v1.0+protobuf); kofsim serves /openapi/v2 as JSON only and "
     "answers 406 Not Acceptable, which kubectl ignores (it carries on with OpenAPI v3, as the output and the "
     "resulting objects show)."),
]


def explain(case: str, label: str) -> str:
    for cp, lp, why in REASONS:
        if fnmatch.fnmatchcase(case, cp) and fnmatch.fnmatchcase(label, lp):
            return why
    return "Not explained: a kofsim bug to fix."
