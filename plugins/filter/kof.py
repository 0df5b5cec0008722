# -*- coding: utf-8 -*-
# Copyright: k0rdent.kof contributors
# Apache License 2.0 (see LICENSE)
"""Filters for k0rdent naming conventions."""
from __future__ import annotations

import re

DOCUMENTATION = r"""
name: newest_template
short_description: The k0rdent template name with the highest version
version_added: 0.1.0
description:
  - k0rdent names templates C(<name>-<version with dots as dashes>), for example C(aws-standalone-cp-0-1-1).
    Returns the name whose version is highest (numerically, not alphabetically), or an empty string.
positional: _input
options:
  _input:
    description: Template names.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
latest: "{{ ['aws-standalone-cp-0-1-9', 'aws-standalone-cp-0-1-10'] | k0rdent.kof.newest_template }}"
# -> aws-standalone-cp-0-1-10
"""

RETURN = r"""
_value:
  description: The newest template name, or an empty string for an empty list.
  type: str
"""

_VERSION = re.compile(r"^(?P<base>.*?)-(?P<ver>\d+(?:-\d+)*)$")


def _key(name: str):
    m = _VERSION.match(name)
    if not m:
        return (name, ())
    return (m.group("base"), tuple(int(p) for p in m.group("ver").split("-")))


def newest_template(names):
    names = [n for n in (names or []) if isinstance(n, str) and n]
    if not names:
        return ""
    return max(names, key=lambda n: _key(n)[1])


def template_name(chart: str, version: str) -> str:
    """kof-storage + 0.1.1 -> kof-storage-0-1-1 (how kcm names ServiceTemplates)."""
    return f"{chart}-{str(version).lstrip('v').replace('.', '-')}"


def default_storage_classes(resources):
    """Names of the StorageClasses annotated as the cluster default."""
    out = []
    for sc in resources or []:
        ann = ((sc or {}).get("metadata") or {}).get("annotations") or {}
        if ann.get("storageclass.kubernetes.io/is-default-class") == "true":
            out.append(sc["metadata"]["name"])
    return out


class FilterModule:
    def filters(self):
        return {"newest_template": newest_template, "template_name": template_name,
                "default_storage_classes": default_storage_classes}
