"""The command line and embeddings: ``check-rules``/``check-config`` print the default-threshold warning
when the provider is ``local``, and a missing local model stops ``serve``/``check-config`` before binding,
naming the package (features.md §18), like any config error (exit 2, no traceback)."""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tidegate.cli import main
from tidegate.embeddings.local import PACKAGE

DEFAULTED = """\
rules:
  - name: outage
    condition: {semantic_match: "Infrastructure outage, servers down"}
    action: {type: suppress}
"""
EXPLICIT = DEFAULTED.replace('servers down"}', 'servers down", threshold: 0.3}')
LOCAL = "embedding: {enabled: true}\n"
OPENAI = "embedding: {enabled: true, provider: openai, endpoint: 'http://127.0.0.1:9/v1/embeddings'}\n"


@pytest.fixture(autouse=True)
def clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty working directory, no TIDEGATE_* variables, and the root logger restored afterwards."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.upper().startswith("TIDEGATE_"):
            monkeypatch.delenv(name)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield tmp_path
    root.handlers[:] = handlers
    root.setLevel(level)


def write(directory: Path, config: str, rules: str) -> None:
    (directory / "tidegate.yaml").write_text(config)
    (directory / "rules").mkdir()
    (directory / "rules" / "10-meaning.yaml").write_text(rules)


def test_check_rules_warns_about_a_default_threshold_with_the_local_model(
    clean: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(clean, LOCAL, DEFAULTED)
    assert main(["check-rules"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "OK: 1 rules\n"
    assert captured.err.startswith(
        "warning: rule 'outage': condition.semantic_match has no threshold, so the default 0.8 applies"
    )
    assert "about 0.2 suits it" in captured.err


@pytest.mark.parametrize(("config", "rules"), [(LOCAL, EXPLICIT), (OPENAI, DEFAULTED)])
def test_check_rules_is_quiet_with_a_threshold_or_another_provider(
    clean: Path, capsys: pytest.CaptureFixture[str], config: str, rules: str
) -> None:
    write(clean, config, rules)
    assert main(["check-rules"]) == 0
    assert capsys.readouterr().err == ""


def test_check_config_prints_the_same_warning(clean: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(clean, LOCAL, DEFAULTED)
    assert main(["check-config"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "OK: configuration is valid\n"
    assert captured.err.count("warning: rule 'outage': condition.semantic_match has no threshold") == 1


def test_check_config_leaves_rule_errors_to_check_rules(
    clean: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(clean, LOCAL, "rules: [{name: broken}]\n")
    assert main(["check-config"]) == 0
    assert capsys.readouterr().err == ""


def test_check_config_refuses_an_unknown_local_model(clean: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (clean / "tidegate.yaml").write_text("embedding: {enabled: true, model: nope}\n")
    assert main(["check-config"]) == 2
    assert capsys.readouterr().err == (
        "config: embedding.model: unknown local model 'nope' (available: wordllama-l2-supercat-256)\n"
    )


def test_serve_without_the_model_package_exits_2_naming_it_and_binds_nothing(
    clean: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == PACKAGE else real(name))
    started: list[object] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **options: started.append(app))
    (clean / "tidegate.yaml").write_text(LOCAL)
    assert main(["serve"]) == 2
    assert started == []
    err = capsys.readouterr().err
    assert "needs the Python package 'wordllama'" in err
    assert "pip install 'tidegate[embeddings]'" in err
    assert "Traceback" not in err
