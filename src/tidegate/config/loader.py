"""``load_settings``: defaults, then the file, then ``TIDEGATE_*`` variables, then CLI flags (config.md §1).

The only place that reads the environment, and only the mapping it is given (the CLI passes
``os.environ``). Every problem is collected before anything fails, so one run lists them all."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, cast

from pydantic import TypeAdapter, ValidationError

from tidegate.config._base import BaseDir, Problem
from tidegate.config.checks import cross_check
from tidegate.config.environment import apply_environment
from tidegate.config.messages import Issue, Key, issue, translate, unknown_key
from tidegate.config.settings import Settings
from tidegate.config.sources import Interpolation, discover, read_config_file
from tidegate.errors import ConfigError

__all__ = ["load_settings", "validate_data"]


def load_settings(
    config_path: str | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Settings:
    """The effective settings; ConfigError listing every problem (file, variables, values, cross-checks).

    ``overrides`` are CLI flags by dotted key (``{"server.port": 9090}``); ``None`` values are skipped."""
    env = {} if env is None else env
    cwd = Path.cwd()
    source = discover(config_path, env, cwd)
    data: dict[str, object] = {}
    interpolation = Interpolation(env)
    if source is not None:
        data = interpolation.apply(read_config_file(source))
    issues = list(interpolation.issues)
    issues.extend(apply_environment(data, env, skip=interpolation.referenced))
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(data, dotted, value)
    settings, problems = validate_data(data, source.parent if source is not None else cwd)
    broken = {i.key for i in interpolation.issues}
    issues.extend(p for p in problems if p.key not in broken)  # "not set" says it already
    if settings is not None:
        issues.extend(_file_checks(settings))
    if settings is None or issues:
        raise ConfigError(list(dict.fromkeys(i.message for i in issues)))
    return settings


def validate_data(data: Mapping[str, object], base_dir: Path) -> tuple[Settings | None, list[Issue]]:
    """Validate each section on its own first, so problems in one section never hide those of another,
    then cross-check whatever validated. Relative paths resolve against ``base_dir``."""
    context = BaseDir(base_dir)
    issues: list[Issue] = []
    valid: dict[str, object] = {}
    failed: set[str] = set()
    for name, value in data.items():
        if name not in Settings.model_fields:
            issues.append(unknown_key((name,), Settings))
            continue
        try:
            valid[name] = _adapter(name).validate_python(value, context=context)
        except ValidationError as exc:
            failed.add(name)
            issues.extend(translate(exc, Settings, (name,)))
    if issues:
        partial = Settings.model_construct(**cast("dict[str, Any]", valid))
        issues.extend(_issue(p) for p in cross_check(partial, failed))
        return None, issues
    try:
        return Settings.model_validate(data, context=context), []
    except ValidationError as exc:
        return None, translate(exc, Settings)


@cache
def _adapter(section: str) -> TypeAdapter[object]:
    annotation = Settings.model_fields[section].annotation
    if annotation is None:
        raise KeyError(section)
    return TypeAdapter(annotation)


def _issue(problem: Problem) -> Issue:
    return issue(problem.key, problem.message)


def _set_dotted(data: dict[str, object], dotted: str, value: object) -> None:
    *parents, last = dotted.split(".")
    target = data
    for part in parents:
        child = target.get(part)
        if not isinstance(child, dict):
            child = {}
            target[part] = child
        target = child
    target[last] = value


def _file_checks(settings: Settings) -> list[Issue]:
    """Checks that look at the file system; kept out of the model so ``Settings(...)`` stays pure."""
    auth = settings.auth
    if auth.enabled and not auth.file.is_file():
        key: Key = ("auth", "file")
        return [issue(key, f"file not found: {auth.file} (required when auth.enabled is true)")]
    return []
