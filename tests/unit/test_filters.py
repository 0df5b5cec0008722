"""The list filters k0rdent.kof.only_in / not_in: select('in', ...) / reject('in', ...) in linear time. The pure
functions here; tests/static/test_filters_playbook.py checks them against select/reject on ansible-core's own
lazy lists through ansible-playbook."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.k0rdent.kof.plugins.filter.kof import not_in, only_in


def test_keeps_the_order_and_duplicates_of_the_input():
    assert only_in(["c", "a", "b", "a"], ["a", "c"]) == ["c", "a", "a"]
    assert not_in(["c", "a", "b", "a"], ["a"]) == ["c", "b"]


def test_empty_and_none():
    assert only_in([], ["a"]) == [] and only_in(["a"], []) == [] and only_in(None, ["a"]) == []
    assert not_in(["a"], []) == ["a"] and not_in(["a"], None) == ["a"]


def test_generators_and_tuples():
    assert only_in((h for h in "abc"), ("b",)) == ["b"]


@pytest.mark.parametrize("bad", ["a,b", {"a": 1}, 5])
def test_a_string_or_mapping_is_refused_not_taken_letter_by_letter(bad):
    with pytest.raises(AnsibleFilterError, match="must be a list"):
        only_in(["a"], bad)
    with pytest.raises(AnsibleFilterError, match="must be a list"):
        not_in(bad, ["a"])


def test_linear_not_quadratic():
    hosts = [f"child{i:05d}" for i in range(20000)]
    # 20000 x 20000 membership tests on a list would take minutes; the set makes it instant
    assert only_in(hosts, list(reversed(hosts))) == hosts
    assert not_in(hosts, hosts) == []


class _Lazy(dict):
    """Stands in for ansible-core's lazy containers, whose deepcopy copies the templar with every variable."""

    def __deepcopy__(self, memo):
        raise AssertionError("a filter deep-copied its lazy input")


def test_every_filter_works_on_plain_copies_of_its_arguments():
    from ansible_collections.k0rdent.kof.plugins.filter.kof import FilterModule
    filters = FilterModule().filters()
    logs = {"victoria-logs-cluster": _Lazy(vlstorage=_Lazy(persistentVolume=_Lazy(size="150Gi")))}
    live = _Lazy(spec=_Lazy(values=_Lazy(storage=_Lazy({"victoria-logs-cluster": _Lazy(vlstorage=_Lazy(
        persistentVolume=_Lazy(size="100Gi")))}))))
    regional = _Lazy(metadata=_Lazy(name="eu", namespace="kcm-system", labels=_Lazy(
        {"k0rdent.mirantis.com/kof-cluster-role": "regional"})), spec=_Lazy(config=_Lazy(clusterAnnotations=_Lazy())))
    changes = filters["storage_values_claim_changes"]([regional], live, _Lazy(logs), _Lazy())
    assert changes == [{"cluster": "kcm-system/eu", "statefulsets": ["kof-storage-victoria-logs-cluster-vlstorage"]}]
    assert filters["only_in"](["a", "b"], ["b"]) == ["b"]
