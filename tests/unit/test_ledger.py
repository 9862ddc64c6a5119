"""The ledger's arithmetic: rows per source, sources sharing a log stream accounted together, and
every way the counts can disagree reported in words."""

from pipeline.ledger import (
    DeadLetterCount,
    Ledger,
    SourceCounts,
    StreamCounts,
    balance,
    cross_check_elasticsearch,
    cross_check_metrics,
    source_of,
)

LOGS, DEAD = "coldtrace-logs", "coldtrace-deadletter"


def src(path: str, streams: dict[str, int], dead: int = 0, control: int = 0) -> SourceCounts:
    return SourceCounts(path, payloads=len(streams) + control, control_messages=control,
                        events=sum(streams.values()), dead_letters=dead, streams=dict(streams))


def stream(key: str, events: int, dupes: int = 0) -> StreamCounts:
    return StreamCounts(key, events=events, unique=events - dupes, duplicates=dupes)


def test_source_of_maps_files_to_their_input_pattern():
    patterns = ["/in/a/*.ndjson", "/in/b", "s3://bucket/exports/*"]
    assert source_of("/in/a/x.ndjson", patterns) == "/in/a/*.ndjson"
    assert source_of("/in/b/2024/x.gz", patterns) == "/in/b"
    assert source_of("s3://bucket/exports/0001.gz", patterns) == "s3://bucket/exports/*"
    assert source_of("/elsewhere/y", patterns) == "/elsewhere/y"


def test_a_balanced_run_has_one_row_per_source():
    records = [src("/a/1", {"s1": 10, "s2": 5}, dead=2, control=1), src("/b/1", {"s3": 7}),
               stream("s1", 10, dupes=3), stream("s2", 5), stream("s3", 7),
               DeadLetterCount("read"), DeadLetterCount("decode")]
    led = balance(records, ["/a/*", "/b/*"], {LOGS: 19, DEAD: 2}, LOGS, DEAD)
    assert led.balanced, led.problems
    a, b = led.rows
    assert (a.source, a.events_read, a.events_indexed, a.duplicates_removed, a.inputs_dead_lettered,
            a.control_messages) == ("/a/*", 15, 12, 3, 2, 1)
    assert (b.source, b.events_read, b.events_indexed) == ("/b/*", 7, 7)
    assert "balanced" in a.line() and "15 events read = 12 indexed + 3 duplicates removed" in a.line()
    assert led.totals["events_read"] == 22 and led.totals["dead_letters_by_stage"] == {"decode": 1, "read": 1}


def test_sources_sharing_a_stream_are_one_row():
    """The same payload delivered into two inputs: which copy is the duplicate is not a per-source fact."""
    records = [src("/a/1", {"s1": 10}), src("/b/1", {"s1": 10, "s2": 4}), src("/c/1", {"s9": 1}),
               stream("s1", 20, dupes=10), stream("s2", 4), stream("s9", 1)]
    led = balance(records, ["/a/*", "/b/*", "/c/*"], {LOGS: 15, DEAD: 0}, LOGS, DEAD)
    assert led.balanced, led.problems
    assert [r.source for r in led.rows] == ["/a/* + /b/*", "/c/*"]
    assert (led.rows[0].events_read, led.rows[0].events_indexed, led.rows[0].duplicates_removed) == (24, 14, 10)


def test_events_lost_between_reader_and_group_are_named():
    records = [src("/a/1", {"s1": 10, "s2": 5}), stream("s1", 8)]  # s1 lost 2 on the way, s2 never arrived
    led = balance(records, ["/a/*"], {LOGS: 8, DEAD: 0}, LOGS, DEAD)
    assert not led.balanced and led.rows[0].difference == 7
    text = "\n".join(led.problems)
    assert "'s1': 10 events read, 8 reached the group" in text
    assert "'s2': 5 events read, none reached the group" in text
    assert "/a/*: 15 events read but 8 accounted for (+7: lost)" in text
    assert "MISMATCH by +7" in led.rows[0].line()


def test_documents_missing_from_the_index_files_are_a_mismatch():
    records = [src("/a/1", {"s1": 10}, dead=1), stream("s1", 10), DeadLetterCount("read")]
    led = balance(records, ["/a/*"], {LOGS: 9, DEAD: 0}, LOGS, DEAD)
    assert led.rows[0].difference == 0  # the groups saw everything…
    assert "logs documents: 10 produced, 9 written" in led.problems          # …a writer lost one
    assert "dead letter documents: 1 produced, 0 written" in led.problems


def test_a_stream_grouped_twice_or_never_read_is_reported():
    records = [src("/a/1", {"s1": 3}), stream("s1", 3), stream("s1", 3), stream("ghost", 2)]
    led = balance(records, ["/a/*"], {LOGS: 3, DEAD: 0}, LOGS, DEAD)
    assert "log stream 's1' was grouped twice" in led.problems
    assert "log stream 'ghost' was grouped but never read" in led.problems


def test_beam_counters_cross_check_where_the_runner_has_them():
    led = balance([src("/a/1", {"s1": 5}), stream("s1", 5, dupes=1)], ["/a/*"], {LOGS: 4, DEAD: 0}, LOGS, DEAD)
    cross_check_metrics(led, None)
    assert led.balanced and led.checks["beam_metrics"] == "not reported by this runner"
    cross_check_metrics(led, {"events_read": 5, "duplicate_events": 1})
    assert led.balanced
    cross_check_metrics(led, {"events_read": 6, "duplicate_events": 1})
    assert led.problems == ["Beam counter events_read = 6 but the ledger says 5"]


def test_elasticsearch_outcomes_must_cover_every_document_handed_over():
    docs = {LOGS: 90, "coldtrace-invocations": 10, DEAD: 0}
    ok = Ledger(rows=[], problems=[], totals={})
    cross_check_elasticsearch(ok, {"indexed": 95, "already_indexed": 3, "rejected": 4, "dead_lettered": 2}, docs)
    assert ok.balanced  # 100 handed + 2 dead letters of rejects = 95 + 3 + 4
    bad = Ledger(rows=[], problems=[], totals={})
    cross_check_elasticsearch(bad, {"indexed": 97, "already_indexed": 0, "rejected": 0, "dead_lettered": 0}, docs)
    assert bad.problems and "100 documents handed" in bad.problems[0]
    skipped = Ledger(rows=[], problems=[], totals={})
    cross_check_elasticsearch(skipped, {}, docs)
    assert skipped.balanced and skipped.checks["elasticsearch"] == "not reported by this runner"
