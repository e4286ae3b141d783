"""Where the configuration comes from (config.md §1): find the file, parse TOML or YAML into plain data,
and replace ``${NAME}`` references with environment values."""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Hashable, Mapping
from pathlib import Path

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node

from tidegate.config.messages import Issue, Key, issue
from tidegate.errors import ConfigError

__all__ = ["CONFIG_VARIABLE", "Interpolation", "discover", "read_config_file"]

log = logging.getLogger("tidegate.config")

CONFIG_VARIABLE = "TIDEGATE_CONFIG"
CANDIDATES = ("tidegate.toml", "tidegate.yaml", "tidegate.yml")

_REFERENCE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{")


def discover(config_path: str | None, env: Mapping[str, str], cwd: Path) -> Path | None:
    """``--config``, else ``TIDEGATE_CONFIG``, else the first of ./tidegate.toml, .yaml, .yml, else None.

    A named file that does not exist is a ConfigError; other candidates found are ignored with a WARNING."""
    named = config_path or env.get(CONFIG_VARIABLE)
    if named:
        path = cwd / Path(named).expanduser()
        if not path.is_file():
            raise ConfigError([f"config: file not found: {named}"])
        return path.resolve()
    found = [cwd / name for name in CANDIDATES if (cwd / name).is_file()]
    if not found:
        return None
    for ignored in found[1:]:
        log.warning(
            "config: both %s and %s exist; using %s, ignoring %s",
            found[0].name,
            ignored.name,
            found[0].name,
            ignored.name,
        )
    return found[0].resolve()


class _DuplicateKey(ConstructorError):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML that rejects a key given twice in one mapping (PyYAML would keep the last one)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: Node, deep: bool = False) -> dict[Hashable, object]:
    if not isinstance(node, MappingNode):
        raise ConstructorError(None, None, "expected a mapping", node.start_mark)
    seen: set[object] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError:
            continue  # unhashable key: the base constructor reports it
        if duplicate:
            raise _DuplicateKey(None, None, f"duplicate key '{key}'", key_node.start_mark)
        seen.add(key)
    return SafeConstructor.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _parse_yaml(text: str, name: str) -> object:
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        # Only the problem and its position: PyYAML's text quotes the source line, which may hold a secret.
        mark = exc.problem_mark or exc.context_mark
        where = "" if mark is None else f"line {mark.line + 1}: "
        if mark is not None and not isinstance(exc, _DuplicateKey):
            where = f"line {mark.line + 1}, column {mark.column + 1}: "
        raise ConfigError(
            [f"config: {name}: {where}{exc.problem or exc.context or 'invalid YAML'}"]
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"config: {name}: invalid YAML ({type(exc).__name__})"]) from None


def _string_keys(mapping: dict[object, object]) -> dict[str, object]:
    """YAML allows keys such as ``1`` or ``true``; config keys and map keys are strings."""
    return {key if isinstance(key, str) else str(key): _plain(value) for key, value in mapping.items()}


def _plain(value: object) -> object:
    if isinstance(value, dict):
        return _string_keys(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def read_config_file(path: Path) -> dict[str, object]:
    """The file's content as plain data; ConfigError naming the file, line and problem when it is broken."""
    name = path.name
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise ConfigError(
            [f"config: {name}: unsupported file type '{path.suffix}' (use .toml, .yaml or .yml)"]
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise ConfigError([f"config: {name}: cannot read ({reason})"]) from None
    if suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"config: {name}: {exc}"]) from None
    data = _parse_yaml(text, name)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"config: {name}: the top level must be a mapping"])
    return _string_keys(data)


class Interpolation:
    """Replace ``${NAME}`` in every string value; ``$${`` writes ``${``. Keys are never interpolated.

    ``referenced`` collects every variable named (set or not): they are inputs, not overrides.
    ``issues`` has one entry per broken reference, naming the key and the variable, never a value."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self.referenced: set[str] = set()
        self.issues: list[Issue] = []

    def apply(self, mapping: dict[str, object], key: Key = ()) -> dict[str, object]:
        return {k: self._value(v, (*key, k)) for k, v in mapping.items()}

    def _value(self, value: object, key: Key) -> object:
        if isinstance(value, str):
            return self._string(value, key)
        if isinstance(value, dict):
            return self.apply(value, key)
        if isinstance(value, list):
            return [self._value(v, (*key, i)) for i, v in enumerate(value)]
        return value

    def _string(self, text: str, key: Key) -> str:
        def replace(match: re.Match[str]) -> str:
            token, name = match.group(0), match.group(1)
            if token == "$${":
                return "${"
            if name is None:
                self.issues.append(issue(key, "invalid reference '${' (write $${ for a literal ${)"))
                return token
            self.referenced.add(name)
            if name not in self._env:
                self.issues.append(issue(key, f"environment variable '{name}' is not set"))
                return token
            return self._env[name]

        return _REFERENCE.sub(replace, text)
