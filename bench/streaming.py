"""Streaming throughput from a local Kinesis stream (moto's server on 127.0.0.1), and iterator age.

1. Backlog: the forwarder puts a simulated fleet of about N log events (not timed) into a
   two-shard stream; then, timed in the same run:
   - baseline: the bare reader (``ShardsLoop``: GetRecords + decode, no Beam) reads it all;
   - the streaming loop (``CatchUp`` on FnApiRunner: read, fold with carried state, metric
     windows, index files, checkpoint) catches up on it.
2. Sustained: a producer thread ships a second fleet (3N events) through the forwarder as fast
   as it can — spread over at least S seconds — while the loop runs; prints the records/s and
   events/s the loop sustained, and the pipeline's own iterator age at the end (the last
   read's now − oldest ApproximateArrivalTimestamp, and the maximum of the open minute) and the
   delivery delay its watermark was held back by (measured: p99 of arrival − event time).
Run: ``python bench/streaming.py [N] [S]`` (defaults 20,000 events, 20 s).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time

# bench/ goes last on the import path: its helper (_live) is found, its file names never shadow a module.
HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0]) == HERE:
    sys.path.pop(0)
sys.path.append(HERE)

from dataclasses import replace

import boto3  # noqa: E402
from _live import REGION, LambdaContext, live_forwarder, start_moto, use_bench_credentials  # noqa: E402

from forwarder.handler import Forwarder  # noqa: E402
from pipeline.run import RunConfig  # noqa: E402
from pipeline.sinks.record_files import read_records, record_files  # noqa: E402
from pipeline.sources.kinesis_reader import ArrivalWatermark, ShardsLoop  # noqa: E402
from pipeline.sources.kinesis_shards import StartPosition, initial_cursors, list_shards  # noqa: E402
from pipeline.sources.simulate import config_for_events, encode_payload, simulate  # noqa: E402
from pipeline.streaming.catchup import CatchUp  # noqa: E402
from pipeline.streaming.config import StreamConfig  # noqa: E402


def fleet(events: int, seed: int) -> list[dict]:
    cfg = config_for_events(events, seed=seed, files=1)

    cfg = replace(cfg, start_ms=int(time.time() * 1000) - cfg.minutes * 60_000, duplicate_payload_rate=0.0)
    payloads, _ = simulate(cfg)
    return [p for p in payloads if p["messageType"] == "DATA_MESSAGE"]


def ship(fwd: Forwarder, payloads: list[dict]) -> tuple[int, int]:
    records = events = 0
    for p in payloads:
        fwd.handle({"awslogs": {"data": encode_payload(p)}}, LambdaContext())
        records += fwd.last_stats.records_out
        events += fwd.last_stats.events_shipped
    return records, events


def bare_read(url: str) -> tuple[int, int, float]:
    client = boto3.client("kinesis", region_name=REGION, endpoint_url=url)
    started = time.perf_counter()
    loop = ShardsLoop(client, "bench", initial_cursors(list_shards(client, "bench"), StartPosition("TRIM_HORIZON")),
                      lambda *_: True, bounded=True, watermark=ArrivalWatermark(), list_shards=lambda: list_shards(client, "bench"))
    records = events = 0
    for step in loop.run():
        records += step.decoded.records
        events += step.decoded.events
    return records, events, time.perf_counter() - started


def main() -> None:
    n_events = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
    use_bench_credentials()
    proc, url = start_moto()
    tmp = tempfile.mkdtemp(prefix="coldtrace-bench-streaming-")
    try:
        boto3.client("kinesis", region_name=REGION, endpoint_url=url).create_stream(StreamName="bench", ShardCount=2)
        fwd = live_forwarder(url, "bench", COLDTRACE_MAX_RECORD_BYTES="65536")
        backlog = fleet(n_events, seed=3)
        put_records, put_events = ship(fwd, backlog)
        print(f"backlog: {put_events:,} log events in {put_records:,} records on 2 shards (forwarder format, ≤ 64 KB)")

        records, events, secs = bare_read(url)
        assert records == put_records, (records, put_records)
        print(f"baseline, bare reader (GetRecords + decode, no Beam): {records / secs:,.0f} records/s, "
              f"{events / secs:,.0f} events/s ({secs:.2f} s)")

        cfg = StreamConfig("kinesis://bench", RunConfig(inputs=[], out_dir=os.path.join(tmp, "out"), region=REGION),
                           start=StartPosition("TRIM_HORIZON"), endpoint_url=url, poll_s=0.2)
        loop = CatchUp(cfg)
        started = time.perf_counter()
        rounds = loop.run(until=lambda r: loop.ck.totals.get("records", 0) >= put_records)
        secs_loop = time.perf_counter() - started
        logs = loop.ck.totals.get("logs", 0)
        print(f"streaming loop, catch-up ({len(rounds)} reads on FnApiRunner, index files and checkpoint): "
              f"{put_records / secs_loop:,.0f} records/s, {logs / secs_loop:,.0f} events/s ({secs_loop:.2f} s); "
              f"{secs / secs_loop:.2f}x the bare reader's speed")

        # sustained: a producer ships at a fixed pace while the loop runs
        second = fleet(3 * n_events, seed=5)
        pace = len(second) / seconds
        stop = threading.Event()
        shipped = {"records": 0, "events": 0}

        def produce() -> None:
            t0 = time.perf_counter()
            shipped["t0"] = t0
            for i, p in enumerate(second):
                delay = t0 + i / pace - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                r, e = ship(fwd, [p])
                shipped["records"] += r
                shipped["events"] += e
            shipped["secs"] = time.perf_counter() - t0
            stop.set()

        before_records, before_logs = loop.ck.totals.get("records", 0), loop.ck.totals.get("logs", 0)
        last_age: list[int] = []
        last_delay: list[int] = []

        def on_round(report) -> None:
            rdir = os.path.join(cfg.ckdir, "rounds", f"{report.round:08d}")
            health = [pt.values for path in record_files(os.path.join(rdir, "health")) for pt in read_records(path)]
            if health:
                last_age[:] = [max(v["iterator_age_max_ms"] for v in health)]
                last_delay[:] = [max(v.get("delivery_delay_ms", 0) for v in health)]

        producer = threading.Thread(target=produce, daemon=True)
        started = time.perf_counter()
        producer.start()
        loop.run(until=lambda r: stop.is_set() and loop.ck.totals.get("records", 0) - before_records >= shipped["records"],
                 on_round=on_round)
        secs_sustained = time.perf_counter() - started
        got_records = loop.ck.totals["records"] - before_records
        got_logs = loop.ck.totals["logs"] - before_logs
        minute_max = max([int(v.get("iterator_age_max_ms", 0)) for v in loop.ck.health.values()] + last_age)
        ship_s = shipped["secs"]
        print(f"sustained for {secs_sustained:.1f} s (producer: {shipped['records'] / ship_s:,.0f} records/s, "
              f"{shipped['events'] / ship_s:,.0f} events/s for {ship_s:.1f} s): loop read {got_records / secs_sustained:,.0f} records/s, "
              f"{got_logs / secs_sustained:,.0f} events/s, all {got_records:,} records")
        print(f"iterator age at the end: {last_age[0] if last_age else 0:,} ms (last read), "
              f"{minute_max:,} ms (max of the open minute); the watermark was held back by the measured "
              f"delivery delay, {last_delay[0] if last_delay else 0:,} ms (configured ceiling: "
              f"{cfg.delivery_delay_ms:,} ms)")
    finally:
        proc.terminate()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
