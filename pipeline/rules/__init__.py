"""Alarm rules, pure: rules as data (built-in ``defaults.yaml`` + a user's YAML, per-function
overrides by glob), CloudWatch-like M-of-N evaluation, and the state transitions it emits."""

from pipeline.rules.catalog import STATISTICS, Datapoint, Stat, aggregate, merge_window
from pipeline.rules.config import DEFAULTS_PATH, FunctionSettings, Rule, RulesError, RuleSet, default_rules, load_rules
from pipeline.rules.evaluate import FunctionAlarms, RuleState, evaluate_points, step

__all__ = ["STATISTICS", "Stat", "Datapoint", "aggregate", "merge_window", "Rule", "RuleSet",
           "FunctionSettings", "RulesError", "DEFAULTS_PATH", "default_rules", "load_rules",
           "FunctionAlarms", "RuleState", "evaluate_points", "step"]
