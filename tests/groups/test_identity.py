"""Group identity (features.md §13, rules.md §9): the labels and the key they hash into."""

from __future__ import annotations

import hashlib
import json

import pytest

from tidegate.groups import group_key, group_labels
from tidegate.model.action import Action

ACTION = Action(
    id="a-1",
    namespace="alerts",
    tenant="acme",
    provider="slack",
    action_type="cluster_cpu",
    payload={"cpu": 97, "tags": {"b": 1, "a": [1, 2]}},
    metadata={"cluster": "eu-1"},
)


@pytest.mark.parametrize(
    ("group_by", "labels"),
    [
        (["metadata.cluster"], [("metadata.cluster", "eu-1")]),
        (["action.metadata.cluster"], [("metadata.cluster", "eu-1")]),  # the prefix is dropped
        (["metadata.missing"], [("metadata.missing", "")]),  # absent: the empty string
        (["payload.cpu"], [("payload.cpu", "97")]),  # numbers as compact JSON
        (["payload.tags"], [("payload.tags", '{"a":[1,2],"b":1}')]),  # mappings with sorted keys
        (["provider", "namespace"], [("provider", "slack"), ("namespace", "alerts")]),  # rule order
    ],
)
def test_labels(group_by: list[str], labels: list[tuple[str, str]]) -> None:
    assert group_labels(ACTION, group_by) == labels


def test_the_key_is_the_sha256_of_the_compact_identity_array() -> None:
    labels = [("metadata.cluster", "eu-1"), ("metadata.severity", "high")]
    text = '["alerts","acme","group-cluster-alerts",["metadata.cluster","eu-1"],["metadata.severity","high"]]'
    assert json.dumps(json.loads(text), separators=(",", ":")) == text
    assert (
        group_key("alerts", "acme", "group-cluster-alerts", labels)
        == hashlib.sha256(text.encode()).hexdigest()
    )


def test_every_part_of_the_identity_changes_the_key() -> None:
    base = group_key("alerts", "acme", "r", [("a", "1"), ("b", "2")])
    others = [
        group_key("alerts2", "acme", "r", [("a", "1"), ("b", "2")]),
        group_key("alerts", "acme.eu", "r", [("a", "1"), ("b", "2")]),
        group_key("alerts", "acme", "r2", [("a", "1"), ("b", "2")]),
        group_key("alerts", "acme", "r", [("b", "2"), ("a", "1")]),  # the order is part of the key
        group_key("alerts", "acme", "r", [("a", "1"), ("b", "")]),
        group_key("alerts:acme", "", "r", [("a", "1"), ("b", "2")]),  # no ambiguity from separators
    ]
    assert len({base, *others}) == 1 + len(others)
    assert len(base) == 64 and base == base.lower()
