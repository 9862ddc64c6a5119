"""Rules as data: the built-in defaults (``defaults.yaml``), a user's YAML file on top, and
per-function overrides by name glob. Parsed once and validated loudly: a mistake names the
file and the field.

A user file has the shape of ``defaults.yaml``; every section is optional::

    rules:                    # by name: change fields of a built-in rule, or add a rule
      error-rate: {threshold: 0.05}
      errors: {enabled: true}
    overrides:                # per function, by glob; later entries win
      - functions: "payments*"
        rules: {error-rate: {threshold: 0.02, severity: critical}}
    functions:                # settings the relative rules need (by glob)
      orders-api: {timeout_s: 6, reserved_concurrency: 50}
    account_concurrency_limit: 1000
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, fields, replace
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from pipeline.rules.catalog import STATISTICS

DEFAULTS_PATH = files("pipeline.rules") / "defaults.yaml"   # package data (a Traversable: works from a wheel or a zip)
OPS = (">", ">=", "<", "<=")
TREAT_MISSING = ("missing", "notBreaching", "breaching", "ignore")
RELATIVE_TO = (None, "timeout", "concurrency_limit")
SEVERITIES = ("info", "warning", "critical")
WINDOW_S = 60


class RulesError(ValueError):
    """A rules file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One alarm rule with CloudWatch's semantics.

    Every ``period_s`` (a multiple of the 60 s metrics window) gives one datapoint; the rule goes
    to ALARM when ``datapoints_to_alarm`` of the last ``evaluation_periods`` datapoints breach
    (``metric op threshold``), and back to OK after ``evaluation_periods - datapoints_to_alarm
    + 1`` datapoints in a row stay under ``clear_threshold`` (default: ``threshold``; set it lower
    for hysteresis) — for a steady incident that is CloudWatch's own clearing time, and a value
    that keeps crossing the line keeps the alarm rather than flapping it. After clearing the
    rule stays OK for ``cooldown_periods``. ``relative_to`` makes the threshold a fraction of the
    function's timeout or concurrency limit. Ratios over fewer than ``min_samples`` invocations
    are no datapoint, and a ratio breaches only when its count reaches ``min_count`` (2 failures
    in 12 invocations is 17 %, and noise).
    """

    name: str
    metric: str
    op: str = ">"
    threshold: float = 0.0
    period_s: int = 60
    evaluation_periods: int = 1
    datapoints_to_alarm: int = 1
    treat_missing_data: str = "notBreaching"
    min_samples: int = 0
    min_count: int = 0
    relative_to: str | None = None
    clear_threshold: float | None = None
    cooldown_periods: int = 0
    severity: str = "warning"
    enabled: bool = True
    description: str = ""

    @property
    def period_ms(self) -> int:
        return self.period_s * 1000


@dataclass(frozen=True, slots=True)
class FunctionSettings:
    timeout_s: float | None = None
    reserved_concurrency: int | None = None


_RULE_FIELDS = {f.name: f for f in fields(Rule)}
_SETTING_FIELDS = {f.name for f in fields(FunctionSettings)}
_TOP = {"rules", "overrides", "functions", "account_concurrency_limit"}


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    overrides: tuple[tuple[tuple[str, ...], dict[str, dict[str, Any]]], ...] = ()
    functions: tuple[tuple[str, FunctionSettings], ...] = ()
    account_concurrency_limit: int = 1000
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def rules_for(self, function: str) -> tuple[Rule, ...]:
        """The enabled rules of one function, its overrides applied (cached per function)."""
        found = self._cache.get(function)
        if found is None:
            out = []
            for rule in self.rules:
                for globs, changes in self.overrides:
                    if rule.name in changes and any(fnmatch.fnmatchcase(function, g) for g in globs):
                        rule = replace(rule, **changes[rule.name])
                if rule.enabled:
                    out.append(rule)
            found = self._cache[function] = tuple(out)
        return found

    def settings_for(self, function: str) -> FunctionSettings:
        merged: dict[str, Any] = {}
        for glob, settings in self.functions:
            if fnmatch.fnmatchcase(function, glob):
                merged.update({k: v for k, v in vars_of(settings).items() if v is not None})
        return FunctionSettings(**merged)

    def concurrency_limit(self, function: str) -> int:
        reserved = self.settings_for(function).reserved_concurrency
        return reserved if reserved else self.account_concurrency_limit

    def with_functions(self, settings: dict[str, FunctionSettings]) -> "RuleSet":
        """Known facts about functions (e.g. a simulated fleet's timeouts) under the user's own."""
        return replace(self, functions=tuple(settings.items()) + self.functions, _cache={})

    def __getstate__(self) -> dict[str, Any]:
        return {"rules": self.rules, "overrides": self.overrides, "functions": self.functions,
                "account_concurrency_limit": self.account_concurrency_limit}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, value)
        object.__setattr__(self, "_cache", {})


def vars_of(settings: FunctionSettings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in _SETTING_FIELDS}


# -- loading ------------------------------------------------------------------------------------

def _num(where: str, value: Any, integer: bool = False, minimum: float | None = None) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise RulesError(f"{where}: expected {'an integer' if integer else 'a number'}, got {value!r}")
    if minimum is not None and value < minimum:
        raise RulesError(f"{where}: must be at least {minimum}, got {value!r}")
    return value


def _check_fields(where: str, data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        at = f"{where}.{key}"
        if key not in _RULE_FIELDS or key == "name":
            raise RulesError(f"{at}: unknown rule field (known: {', '.join(k for k in _RULE_FIELDS if k != 'name')})")
        if key == "metric":
            if value not in STATISTICS:
                raise RulesError(f"{at}: unknown metric {value!r} (known: {', '.join(STATISTICS)})")
        elif key == "op" and value not in OPS:
            raise RulesError(f"{at}: op must be one of {', '.join(OPS)}, got {value!r}")
        elif key == "treat_missing_data" and value not in TREAT_MISSING:
            raise RulesError(f"{at}: must be one of {', '.join(TREAT_MISSING)}, got {value!r}")
        elif key == "relative_to" and value not in RELATIVE_TO:
            raise RulesError(f"{at}: must be timeout or concurrency_limit, got {value!r}")
        elif key == "severity" and value not in SEVERITIES:
            raise RulesError(f"{at}: must be one of {', '.join(SEVERITIES)}, got {value!r}")
        elif key in ("threshold", "clear_threshold") and not (key == "clear_threshold" and value is None):
            value = float(_num(at, value))
        elif key == "period_s":
            _num(at, value, integer=True, minimum=WINDOW_S)
            if value % WINDOW_S:
                raise RulesError(f"{at}: must be a multiple of {WINDOW_S} s (the metrics window), got {value}")
        elif key in ("evaluation_periods", "datapoints_to_alarm"):
            _num(at, value, integer=True, minimum=1)
        elif key in ("min_samples", "min_count", "cooldown_periods"):
            _num(at, value, integer=True, minimum=0)
        elif key == "enabled" and not isinstance(value, bool):
            raise RulesError(f"{at}: expected true or false, got {value!r}")
        elif key == "description" and not isinstance(value, str):
            raise RulesError(f"{at}: expected text, got {value!r}")
        out[key] = value
    return out


def _validate(where: str, rule: Rule) -> Rule:
    if rule.datapoints_to_alarm > rule.evaluation_periods:
        raise RulesError(f"{where}: datapoints_to_alarm ({rule.datapoints_to_alarm}) exceeds "
                         f"evaluation_periods ({rule.evaluation_periods})")
    return rule


def _mapping(where: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RulesError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _globs(where: str, value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(g, str) and g for g in items):
        raise RulesError(f"{where}: expected a function name glob or a list of them, got {value!r}")
    return tuple(items)


def _settings(where: str, data: Any) -> FunctionSettings:
    data = _mapping(where, data)
    for key, value in data.items():
        if key not in _SETTING_FIELDS:
            raise RulesError(f"{where}.{key}: unknown setting (known: {', '.join(sorted(_SETTING_FIELDS))})")
        _num(f"{where}.{key}", value, integer=key == "reserved_concurrency", minimum=1)
    return FunctionSettings(**data)


def merge_document(base: RuleSet, doc: Any, source: str) -> RuleSet:
    """``base`` with one parsed YAML document on top."""
    doc = _mapping(source, doc)
    unknown = set(doc) - _TOP
    if unknown:
        raise RulesError(f"{source}: unknown section(s) {', '.join(sorted(unknown))} "
                         f"(known: {', '.join(sorted(_TOP))})")
    rules = {r.name: r for r in base.rules}
    for name, body in _mapping(f"{source}: rules", doc.get("rules")).items():
        where = f"{source}: rules.{name}"
        changes = _check_fields(where, _mapping(where, body))
        if name in rules:
            rules[name] = _validate(where, replace(rules[name], **changes))
        else:
            if "metric" not in changes:
                raise RulesError(f"{where}: a new rule needs a metric")
            rules[name] = _validate(where, Rule(name=name, **changes))
    overrides = list(base.overrides)
    raw_overrides = doc.get("overrides") or []
    if not isinstance(raw_overrides, list):
        raise RulesError(f"{source}: overrides: expected a list")
    for i, item in enumerate(raw_overrides):
        where = f"{source}: overrides[{i}]"
        item = _mapping(where, item)
        if set(item) - {"functions", "rules"}:
            raise RulesError(f"{where}: expected the keys functions and rules")
        globs = _globs(f"{where}.functions", item.get("functions"))
        changes = {}
        for name, body in _mapping(f"{where}.rules", item.get("rules")).items():
            if name not in rules:
                raise RulesError(f"{where}.rules.{name}: no such rule (known: {', '.join(rules)})")
            changes[name] = _check_fields(f"{where}.rules.{name}", _mapping(where, body))
            _validate(f"{where}.rules.{name}", replace(rules[name], **changes[name]))
        overrides.append((globs, changes))
    functions = list(base.functions)
    for glob, body in _mapping(f"{source}: functions", doc.get("functions")).items():
        functions.append((str(glob), _settings(f"{source}: functions.{glob}", body)))
    limit = doc.get("account_concurrency_limit", base.account_concurrency_limit)
    _num(f"{source}: account_concurrency_limit", limit, integer=True, minimum=1)
    return RuleSet(rules=tuple(rules.values()), overrides=tuple(overrides), functions=tuple(functions),
                   account_concurrency_limit=limit)


def _read_yaml(path: Path | Traversable) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)  # one line: where, and what the parser expected
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
        raise RulesError(f"{path}:{where} not valid YAML: {getattr(exc, 'problem', None) or exc}") from None


def default_rules() -> RuleSet:
    """The built-in rules (``pipeline/rules/defaults.yaml``)."""
    return merge_document(RuleSet(rules=()), _read_yaml(DEFAULTS_PATH), DEFAULTS_PATH.name)


def load_rules(path: str | Path | None = None) -> RuleSet:
    """The built-in rules with the user's file (if any) on top."""
    rules = default_rules()
    if path is None:
        return rules
    return merge_document(rules, _read_yaml(Path(path)), str(path))
