# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# SPDX-License-Identifier: Apache-2.0
"""Action plugin behind k0rdent.kof.report_files: a report's files written in the controller process the way
every KOF report is (module_utils/report_files: the stable name, timestamped copies, retention). See the module
file for docs."""
from __future__ import annotations

import os
import re

from ansible_collections.k0rdent.kof.plugins.module_utils import report_files
from ansible_collections.k0rdent.kof.plugins.plugin_utils.action import ActionFailure, KofAction

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
EXTENSION = re.compile(r"^[A-Za-z0-9]+$")


class ActionModule(KofAction):
    CONNECTION = False
    ARGS = {
        "dir": {"type": "path", "required": True},
        "name": {"type": "str", "required": True},
        "formats": {"type": "dict", "required": True},
        "keep": {"type": "int", "default": report_files.KEEP},
    }

    def act(self, args, result):
        name, keep, directory = args["name"], args["keep"], args["dir"]
        if not NAME.match(name):
            raise ActionFailure(f"name {name!r} must be a file name prefix (letters, digits, '.', '_', '-')")
        if keep < 0:
            raise ActionFailure(f"keep {keep} must be 0 or more")
        bad = [str(ext) for ext in args["formats"] if not EXTENSION.match(str(ext))]
        if bad or not args["formats"]:
            raise ActionFailure(f"formats must map file extensions (letters and digits) to contents, got {bad or 'none'}")
        renderings = {str(ext): "" if text is None else str(text) for ext, text in args["formats"].items()}
        files = {ext: os.path.join(directory, f"{name}.{ext}") for ext in renderings}
        # changed when a stable file's content changes; an unchanged report is not written again (a re-run writes
        # nothing, and the timestamped copies are the report's history of changes)
        diffs = [d for d in (_diff(files[ext], text) for ext, text in renderings.items()) if d]
        result.update(changed=bool(diffs), files=files)
        if self.diff_mode:
            result["diff"] = diffs
        if not diffs:
            result["msg"] = f"{name} unchanged in {directory}"
            return
        if self.check_mode:
            result["msg"] = f"check mode: {name} would be written in {directory}"
            return
        try:
            report_files.write(directory, name, report_files.now(), renderings, keep=keep)
        except OSError as err:
            raise ActionFailure(f"cannot write the report {name} in {directory}: {err}") from err
        result["msg"] = "wrote " + ", ".join(files.values())


def _diff(path: str, text: str) -> dict | None:
    """The stable file's change, when its content changes (a missing file is one)."""
    try:
        with open(path, encoding="utf-8") as fh:
            before = fh.read()
    except FileNotFoundError:
        before = None
    if before == text:
        return None
    before = before or ""
    return {"before_header": path, "after_header": path, "before": before, "after": text}
