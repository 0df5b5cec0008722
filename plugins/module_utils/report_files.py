# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Report files with retention, for every report the collection writes (the fleet report, the cost report):
<prefix>-<UTC stamp>.<ext> and the stable name of the latest, <prefix>.<ext> (a regular file replaced
atomically, so a reader never sees a partial report); then only the newest `keep` stamped files per format stay
(kof_report_keep; 0: only the stable names)."""
from __future__ import annotations

import datetime
import os
import re
import tempfile

KEEP = 10  # the default of kof_report_keep


def now() -> str:
    """The current UTC time as a report's `generated` (2026-12-04T23:00:00Z), the form write() stamps from."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write(directory: str, prefix: str, generated: str, renderings, keep: int = KEEP) -> dict:
    """renderings: [(ext, text)] (or a mapping); generated: the report's time, 2026-12-04T23:00:00Z. Returns
    {ext: path of <prefix>.<ext>}."""
    os.makedirs(directory, exist_ok=True)
    stamp = generated.replace(":", "").replace("-", "")
    files = {}
    for ext, text in (renderings.items() if isinstance(renderings, dict) else renderings):
        for name in [f"{prefix}.{ext}"] + ([f"{prefix}-{stamp}.{ext}"] if keep > 0 else []):
            replace(os.path.join(directory, name), text)
        files[ext] = os.path.join(directory, f"{prefix}.{ext}")
    prune(directory, prefix, list(files), keep)
    return files


def prune(directory: str, prefix: str, formats, keep: int) -> list[str]:
    """Delete the stamped reports beyond the newest `keep` of each format; returns the deleted names."""
    pattern = re.compile(r"^" + re.escape(prefix) + r"-\d{8}T\d{6}Z\.(" + "|".join(map(re.escape, formats)) + r")$")
    stamped: dict[str, list] = {}
    for name in os.listdir(directory):
        match = pattern.match(name)
        if match:
            stamped.setdefault(match.group(1), []).append(name)
    deleted = []
    for names in stamped.values():
        for name in sorted(names)[:max(0, len(names) - keep)]:  # the stamp sorts as the time
            os.unlink(os.path.join(directory, name))
            deleted.append(name)
    return sorted(deleted)


def replace(path: str, text: str) -> None:
    """Write `text` to `path` atomically, with the mode open() would give it (umask)."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".kof-report-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
