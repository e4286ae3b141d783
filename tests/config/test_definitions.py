"""Chain definitions (features.md §16) and state machines (features.md §14) as config validates them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from tidegate.config import ChainDefinition, Settings, StateMachineSettings, chain_provider_problems
from tidegate.config.loader import validate_data


def messages(data: Mapping[str, object]) -> list[str]:
    settings, issues = validate_data(data, Path("/base"))
    assert settings is None, "expected problems"
    return [i.message for i in issues]


def valid(data: Mapping[str, object]) -> Settings:
    settings, issues = validate_data(data, Path("/base"))
    assert settings is not None, [i.message for i in issues]
    return settings


CHAIN = "config: chains.definitions[0]."
MACHINE = "config: state_machines[0]."


def step(name: str, **extra: object) -> dict[str, object]:
    return {"name": name, "provider": "log", "action_type": "t", **extra}


def chains(*steps: dict[str, object], **extra: object) -> dict[str, object]:
    return {"chains": {"definitions": [{"name": "research", "steps": list(steps), **extra}]}}


# --- chains ----------------------------------------------------------------------------------------------


def test_a_chain_definition_with_defaults() -> None:
    settings = valid(chains(step("search"), step("summarize", on_failure="skip", retry={"max_retries": 2})))
    chain = settings.chains.definitions[0]
    first, second = chain.steps
    assert chain.timeout_seconds is None  # chains.default_timeout_seconds applies
    assert (first.payload_template, first.on_failure, first.retry, first.delay_seconds) == (
        {},
        "abort",
        None,
        0.0,
    )
    assert (first.timeout_seconds, first.branches, first.default_next) == (None, [], None)
    assert second.retry is not None
    assert (second.retry.max_retries, second.retry.backoff_seconds, second.retry.multiplier) == (2, 1.0, 2.0)
    assert second.retry.max_backoff_seconds == 300.0
    assert chain.step("summarize") is second and chain.step("nope") is None


def test_branch_operator_neq_is_an_alias_of_ne() -> None:
    settings = valid(
        chains(
            step("a", branches=[{"field": "body.count", "operator": "neq", "value": 0, "target": "c"}]),
            step("b"),
            step("c"),
        )
    )
    assert settings.chains.definitions[0].steps[0].branches[0].operator == "ne"


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        (
            chains(step("a"), step("a")),
            [CHAIN + "steps[1].name: duplicate step name 'a'"],
        ),
        (
            chains(
                step(
                    "a",
                    branches=[{"field": "status", "operator": "eq", "value": "failure", "target": "notfy"}],
                ),
                step("b"),
            ),
            [CHAIN + "steps[0].branches[0].target: unknown step 'notfy'"],
        ),
        (
            chains(step("a", default_next="zz"), step("b")),
            [CHAIN + "steps[0].default_next: unknown step 'zz'"],
        ),
        (
            chains(step("a"), step("b", default_next="a")),
            [CHAIN + "steps: cycle in the step graph: a -> b -> a"],
        ),
        (
            chains(
                step("a"),
                step("b"),
                step("c", branches=[{"field": "status", "operator": "eq", "value": "x", "target": "b"}]),
            ),
            [CHAIN + "steps: cycle in the step graph: b -> c -> b"],
        ),
        (
            chains(step("a", default_next="a")),
            [CHAIN + "steps: cycle in the step graph: a -> a"],
        ),
        (
            chains(),
            [CHAIN + "steps: must be a list of 1 to 100 items (got a list)"],
        ),
        (
            chains(step("a", on_failure="retry")),
            [CHAIN + "steps[0].on_failure: must be one of 'abort', 'skip' (got 'retry')"],
        ),
        (
            chains(step("a", retry={"max_retries": 11})),
            [CHAIN + "steps[0].retry.max_retries: must be an integer between 0 and 10 (got 11)"],
        ),
        (
            chains(step("a", timeout_seconds=0)),
            [CHAIN + "steps[0].timeout_seconds: must be a number between 1 and 3600 (got 0)"],
        ),
        (
            chains(step("a"), timeout_seconds=0),
            [CHAIN + "timeout_seconds: must be an integer between 1 and 2592000 (got 0)"],
        ),
        (
            chains(step("a", branches=[{"field": "headers", "operator": "eq", "target": "a"}])),
            [CHAIN + "steps[0].branches[0].field: must be 'status', 'body' or 'body.<path>' (got 'headers')"],
        ),
        (
            chains(step("a", branches=[{"field": "body", "operator": "gt", "value": [1], "target": "a"}])),
            [CHAIN + "steps[0].branches[0].value: must be a number or a string for operator gt"],
        ),
        (
            chains(step("a", branches=[{"field": "body", "operator": "exists", "value": 1, "target": "a"}])),
            [CHAIN + "steps[0].branches[0].value: must be true or false for operator exists"],
        ),
        (
            chains(
                step("a", branches=[{"field": "body", "operator": "matches", "value": "(", "target": "a"}])
            ),
            [
                CHAIN + "steps[0].branches[0].value: invalid regular expression: "
                "missing ), unterminated subpattern at position 0"
            ],
        ),
        (
            {
                "chains": {
                    "definitions": [{"name": "x", "steps": [step("a")]}, {"name": "x", "steps": [step("a")]}]
                }
            },
            ["config: chains.definitions[1].name: duplicate chain name 'x'"],
        ),
    ],
)
def test_chain_validation(definition: dict[str, object], expected: list[str]) -> None:
    assert messages(definition) == expected


def test_chain_definitions_validate_on_their_own_for_the_api() -> None:
    definition = ChainDefinition.model_validate(
        {"name": "c", "steps": [step("a"), {**step("b"), "provider": "x"}]}
    )
    problems = chain_provider_problems(definition, {"log"})
    assert [(p.key, p.message) for p in problems] == [(("steps", 1, "provider"), "unknown provider 'x'")]


# --- state machines --------------------------------------------------------------------------------------

ALERT = {
    "name": "alert",
    "initial_state": "firing",
    "states": ["firing", "acknowledged", "resolved", "stale"],
    "transitions": [
        {"from": "firing", "to": "acknowledged"},
        {"from": "firing", "to": "resolved", "notify": True},
        {"from": "acknowledged", "to": "resolved", "notify": True},
        {"from": "stale", "to": "firing"},
    ],
    "timeouts": [{"in_state": "firing", "after_seconds": 3600, "transition_to": "stale", "notify": True}],
    "notify_provider": "log",
}


def test_the_alert_example_loads() -> None:
    (machine,) = valid({"state_machines": [ALERT]}).state_machines
    assert machine.retention_seconds == 2_592_000
    move = machine.transition("firing", "resolved")
    assert move is not None and move.notify
    assert machine.transition("resolved", "firing") is None
    timeout = machine.timeout_for("firing")
    assert timeout is not None and timeout.transition_to == "stale"
    assert machine.timeout_for("resolved") is None


def test_acteon_on_transition_is_read_as_notify() -> None:
    machine = StateMachineSettings.model_validate(
        {**ALERT, "transitions": [{"from": "firing", "to": "resolved", "on_transition": {"notify": True}}]}
    )
    assert machine.transitions[0].notify is True


def machine(**changes: object) -> dict[str, object]:
    return {"state_machines": [{**ALERT, **changes}]}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (machine(initial_state="new"), [MACHINE + "initial_state: unknown state 'new'"]),
        (
            machine(states=["firing", "resolved", "firing"], transitions=[], timeouts=[]),
            [MACHINE + "states[2]: duplicate state 'firing'"],
        ),
        (
            machine(
                transitions=[{"from": "firing", "to": "gone"}, {"from": "x", "to": "firing"}], timeouts=[]
            ),
            [
                MACHINE + "transitions[0].to: unknown state 'gone'",
                MACHINE + "transitions[1].from: unknown state 'x'",
            ],
        ),
        (
            machine(
                transitions=[{"from": "firing", "to": "stale"}, {"from": "firing", "to": "stale"}],
                timeouts=[],
            ),
            [MACHINE + "transitions[1]: duplicate transition 'firing' -> 'stale'"],
        ),
        (
            machine(
                timeouts=[
                    {"in_state": "firing", "after_seconds": 5, "transition_to": "limbo"},
                    {"in_state": "firing", "after_seconds": 9, "transition_to": "stale"},
                ]
            ),
            [
                MACHINE + "timeouts[0].transition_to: unknown state 'limbo'",
                MACHINE + "timeouts[1].in_state: second timeout for state 'firing'",
            ],
        ),
        (
            machine(notify_provider=None),
            [MACHINE + "notify_provider: required when a transition or timeout has notify: true"],
        ),
        (
            machine(
                transitions=[{"from": "firing", "to": "stale", "on_transition": {"notify": True, "x": 1}}]
            ),
            [MACHINE + "transitions[0].on_transition: must be a mapping with the single key 'notify'"],
        ),
        (
            machine(states=["bad state"], initial_state="bad state", transitions=[], timeouts=[]),
            [
                MACHINE + "initial_state: must be 1-128 characters of A-Z a-z 0-9 . _ - (got 'bad state')",
                MACHINE + "states[0]: must be 1-128 characters of A-Z a-z 0-9 . _ - (got 'bad state')",
            ],
        ),
        (
            machine(retention_seconds=59),
            [MACHINE + "retention_seconds: must be an integer between 60 and 31536000 (got 59)"],
        ),
        (
            machine(timeouts=[{"in_state": "firing", "after_seconds": 0, "transition_to": "stale"}]),
            [MACHINE + "timeouts[0].after_seconds: must be an integer between 1 and 31536000 (got 0)"],
        ),
    ],
)
def test_state_machine_validation(data: dict[str, object], expected: list[str]) -> None:
    assert messages(data) == expected
