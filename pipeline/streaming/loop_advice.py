"""The catch-up loop's advice aggregate: carried from read to read, and evaluated after each.

A read's pipeline folds its invocations into the read's share of the aggregate (``ADVICE_ROUND``
records, ``pipeline.graph.CatchUpShell.advice``); here it is merged into the aggregate carried
so far (``ADVICE_STATE`` records, listed in the checkpoint like the other carried state; a checkpoint
without one starts from an empty aggregate), and the regression findings not raised before
(``Checkpoint.advice_raised``) become alarms, which the loop indexes and notifies with its own
after the commit — once each, however often a later read re-evaluates them.
"""

from __future__ import annotations

import os

from pipeline.advise import AdviceAggregate
from pipeline.advise.alarms import raise_once, regression_findings
from pipeline.model import Alarm
from pipeline.sinks.record_files import read_records, record_files, write_records

ADVICE_ROUND = "advice-round"
ADVICE_STATE = "advice-state"


def carry_advice(carried: list[str], rdir: str, raised: list[str]) -> tuple[list[Alarm], list[str]]:
    """Merge the carried aggregate (record files ``carried``) and the read's share (in ``rdir``),
    write it as the round's ``ADVICE_STATE``; returns the new regression alarms and every key raised."""
    aggregate: AdviceAggregate | None = None
    for path in [*carried, *record_files(os.path.join(rdir, ADVICE_ROUND))]:
        for part in read_records(path):
            aggregate = part if aggregate is None else aggregate.merge(part)
    aggregate = aggregate or AdviceAggregate()
    write_records(os.path.join(rdir, f"{ADVICE_STATE}-0.rec"), [aggregate])
    return raise_once(regression_findings(aggregate), raised)
