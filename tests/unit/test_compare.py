"""Semantic comparison (module_utils/compare.py): a live object equal to the wanted one needs no write, a field
this collection applied before and no longer sets needs one (server-side apply ownership in managedFields)."""
from __future__ import annotations

import copy

from ansible_collections.k0rdent.kof.plugins.module_utils.compare import (
    FIELD_MANAGER, fieldset, is_subset, needs_apply, owned_fields, view)
from ansible_collections.k0rdent.kof.plugins.module_utils.kof_resources import grafana_datasource

WANT = grafana_datasource({"cluster_name": "r1", "regional_domain": "r1.example.com", "json_data": {"timeout": "60"}})


def fields_v1(paths):
    """managedFields fieldsV1 notation of a set of field paths, as the API server writes it."""
    root = {}
    for path in sorted(paths):
        node = root
        for part in path:
            node = node.setdefault(part, {})
    def dot(node):
        for child in node.values():
            if child:
                child["."] = {}
                dot(child)
    dot(root)
    return root


def live_of(want, manager=FIELD_MANAGER, applied=None, **extra_spec):
    live = copy.deepcopy(want)
    live["metadata"].update(uid="u1", resourceVersion="7", generation=1, creationTimestamp="t",
                            managedFields=[{"manager": manager, "operation": "Apply", "apiVersion": want["apiVersion"],
                                            "fieldsType": "FieldsV1",
                                            "fieldsV1": fields_v1(fieldset(applied or want))}])
    live["metadata"]["labels"]["other-tool/label"] = "kept"
    live["spec"]["allowCrossNamespaceImport"] = False  # defaulted by the CRD schema
    live["spec"].update(extra_spec)
    live["status"] = {"NoMatchingInstances": False}
    return live


def test_is_subset():
    assert is_subset({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}, "d": 3})
    assert not is_subset({"a": {"b": 1}}, {"a": {"b": 2}})
    assert not is_subset({"a": 1}, {})
    assert is_subset({"l": [1, 2]}, {"l": [1, 2]}) and not is_subset({"l": [1, 2]}, {"l": [2, 1]})
    assert is_subset({"l": [{"k": 1}]}, {"l": [{"k": 1, "defaulted": True}]})
    assert not is_subset({"l": [{"k": 1}]}, {"l": [{"k": 1}, {"k": 2}]})


def test_no_write_when_the_live_object_matches():
    assert not needs_apply(WANT, live_of(WANT))


def test_write_when_missing_or_different():
    assert needs_apply(WANT, None)
    changed = copy.deepcopy(WANT)
    changed["spec"]["datasource"]["url"] = "https://other.example.com/vls"
    assert needs_apply(changed, live_of(WANT))
    relabelled = copy.deepcopy(WANT)
    relabelled["metadata"]["labels"]["team"] = "obs"
    assert needs_apply(relabelled, live_of(WANT))


def test_write_to_remove_a_field_applied_before():
    fewer = copy.deepcopy(WANT)
    del fewer["spec"]["datasource"]["jsonData"]
    # the live object still has jsonData, which this collection applied: apply again so the server drops it
    assert needs_apply(fewer, live_of(fewer, applied=WANT))
    # the same jsonData set by another manager is not ours to remove
    assert not needs_apply(fewer, live_of(fewer, applied=fewer, jsonData={"timeout": "60"}))


def test_objects_never_applied_by_us_are_compared_by_value():
    assert not needs_apply(WANT, live_of(WANT, manager="kubectl"))
    assert owned_fields(live_of(WANT, manager="kubectl")) is None


def test_owned_fields_round_trip():
    assert owned_fields(live_of(WANT)) == fieldset(WANT)
    assert ("f:spec", "f:valuesFrom") in fieldset(WANT)  # lists are atomic
    assert ("f:metadata", "f:labels", "f:app.kubernetes.io/managed-by") in fieldset(WANT)


def test_view_drops_server_fields():
    shown = view(live_of(WANT))
    assert "status" not in shown
    assert set(shown["metadata"]) == {"name", "namespace", "labels"}
    assert view(None) == {}


def _real_server_fields(want):
    """managedFields as kube-apiserver v1.36 records an apply of WANT against grafana-operator v5.13.0's CRD:
    spec.instanceSelector is an atomic map (x-kubernetes-map-type: atomic), so no path goes below it."""
    return {p for p in fieldset(want) if not (len(p) > 2 and p[:2] == ("f:spec", "f:instanceSelector"))}


def test_atomic_maps_as_the_real_server_records_them():
    live = live_of(WANT)
    live["metadata"]["managedFields"][0]["fieldsV1"] = fields_v1(_real_server_fields(WANT))
    # a re-run with the same object needs no write (it did: every run re-applied on a real server)
    assert not needs_apply(WANT, live)
    # a label dropped from the atomic selector is not a subset difference: the key sets tell
    fewer = copy.deepcopy(WANT)
    fewer["spec"]["instanceSelector"]["matchLabels"] = {"dashboards": "grafana"}
    live["spec"]["instanceSelector"]["matchLabels"]["tier"] = "ops"
    assert needs_apply(fewer, live)


def test_paths_into_lists_are_covered_by_the_wanted_list():
    want = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "n"},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i:1"}]}}}}
    live = copy.deepcopy(want)
    owned = fieldset(want) | {("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"c"}'),
                              ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"c"}', "f:image")}
    live["metadata"]["managedFields"] = [{"manager": FIELD_MANAGER, "operation": "Apply", "fieldsType": "FieldsV1",
                                          "fieldsV1": fields_v1(owned)}]
    assert not needs_apply(want, live)
    gone = copy.deepcopy(want)
    del gone["spec"]["template"]["spec"]["containers"]
    gone["spec"]["template"]["spec"]["hostNetwork"] = True
    live["spec"]["template"]["spec"]["hostNetwork"] = True
    assert needs_apply(gone, live)
