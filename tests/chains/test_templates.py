"""Payload templates (features.md §16 "Templates"): rendering and load-time checks, table-driven."""

from __future__ import annotations

import pytest

from tidegate.chains.templates import (
    StepResult,
    TemplateContext,
    expression_problem,
    render,
    template_problems,
)
from tidegate.model.json import JsonValue

ORIGIN: dict[str, JsonValue] = {
    "id": "019c3882-7b00-7c21-8d4e-5f6a7b8c9d01",
    "namespace": "research",
    "tenant": "acme",
    "provider": "search-api",
    "action_type": "research",
    "payload": {"query": "tidegate", "tags": ["a", "b"], "nested": {"n": 2}, "none": None},
    "metadata": {"team": "ops", "a.b": "dotted"},
}
NAMES = ["search", "summarize", "email.v2", "email"]


def ctx(**changes: object) -> TemplateContext:
    base: dict[str, object] = {
        "origin": ORIGIN,
        "chain_id": "c-1",
        "chain_name": "research",
        "step_index": 1,
        "step_names": NAMES,
        "prev": ("search", StepResult("success", {"count": 3, "results": [{"t": "x"}], "ok": True})),
        "steps": {
            "search": StepResult("success", {"count": 3, "results": [{"t": "x"}], "ok": True}),
            "email.v2": StepResult("partial", {"id": 7}),
        },
    }
    base.update(changes)
    return TemplateContext(**base)  # type: ignore[arg-type]


def test_the_spec_example() -> None:
    template: JsonValue = {
        "q": "{{origin.payload.query}}",
        "n": "{{ prev.body.count }}",
        "msg": "found {{prev.body.count}} for {{origin.payload.query}}",
    }
    assert render(template, ctx()) == {"q": "tidegate", "n": 3, "msg": "found 3 for tidegate"}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ prev.body }}", {"count": 3, "results": [{"t": "x"}], "ok": True}),  # objects stay objects
        ("  {{prev.body.results}}  ", [{"t": "x"}]),  # surrounding whitespace ignored
        ("{{prev.body.ok}}", True),
        ("{{prev.body.missing}}", None),  # missing gives null
        ("{{origin.payload.none}}", None),
        ("{{origin.payload.tags.1}}", "b"),  # digits index arrays
        ("{{origin.payload.tags.9}}", None),
        ("{{origin.payload.nested.n}}", 2),
        ("{{origin.id}}", "019c3882-7b00-7c21-8d4e-5f6a7b8c9d01"),
        ("{{origin.namespace}}/{{origin.tenant}}", "research/acme"),
        ("{{origin.provider}}:{{origin.action_type}}", "search-api:research"),
        ("{{origin.metadata.team}}", "ops"),
        ("{{origin.metadata.a.b}}", "dotted"),  # labels are flat: the rest is the label name
        ("{{origin.metadata}}", {"team": "ops", "a.b": "dotted"}),
        ("{{chain_id}}", "c-1"),
        ("{{chain_name}}", "research"),
        ("{{step_index}}", 1),
        ("{{prev.status}}", "success"),
        ("{{prev.step_name}}", "search"),
        ("{{steps.search.status}}", "success"),
        ("{{steps.search.body.results.0.t}}", "x"),
        ("{{steps.email.v2.status}}", "partial"),  # a step name with a dot
        ("{{steps.email.v2.body.id}}", 7),
        ("{{steps.summarize.status}}", None),  # has not run
        # text mode: raw strings, JSON text for numbers, bools, objects; "" for null and missing
        ("n={{prev.body.count}}", "n=3"),
        ("ok={{prev.body.ok}}", "ok=true"),
        ("r={{prev.body.results}}", 'r=[{"t":"x"}]'),
        ("x={{prev.body.missing}}!", "x=!"),
        ("x={{origin.payload.none}}", "x="),
        ("{{a}} {{b}}", " "),  # two templates: text mode, unknown roots render as missing
        ("{{origin.payload.query}}{{step_index}}", "tidegate1"),
        # literal text
        ("no templates here", "no templates here"),
        ("{{ unclosed", "{{ unclosed"),
        ("a }} b {{", "a }} b {{"),
        ("{{origin.payload.query}} and {{ rest", "tidegate and {{ rest"),
    ],
)
def test_render_strings(template: str, expected: JsonValue) -> None:
    assert render(template, ctx()) == expected


def test_render_walks_objects_and_arrays_but_not_keys() -> None:
    template: JsonValue = {
        "{{chain_id}}": ["{{step_index}}", {"deep": "{{prev.status}}"}, 5, None, True],
        "n": 1.5,
    }
    assert render(template, ctx()) == {"{{chain_id}}": [1, {"deep": "success"}, 5, None, True], "n": 1.5}


def test_the_first_step_has_no_prev() -> None:
    first = ctx(prev=None, steps={}, step_index=0)
    assert render({"p": "{{prev.status}}", "t": "[{{prev.body.count}}]"}, first) == {"p": None, "t": "[]"}


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("origin.payload.query", None),
        ("origin.payload", None),
        ("origin.metadata.team", None),
        ("origin.id", None),
        ("prev.body.results.0", None),
        ("prev.status", None),
        ("prev.step_name", None),
        ("steps.search.body.count", None),
        ("steps.email.v2.status", None),
        ("chain_id", None),
        ("step_index", None),
        ("foo.bar", "unknown template root 'foo' in 'foo.bar'"),
        ("origin.secret", "unknown template expression 'origin.secret'"),
        ("origin.id.x", "unknown template expression 'origin.id.x'"),
        ("prev.headers", "unknown template expression 'prev.headers'"),
        ("steps.nope.status", "unknown step 'nope' in template expression 'steps.nope.status'"),
        ("steps.summarize.status", "template expression 'steps.summarize.status' names its own step"),
        ("steps.search.headers", "unknown template expression 'steps.search.headers'"),
        ("prev.body..x", "unknown template expression 'prev.body..x'"),
        ("steps.search", "unknown template expression 'steps.search'"),  # a known step, no result key
        ("steps.email.v2", "unknown template expression 'steps.email.v2'"),
    ],
)
def test_expression_problems(expr: str, problem: str | None) -> None:
    assert expression_problem(expr, NAMES, own_step="summarize") == problem


def test_template_problems_name_the_key_path() -> None:
    template: JsonValue = {"a": ["ok {{origin.id}}", {"b": "{{ nope }} and {{steps.x.status}}"}], "{{k}}": 1}
    assert template_problems(template, NAMES) == [
        (("a", 1, "b"), "unknown template root 'nope' in 'nope'"),
        (("a", 1, "b"), "unknown step 'x' in template expression 'steps.x.status'"),
    ]
