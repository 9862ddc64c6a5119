"""``coldtrace replay`` from a run's local dead-letter file: what decodes now is indexed (and the
union with the first run holds every event once), what still fails is kept with both reasons."""

from __future__ import annotations

import json
from collections import Counter

import pipeline.sources.formats as formats
from pipeline.cli import main as cli_main
from pipeline.local_index import index_path, read_index
from pipeline.model import INDEX_LOGS
from pipeline.parse.awslogs import PayloadError
from tests.reliability.support import Clock, Row, event_keys, record, run_pipeline


def logs_keys(out) -> Counter:
    return Counter((d["log.group"], d["log.stream"], d["event.id"]) for _, d in read_index(index_path(str(out), INDEX_LOGS)))


def test_a_decoder_bug_dead_letters_then_replay_recovers_every_event(fleet_files, fleet_payloads, tmp_path,
                                                                       monkeypatch):
    """Fault: a decoder release refuses one function's payloads (a bug). They are dead-lettered
    whole; once the bug is fixed, ``coldtrace replay --from OUT`` indexes them."""
    clock = Clock()
    fleet_dir, _ = fleet_files
    payloads, _ = fleet_payloads
    victim = next(p["logGroup"] for p in payloads if p["messageType"] == "DATA_MESSAGE")
    real = formats.to_payload

    def buggy(obj, **kw):
        if obj.get("logGroup") == victim:
            raise PayloadError("decoder bug: refused a valid payload (injected)")
        return real(obj, **kw)

    monkeypatch.setattr(formats, "to_payload", buggy)
    first = run_pipeline([str(fleet_dir / "payloads-*.ndjson")], tmp_path / "first")
    monkeypatch.setattr(formats, "to_payload", real)  # the fix is deployed
    assert first.ledger.balanced and first.dead_letters > 0
    events_in = event_keys(payloads)
    victims = {k for k in events_in if k[0] == victim}
    assert not victims & set(first.docs_by_event)

    code = cli_main(["replay", "--from", str(tmp_path / "first"), "--out", str(tmp_path / "replay"), "--quiet"])
    assert code == 0 and (tmp_path / "replay" / "still-failing.ndjson").read_text() == ""
    replayed = logs_keys(tmp_path / "replay")
    both = Counter(first.docs_by_event) + replayed
    assert set(replayed) == victims
    record(Row("decoder bug → dead letters, then `coldtrace replay --from OUT`", len(events_in),
               len(set(both) & events_in), 0, sum(n - 1 for n in both.values() if n > 1),
               len(events_in - set(both)), 0, "balanced",
               f"{first.dead_letters} payloads dead-lettered by the bug, {len(replayed)} events replayed",
               clock.seconds))


def test_what_still_fails_is_kept_with_both_reasons(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "bad.ndjson").write_bytes(b"!!!not base64\n[1, 2]\n")
    run_pipeline([str(src / "*")], tmp_path / "first")
    code = cli_main(["replay", "--from", str(tmp_path / "first"), "--out", str(tmp_path / "replay"), "--quiet"])
    assert code == 1
    failing = [json.loads(line) for line in (tmp_path / "replay" / "still-failing.ndjson").read_text().splitlines()]
    assert len(failing) == 2
    assert all(f["first_error"] and f["error"] and f["stage"] == "read" for f in failing)
    assert any("invalid base64" in f["error"] for f in failing)
    assert any("not a subscription payload object" in f["error"] for f in failing)
