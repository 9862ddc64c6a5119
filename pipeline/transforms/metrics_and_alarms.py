"""AlarmConfig: what the alarm part of a run needs (the graph itself: ``pipeline.graph``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.rules import RuleSet, default_rules
from pipeline.sinks.alarms import AlarmSettings


@dataclass
class AlarmConfig:
    """What the alarm part of a run needs: rules, extra metric files, where to notify, and
    whether regression findings alarm too."""

    rules: RuleSet = field(default_factory=default_rules)
    metrics_inputs: list[str] = field(default_factory=list)
    notify: AlarmSettings = field(default_factory=AlarmSettings)
    advice_alarms: bool = False   # regression findings as alarms (--advice-alarms; the mode's default: run_config)
