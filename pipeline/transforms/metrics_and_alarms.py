"""MetricsAndAlarms: the detect → metrics → alarms part of the batch graph, as one composite.

In: ``{"invocations", "streams", "dead_letters"}``. Out: ``{"points"`` (every MetricPoint: from
the logs, from metric files such as CloudWatch's, and coldtrace's own dead letters per minute),
``"alarms"`` (state transitions), ``"dead_letters"`` (unreadable metric records and failed
notifications, for the dead-letter index)``}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import apache_beam as beam

from pipeline.rules import RuleSet, default_rules
from pipeline.sinks.alarms import AlarmSettings, NotifyAlarms
from pipeline.sources.files import split_dead_letters
from pipeline.sources.metric_files import ReadMetricFiles
from pipeline.transforms.detect import Detect
from pipeline.transforms.evaluate_alarms import EvaluateAlarms
from pipeline.transforms.window_metrics import DeadLetterMetrics, WindowMetrics


@dataclass
class AlarmConfig:
    """What the alarm part of a run needs: rules, extra metric files, where to notify."""

    rules: RuleSet = field(default_factory=default_rules)
    metrics_inputs: list[str] = field(default_factory=list)
    notify: AlarmSettings = field(default_factory=AlarmSettings)


class MetricsAndAlarms(beam.PTransform):
    def __init__(self, config: AlarmConfig | None = None) -> None:
        super().__init__()
        self.config = config or AlarmConfig()

    def expand(self, pcolls):
        cfg = self.config
        p = pcolls["invocations"].pipeline
        observations = (pcolls["invocations"], pcolls["streams"]) | "Detect" >> Detect()
        parts = [observations | "WindowMetrics" >> WindowMetrics()]
        extra_dead = []
        if cfg.metrics_inputs:
            read = p | "ReadMetricFiles" >> ReadMetricFiles(cfg.metrics_inputs)
            read_points, read_dead = split_dead_letters(read, "Metrics")
            parts.append(read_points)
            extra_dead.append(read_dead)
        all_dead = [pcolls["dead_letters"], *extra_dead] | "DeadLettersSoFar" >> beam.Flatten()
        parts.append(all_dead | "DeadLetterMetrics" >> DeadLetterMetrics())
        points = parts | "AllMetricPoints" >> beam.Flatten()
        alarms = points | "EvaluateAlarms" >> EvaluateAlarms(cfg.rules)
        if cfg.notify.enabled:
            extra_dead.append(alarms | "NotifyAlarms" >> NotifyAlarms(cfg.notify))
        if not extra_dead:
            extra_dead.append(p | "NoDeadLetters" >> beam.Create([]))
        dead = extra_dead | "AlarmDeadLetters" >> beam.Flatten()
        return {"points": points, "alarms": alarms, "dead_letters": dead}
