"""Load a rules directory into a ``RuleSet`` (rules.md §1, §2, §10), collecting every problem first.

Loading is all or nothing: any problem in any file raises ``RuleLoadError`` with the complete list,
so a reload either swaps in a whole new set or changes nothing."""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tidegate.errors import ConfigError
from tidegate.model.verdict import VerdictKind, VerdictParams
from tidegate.rules.conditions import CompiledCondition, compile_condition
from tidegate.rules.engine import Rule, RuleSet
from tidegate.rules.errors import Problem, RuleFileError, RuleLoadError, format_problem
from tidegate.rules.params import References, compile_action
from tidegate.rules.yaml_source import NonJson, non_json_problems, parse_document

__all__ = [
    "MAX_FILE_BYTES",
    "list_rule_files",
    "load_rule_texts",
    "load_rules",
    "loads_rules_text",
    "resolve_zone",
]

MAX_FILE_BYTES = 1 << 20
_NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")
_PRIORITY_BOUND = 1_000_000
_RULE_KEYS = ("name", "priority", "enabled", "description", "condition", "action", "timezone", "metadata")
_UNSUPPORTED_RULE_KEYS: Mapping[str, str] = {
    "mute_time_intervals": "mute time intervals are not supported",
    "active_time_intervals": "active time intervals are not supported",
}
_TOP_LEVEL = "top level must be a mapping with the single key 'rules'"
_MISSING = object()


@dataclass(frozen=True, slots=True)
class _Options:
    refs: References
    embedding_enabled: bool
    default_timezone: str


def resolve_zone(name: str) -> ZoneInfo | None:
    """The IANA zone (legacy aliases such as ``US/Eastern`` included), or None for an unknown name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _options(
    providers: Collection[str],
    state_machines: Collection[str],
    chains: Collection[str],
    embedding_enabled: bool,
    default_timezone: str,
) -> _Options:
    if resolve_zone(default_timezone) is None:
        raise ConfigError([f"rules.default_timezone: unknown time zone '{default_timezone}'"])
    refs = References(frozenset(providers), frozenset(state_machines), frozenset(chains))
    return _Options(refs, embedding_enabled, default_timezone)


def load_rules(
    directory: Path,
    *,
    providers: Collection[str],
    state_machines: Collection[str] = frozenset(),
    chains: Collection[str] = frozenset(),
    embedding_enabled: bool = False,
    default_timezone: str = "UTC",
    missing_ok: bool = False,
) -> RuleSet:
    """Load every rule file of ``directory``; RuleLoadError lists all problems of all files.

    A missing directory gives an empty set when ``missing_ok`` (startup: the caller logs a WARNING),
    else the error ``rules directory not found`` (reload). ConfigError for a bad ``default_timezone``."""
    options = _options(providers, state_machines, chains, embedding_enabled, default_timezone)
    if missing_ok and not directory.exists():
        return RuleSet()
    files, errors = list_rule_files(directory)
    return _load(files, options, errors)


def load_rule_texts(
    files: Iterable[tuple[str, str | bytes]],
    *,
    providers: Collection[str],
    state_machines: Collection[str] = frozenset(),
    chains: Collection[str] = frozenset(),
    embedding_enabled: bool = False,
    default_timezone: str = "UTC",
) -> RuleSet:
    """Load in-memory files ``(name, content)`` exactly as ``load_rules`` loads a directory."""
    options = _options(providers, state_machines, chains, embedding_enabled, default_timezone)
    return _load(files, options, [])


def loads_rules_text(
    name: str,
    text: str | bytes,
    *,
    providers: Collection[str],
    state_machines: Collection[str] = frozenset(),
    chains: Collection[str] = frozenset(),
    embedding_enabled: bool = False,
    default_timezone: str = "UTC",
) -> RuleSet:
    """Load one in-memory file (for tests and tools)."""
    return load_rule_texts(
        [(name, text)],
        providers=providers,
        state_machines=state_machines,
        chains=chains,
        embedding_enabled=embedding_enabled,
        default_timezone=default_timezone,
    )


def list_rule_files(directory: Path) -> tuple[list[tuple[str, bytes]], list[RuleFileError]]:
    """Read the rule files of ``directory`` in name order (§1), with the problems found reading them.

    Only ``*.yaml``/``*.yml`` (lowercase) regular files, symlinks followed, directly inside; names
    starting with ``.`` are skipped and subdirectories are not read."""
    try:
        with os.scandir(directory) as scan:
            entries = sorted(
                (entry for entry in scan if _is_rule_file(entry.name) and entry.is_file()),
                key=lambda entry: entry.name,
            )
    except FileNotFoundError:
        return [], [RuleFileError(str(directory), "rules directory not found")]
    except NotADirectoryError:
        return [], [RuleFileError(str(directory), "rules directory is not a directory")]
    except OSError as exc:
        return [], [RuleFileError(str(directory), f"cannot read rules directory: {exc.strerror}")]
    files: list[tuple[str, bytes]] = []
    errors: list[RuleFileError] = []
    for entry in entries:
        try:
            with open(entry.path, "rb") as handle:
                files.append((entry.name, handle.read(MAX_FILE_BYTES + 1)))
        except OSError as exc:
            errors.append(RuleFileError(entry.name, f"cannot read file: {exc.strerror}"))
    return files, errors


def _is_rule_file(name: str) -> bool:
    return not name.startswith(".") and name.endswith((".yaml", ".yml"))


def _load(
    files: Iterable[tuple[str, str | bytes]], options: _Options, errors: list[RuleFileError]
) -> RuleSet:
    rules: list[Rule] = []
    defined_in: dict[str, str] = {}
    for file_name, content in sorted(files, key=lambda item: item[0]):
        for message in _load_file(file_name, content, options, defined_in, rules):
            errors.append(RuleFileError(file_name, message))
    if errors:
        raise RuleLoadError(errors)
    return RuleSet(rules)


def _decode(content: str | bytes) -> str:
    """The file's text; ValueError (the message) when it is too large or not UTF-8."""
    raw = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
    if len(raw) > MAX_FILE_BYTES:
        raise ValueError(f"file is larger than 1 MiB ({MAX_FILE_BYTES} bytes)")
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise ValueError(f"file is not valid UTF-8 (byte {exc.start})") from None


def _load_file(
    file_name: str, content: str | bytes, options: _Options, defined_in: dict[str, str], rules: list[Rule]
) -> list[str]:
    """Append the file's rules to ``rules``; return its problem messages."""
    try:
        text = _decode(content)
    except ValueError as exc:
        return [str(exc)]
    document = parse_document(text)
    messages = list(document.errors)
    data = document.data
    if data is None:
        return messages
    if not isinstance(data, dict) or list(data) != ["rules"]:
        return [*messages, _TOP_LEVEL]
    items = data["rules"]
    if items is None:
        return messages
    if not isinstance(items, list):
        return [*messages, "rules: must be a list"]
    for number, item in enumerate(items, start=1):
        rule, label, problems = _compile_rule(item, number, file_name, options, defined_in)
        messages.extend(f"{label}: {format_problem(problem)}" for problem in problems)
        if rule is not None:
            rules.append(rule)
    return messages


def _compile_rule(
    raw: object, number: int, file_name: str, options: _Options, defined_in: dict[str, str]
) -> tuple[Rule | None, str, list[Problem]]:
    """One rule: ``(rule or None, "rule 'name'" or "rule #n", problems)``."""
    label = f"rule #{number}"
    if isinstance(raw, NonJson) or not isinstance(raw, dict):
        return None, label, non_json_problems(raw, "") or [("", "must be a mapping")]
    problems, tainted = _non_json_keys(raw)
    name = None if "name" in tainted else _name(raw, file_name, defined_in, problems)
    if name is not None:
        label = f"rule '{name}'"
    checked = _Checked(raw, tainted, problems)
    priority = checked.priority()
    enabled = checked.boolean("enabled", default=True)
    description = checked.description()
    timezone, zone = checked.timezone(options.default_timezone)
    metadata = checked.metadata()
    condition = checked.condition(zone or ZoneInfo("UTC"), options.embedding_enabled)
    verdict = checked.action(options.refs)
    for key in raw:
        if isinstance(key, str) and key not in _RULE_KEYS:
            problems.append((key, _UNSUPPORTED_RULE_KEYS.get(key, "unknown key")))
    if problems or name is None or condition is None or verdict is None or zone is None:
        return None, label, problems
    kind, params = verdict
    rule = Rule(
        name=name,
        kind=kind,
        params=params,
        condition=condition.test,
        priority=priority,
        enabled=enabled,
        description=description,
        source=file_name,
        timezone=timezone,
        metadata=MappingProxyType(metadata),
        semantic_topics=condition.topics,
        default_thresholds=condition.default_thresholds,
    )
    return rule, label, []


def _non_json_keys(raw: Mapping[object, object]) -> tuple[list[Problem], set[str]]:
    """Problems of values JSON cannot hold, and the rule keys holding them (not checked any further)."""
    problems: list[Problem] = []
    tainted: set[str] = set()
    for key, value in raw.items():
        # A non-string key is reported by scanning a mapping that holds it.
        found = non_json_problems(value, key) if isinstance(key, str) else non_json_problems({key: value}, "")
        if found:
            problems.extend(found)
            tainted.add(str(key))
    return problems, tainted


def _name(
    raw: Mapping[str, object], file_name: str, defined_in: dict[str, str], problems: list[Problem]
) -> str | None:
    value = raw.get("name", _MISSING)
    if value is _MISSING:
        problems.append(("name", "required"))
        return None
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        problems.append(("name", "must be 1-128 characters of [A-Za-z0-9._-]"))
        return None
    if value in defined_in:
        problems.append(("name", f"duplicate (also defined in {defined_in[value]})"))
    else:
        defined_in[value] = file_name
    return value


class _Checked:
    """The keys of one rule (§2), each checked against its type and bounds; problems are appended."""

    def __init__(self, raw: Mapping[str, object], tainted: set[str], problems: list[Problem]) -> None:
        self.raw = raw
        self.tainted = tainted
        self.problems = problems

    def _get(self, key: str) -> object:
        return _MISSING if key in self.tainted else self.raw.get(key, _MISSING)

    def priority(self) -> int:
        value = self._get("priority")
        if value is _MISSING:
            return 0
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= _PRIORITY_BOUND:
            return value
        self.problems.append(
            ("priority", f"must be an integer between -{_PRIORITY_BOUND} and {_PRIORITY_BOUND}")
        )
        return 0

    def boolean(self, key: str, *, default: bool) -> bool:
        value = self._get(key)
        if value is _MISSING:
            return default
        if isinstance(value, bool):
            return value
        self.problems.append((key, "must be a boolean"))
        return default

    def description(self) -> str | None:
        value = self._get("description")
        if value is _MISSING or value is None:
            return None
        if isinstance(value, str) and len(value) <= 1024:
            return value
        self.problems.append(("description", "must be a string of at most 1024 characters"))
        return None

    def timezone(self, default: str) -> tuple[str, ZoneInfo | None]:
        value = self._get("timezone")
        if value is _MISSING or value is None:
            return default, resolve_zone(default)
        if not isinstance(value, str):
            self.problems.append(("timezone", "must be a string"))
            return default, None
        zone = resolve_zone(value)
        if zone is None:
            self.problems.append(("timezone", f"unknown time zone '{value}'"))
        return value, zone

    def condition(self, zone: ZoneInfo, embedding_enabled: bool) -> CompiledCondition | None:
        value = self._get("condition")
        if value is _MISSING:
            if "condition" not in self.tainted:
                self.problems.append(("condition", "required"))
            return None
        compiled, found = compile_condition(value, zone=zone, embedding_enabled=embedding_enabled)
        self.problems.extend(found)
        return compiled

    def action(self, refs: References) -> tuple[VerdictKind, VerdictParams] | None:
        value = self._get("action")
        if value is _MISSING:
            if "action" not in self.tainted:
                self.problems.append(("action", "required"))
            return None
        verdict, found = compile_action(value, refs)
        self.problems.extend(found)
        return verdict

    def metadata(self) -> dict[str, str]:
        value = self._get("metadata")
        if value is _MISSING or value is None:
            return {}
        if not isinstance(value, dict):
            self.problems.append(("metadata", "must be a mapping of strings"))
            return {}
        labels: dict[str, str] = {}
        for key, item in value.items():
            if isinstance(item, str):
                labels[key] = item
            else:
                self.problems.append((f"metadata.{key}", "must be a string"))
        return labels
