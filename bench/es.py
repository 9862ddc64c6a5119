"""Elasticsearch sink throughput: documents/s serialised, and serialised + sent, in one run.

Documents are the log and invocation documents of a simulated fleet (the same records a
``coldtrace run`` indexes). Baselines, same run: serialisation alone (``to_doc()`` + orjson into
bulk lines, what the writer does before sending), and the writer against a null bulk endpoint
on 127.0.0.1 that answers "created" without indexing (the client side's own ceiling: HTTP,
answer parsing, bookkeeping). Then the ``BulkWriter`` into the server (the first load: every
document created; a replay: every document answered 409), at concurrency 1 and the default 2.
The server is ``ES_URL`` when set, else an osmem-server started here; its name and version are
printed with the figures.

    python bench/es.py [EVENTS]        # default 50,000 log events
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
from osmem_server import OsmemServer

from pipeline.invocations import dedupe_sorted, fold_stream  # noqa: E402
from pipeline.model import INDEX_INVOCATIONS, INDEX_LOGS  # noqa: E402
from pipeline.parse import parse_event  # noqa: E402
from pipeline.sinks.es_bulk import BulkWriter, _encode  # noqa: E402
from pipeline.sinks.es_client import EsSettings, make_client, resolved, server_info  # noqa: E402
from pipeline.sinks.es_setup import setup  # noqa: E402
from pipeline.sources.formats import read_stream  # noqa: E402
from pipeline.sources.simulate import config_for_events, write_fleet  # noqa: E402


def fleet_records(events: int) -> list[tuple[str, object]]:
    with tempfile.TemporaryDirectory() as d:
        truth = write_fleet(d, config_for_events(events, seed=3))
        streams = defaultdict(list)
        for path in sorted(Path(d).glob("payloads-*.ndjson")):
            with open(path, "rb") as f:
                for item in read_stream(f, str(path), truth["config"]["account"], truth["config"]["region"]):
                    if isinstance(item, list):
                        for ev in item:
                            streams[(ev.log_group, ev.log_stream)].append(parse_event(ev))
    records: list[tuple[str, object]] = []
    for evs in streams.values():
        evs = dedupe_sorted(evs)  # the simulator, like CloudWatch, delivers some events twice
        records += [(INDEX_LOGS, ev) for ev in evs]
        records += [(INDEX_INVOCATIONS, inv) for inv in fold_stream(evs)]
    return records


def serialise(records) -> float:
    t = time.perf_counter()
    n = 0
    for index, rec in records:
        n += len(_encode(index, rec.doc_id(), rec.to_doc()))
    return len(records) / (time.perf_counter() - t)


def reset(url: str) -> None:
    for path in ("/_data_stream/coldtrace-*", "/coldtrace-*"):
        try:
            urllib.request.urlopen(urllib.request.Request(url + path, method="DELETE"), timeout=60).read()
        except Exception:  # nothing to delete, or no data streams on this server
            pass


def send(settings: EsSettings, records, concurrency: int) -> tuple[float, dict]:
    client = make_client(settings)
    t = time.perf_counter()
    with BulkWriter(client, concurrency=concurrency) as writer:
        for index, rec in records:
            writer.add(index, rec)
    rate = len(records) / (time.perf_counter() - t)
    client.close()
    return rate, writer.counts.as_dict()


class NullBulkServer:
    """Answers every bulk item 201 without storing anything (and ``GET /`` as a server would)."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                self._send({"version": {"number": "0", "distribution": "null"}})

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                lines = body.split(b"\n")
                items = [{"create": {"_index": a["create"]["_index"], "_id": a["create"]["_id"], "status": 201}}
                         for a in (orjson.loads(raw) for raw in lines[0::2] if raw)]
                self._send({"took": 0, "errors": False, "items": items})

            do_PUT = do_POST

            def _send(self, obj):
                data = orjson.dumps(obj)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    server = None
    url = os.environ.get("ES_URL")
    if not url:
        server = OsmemServer.start(japanese=False)
        url = server.url
    try:
        settings = resolved(EsSettings(url=url))
        version = server_info(settings).get("version", {})
        name = f"{version.get('distribution', 'elasticsearch')} {version.get('number')}"
        if server is not None:
            name = f"osmem-server (in-memory, OpenSearch-compatible; reports {name})"
        records = fleet_records(events)
        print(f"server: {name} at {settings.redacted_url()}, plain JSON {settings.plain_json}")
        print(f"documents: {len(records):,} ({sum(1 for i, _ in records if i == INDEX_LOGS):,} log lines, "
              f"{sum(1 for i, _ in records if i == INDEX_INVOCATIONS):,} invocations)")
        base = max(serialise(records) for _ in range(3))
        print(f"serialise only (to_doc + orjson bulk lines):  {base:>10,.0f} docs/s   1.00x")
        null = NullBulkServer()
        try:
            rate, _ = send(EsSettings(url=null.url, plain_json="on"), records, 2)
        finally:
            null.close()
        print(f"serialise + send to a null bulk endpoint:     {rate:>10,.0f} docs/s   {rate / base:.2f}x")
        for concurrency in (1, 2):
            reset(url)
            setup(settings)
            rate, counts = send(settings, records, concurrency)
            assert counts["indexed"] == len(records), counts
            print(f"serialise + send, concurrency {concurrency}:        {rate:>10,.0f} docs/s   {rate / base:.2f}x")
        rate, counts = send(settings, records, 2)
        assert counts["already_indexed"] == len(records), counts
        print(f"replay (every document a 409), concurrency 2: {rate:>10,.0f} docs/s   {rate / base:.2f}x")
    finally:
        if server is not None:
            server.close()


if __name__ == "__main__":
    main()
