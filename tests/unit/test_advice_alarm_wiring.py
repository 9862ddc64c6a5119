"""How regression alarms are switched and carried: the command line decides once (on with
--streaming, off in batch, the flag wins), a finding is raised once however its figures grow, and
the catch-up loop carries the advice aggregate in its checkpoint (an older checkpoint without it
still loads)."""

from __future__ import annotations

import orjson
import pytest

from pipeline.advise import AdviceAggregate
from pipeline.advise.alarms import finding_key, raise_once, regression_findings
from pipeline.cli import build_parser
from pipeline.commands.run_config import run_config
from pipeline.sinks.record_files import read_records, write_records
from pipeline.streaming.checkpoint import Checkpoint, load
from pipeline.streaming.loop_advice import ADVICE_ROUND, ADVICE_STATE, carry_advice
from tests.unit.test_advise import T0, fleet


def _config(*argv: str):
    args = build_parser().parse_args(["run", *argv])
    return run_config(args, ["x.ndjson"])


@pytest.mark.parametrize(("argv", "on"), [
    ((), False), (("--advice-alarms",), True), (("--no-advice-alarms",), False),
    (("--streaming",), True), (("--streaming", "--no-advice-alarms"), False), (("--streaming", "--advice-alarms"), True),
])
def test_the_run_config_decides_advice_alarms_once(argv, on):
    assert _config(*argv).alarms.advice_alarms is on


def _aggregate(invocations) -> AdviceAggregate:
    agg = AdviceAggregate()
    for inv in invocations:
        agg.add(inv)
    return agg


BEFORE = fleet("orders", 400, version="12", p_error=0.01)
AFTER = fleet("orders", 400, version="13", p_error=0.10, median=400.0, start=T0 + 400_000)


def test_a_finding_is_raised_once_while_its_figures_grow():
    early = regression_findings(_aggregate(BEFORE + AFTER[:200]))
    late = regression_findings(_aggregate(BEFORE + AFTER))
    assert [f.kind for f in early] == [f.kind for f in late] == ["version-regression"]
    assert early[0].evidence != late[0].evidence                 # more samples, other figures
    assert finding_key(early[0]) == finding_key(late[0]) == "version-regression|orders||12|13"
    alarms, raised = raise_once(early)
    assert len(alarms) == 1 and raised == [finding_key(early[0])]
    assert raise_once(late, raised) == ([], raised)
    assert raise_once(regression_findings(_aggregate(BEFORE + fleet("orders", 400, version="13", start=T0 + 400_000)))) \
        == ([], [])                                               # a deploy that changed nothing


def test_the_loop_carries_the_aggregate_from_read_to_read(tmp_path):
    """Three reads, each with its share: the carried aggregate equals one built at once, and the
    regression is raised in the read where it shows, once."""
    shares = [BEFORE, AFTER[:200], AFTER[200:]]
    carried, raised, got = [], [], []
    for n, share in enumerate(shares):
        rdir = tmp_path / f"round-{n}"
        rdir.mkdir()
        write_records(str(rdir / f"{ADVICE_ROUND}-0.rec"), [_aggregate(share)])
        alarms, raised = carry_advice(carried, str(rdir), raised)
        got.append(len(alarms))
        carried = [str(rdir / f"{ADVICE_STATE}-0.rec")]
    assert got == [0, 1, 0]
    [state] = read_records(carried[0])
    assert orjson.dumps(state.to_json()) == orjson.dumps(_aggregate(BEFORE + AFTER).to_json())


def test_a_read_with_no_invocations_and_no_carried_state_raises_nothing(tmp_path):
    assert carry_advice([], str(tmp_path), []) == ([], [])
    [state] = read_records(str(tmp_path / f"{ADVICE_STATE}-0.rec"))
    assert state.functions == {}


def test_a_checkpoint_written_before_advice_alarms_still_loads(tmp_path):
    old = orjson.loads(Checkpoint(source="kinesis://s", round=4, state_files=["rounds/4/fold-state-0.rec"]).to_json())
    del old["advice_raised"]
    path = tmp_path / "checkpoint.json"
    path.write_bytes(orjson.dumps(old))
    ck = load(str(path), "kinesis://s")
    assert ck.round == 4 and ck.advice_raised == [] and ck.state_files == ["rounds/4/fold-state-0.rec"]


def test_streaming_folds_without_the_busy_timeline_and_finds_the_same_regressions():
    """The timeline grows with every busy 100 ms of an endless job; regressions never read it."""
    lean = AdviceAggregate(timeline=False)
    for inv in BEFORE:
        lean.add(inv)
    lean.merge(AdviceAggregate(timeline=False).add(AFTER[0]))    # a new function version, merged in
    for inv in AFTER[1:]:
        lean.add(inv)
    full = _aggregate(BEFORE + AFTER)
    assert full.functions["orders"].busy and not lean.functions["orders"].busy
    assert [f.to_json() for f in regression_findings(lean)] == [f.to_json() for f in regression_findings(full)]
