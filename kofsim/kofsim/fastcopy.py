"""Cheap copies and YAML for JSON-shaped Kubernetes objects.

kofsim copies an object on every write (the stored versions are immutable snapshots, as in etcd) and a fleet of
virtual clusters writes a great deal: `copy.deepcopy` was the emulator's largest cost at 1000 clusters. A pickle
round trip makes the same independent copy of JSON data (dicts, lists, strings, numbers, booleans, None; shared
sub-objects stay shared, as with deepcopy) several times faster, in C. libyaml's dumper and loader give the same
documents as PyYAML's pure-Python ones, faster.
"""
from __future__ import annotations

import copy
import pickle

import yaml

_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SAFE_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def clone(obj):
    """A deep copy of `obj` (copy.deepcopy for anything pickle cannot copy)."""
    try:
        return pickle.loads(pickle.dumps(obj, pickle.HIGHEST_PROTOCOL))
    except (pickle.PicklingError, TypeError, AttributeError):
        return copy.deepcopy(obj)


def yaml_load(text):
    """yaml.safe_load, with libyaml when PyYAML has it."""
    return yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 (a safe loader)


def yaml_load_all(text):
    """yaml.safe_load_all, with libyaml when PyYAML has it."""
    return yaml.load_all(text, Loader=_SAFE_LOADER)  # noqa: S506 (a safe loader)


def yaml_dump(obj, **kw) -> str:
    """yaml.safe_dump, with libyaml when PyYAML has it (same text)."""
    return yaml.dump(obj, Dumper=_SAFE_DUMPER, **kw)
