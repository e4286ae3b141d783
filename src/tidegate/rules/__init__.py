"""Rules: load YAML rule files into a ``RuleSet`` and evaluate actions against it (rules.md). Pure: no I/O
during evaluation, the clock passed in."""

from tidegate.rules.check import check_rule_set, check_rules, format_errors, format_ok
from tidegate.rules.conditions import CompiledCondition, Predicate, compile_condition
from tidegate.rules.context import EvalContext, LocalTime, SemanticMatcher
from tidegate.rules.engine import Rule, RuleSet
from tidegate.rules.errors import RuleFileError, RuleLoadError
from tidegate.rules.loader import (
    MAX_FILE_BYTES,
    list_rule_files,
    load_rule_texts,
    load_rules,
    loads_rules_text,
)
from tidegate.rules.merge_patch import merge_patch
from tidegate.rules.operators import deep_equal
from tidegate.rules.params import VERDICT_TYPES, References, compile_action
from tidegate.rules.paths import (
    PathError,
    canonical_text,
    compile_field,
    compile_key_path,
    key_hash,
    key_value,
    normalize_key_path,
    walk,
)

__all__ = [
    "MAX_FILE_BYTES",
    "VERDICT_TYPES",
    "CompiledCondition",
    "EvalContext",
    "LocalTime",
    "PathError",
    "Predicate",
    "References",
    "Rule",
    "RuleFileError",
    "RuleLoadError",
    "RuleSet",
    "SemanticMatcher",
    "canonical_text",
    "check_rule_set",
    "check_rules",
    "compile_action",
    "compile_condition",
    "compile_field",
    "compile_key_path",
    "deep_equal",
    "format_errors",
    "format_ok",
    "key_hash",
    "key_value",
    "list_rule_files",
    "load_rule_texts",
    "load_rules",
    "loads_rules_text",
    "merge_patch",
    "normalize_key_path",
    "walk",
]
