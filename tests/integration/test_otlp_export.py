"""Export through opentelemetry-sdk: a local OTLP/HTTP endpoint (started here, on 127.0.0.1)
receives the stitched spans — the same ids, parents, timestamps and FaaS attributes as the
traces index — from ``coldtrace run --otlp-endpoint`` and from the sink's pure parts."""

from __future__ import annotations

import gzip
import threading
from argparse import Namespace
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status as PbStatus

from pipeline.cli import main as coldtrace
from pipeline.commands.otlp_options import otlp_settings
from pipeline.errors import UsageError
from pipeline.model import INDEX_TRACES, Invocation
from pipeline.sinks.otel import OtlpSettings, SpanConverter, export_spans, make_exporter, traces_url
from pipeline.stitch import stitch
from tests.pipeline.helpers import docs

T0 = 1714557600000


class Collector:
    """A minimal OTLP/HTTP traces receiver: decodes each request's protobuf, answers ``status``."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.paths: list[str] = []
        self.status = 200
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                collector.paths.append(self.path)
                if collector.status == 200:
                    req = ExportTraceServiceRequest()
                    req.ParseFromString(body)
                    collector.requests.append(req)
                out = ExportTraceServiceResponse().SerializeToString()
                self.send_response(collector.status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def spans(self) -> list[tuple[dict, PbSpan]]:
        """(resource attributes, span) of every span received."""
        out = []
        for req in self.requests:
            for rs in req.resource_spans:
                resource = {a.key: _value(a.value) for a in rs.resource.attributes}
                for ss in rs.scope_spans:
                    out += [(resource, s) for s in ss.spans]
        return out


def _value(v):
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind)


@pytest.fixture()
def collector():
    c = Collector()
    c.thread.start()
    try:
        yield c
    finally:
        c.server.shutdown()
        c.server.server_close()


def chain() -> list[Invocation]:
    x1, x2 = "1-663212a0-a034d9eb42d9b30724dfa411", "1-663212a1-b39a045a174b129b81885dfb"
    common = dict(account="123456789012", region="eu-west-1", function_version="$LATEST", memory_size_mb=256)
    return [Invocation("api", "r-api", start_ms=T0, end_ms=T0 + 500, outcome="success", xray_trace_id=x1,
                       correlation_ids=["c-1"], **common),
            Invocation("payments", "r-pay", start_ms=T0 + 900, end_ms=T0 + 1200, outcome="error",
                       error_type="KeyError", xray_trace_id=x2, correlation_ids=["c-1"],
                       cold_start_kind="on-demand", init_duration_ms=300.0, **common)]


def test_exported_spans_keep_ids_timestamps_kinds_status_and_attributes(collector):
    (spans,) = stitch(chain())
    exporter = make_exporter(OtlpSettings(endpoint=collector.url))
    assert export_spans(exporter, SpanConverter(), spans) == (len(spans), 0)
    exporter.shutdown()
    assert collector.paths == ["/v1/traces"]
    got = {s.span_id.hex(): (res, s) for res, s in collector.spans()}
    assert set(got) == {s.span_id for s in spans}
    for span in spans:
        res, pb = got[span.span_id]
        assert pb.trace_id.hex() == span.trace_id == "663212a0a034d9eb42d9b30724dfa411"
        assert (pb.parent_span_id.hex() or None) == span.parent_span_id
        assert pb.start_time_unix_nano == span.start_ms * 1_000_000 and pb.end_time_unix_nano == span.end_ms * 1_000_000
        assert pb.name == span.name and PbSpan.SpanKind.Name(pb.kind) == f"SPAN_KIND_{span.kind}"
        assert res["service.name"] == res["faas.name"] == span.function_name
        assert res["cloud.provider"] == "aws" and res["cloud.region"] == "eu-west-1"
        assert res["faas.max_memory"] == 256 * 1024 * 1024
    _, pay = next(v for v in got.values() if v[1].name == "payments")
    attrs = {a.key: _value(a.value) for a in pay.attributes}
    assert attrs["faas.invocation_id"] == "r-pay" and attrs["faas.coldstart"] is True
    assert attrs["faas.trigger"] == "pubsub" and pay.kind == PbSpan.SpanKind.SPAN_KIND_CONSUMER
    assert pay.status.code == PbStatus.StatusCode.STATUS_CODE_ERROR and pay.status.message == "KeyError"
    assert "faas.name" not in attrs  # resource attributes stay on the resource
    _, api = next(v for v in got.values() if v[1].name == "api")
    root_attrs = {a.key: _value(a.value) for a in api.attributes}
    assert root_attrs["coldtrace.trace.critical_path"] == ["api", "payments"]
    assert root_attrs["coldtrace.trace.weakest_link"] == "payments"


def test_coldtrace_run_exports_every_span_of_the_traces_index(collector, sim_fleet, tmp_path, capsys):
    fleet_dir, truth = sim_fleet
    out = tmp_path / "out"
    argv = ["run", "--input", str(fleet_dir / "payloads-*.ndjson"), "--out", str(out), "--json", "--no-report",
            "--region", truth["config"]["region"], "--otlp-endpoint", collector.url]
    assert coldtrace(argv) == 0
    summary = orjson.loads(capsys.readouterr().out.strip().splitlines()[-1])
    indexed = {d["span.id"]: d for d in docs(out, INDEX_TRACES)}
    received = {s.span_id.hex(): (res, s) for res, s in collector.spans()}
    assert summary["otlp"] == {"endpoint": collector.url, "exported": len(indexed), "failed": 0}
    assert set(received) == set(indexed) and len(collector.spans()) == len(indexed)
    for span_id, doc in indexed.items():
        res, pb = received[span_id]
        assert pb.trace_id.hex() == doc["trace.id"]
        assert (pb.parent_span_id.hex() or None) == doc.get("parent.id")
        assert res["faas.name"] == doc["faas.name"]
        attrs = {a.key: _value(a.value) for a in pb.attributes}
        assert attrs["faas.invocation_id"] == doc["faas.invocation_id"]
        if doc["span.kind"] != "INTERNAL":
            assert attrs["faas.coldstart"] == doc["faas.coldstart"]


def test_a_refusing_collector_is_counted_not_fatal(collector):
    collector.status = 400
    (spans,) = stitch(chain())
    exporter = make_exporter(OtlpSettings(endpoint=collector.url + "/v1/traces", timeout_s=2))
    assert export_spans(exporter, SpanConverter(), spans) == (0, len(spans))
    exporter.shutdown()
    assert collector.paths == ["/v1/traces"]


def _args(**kw) -> Namespace:
    return Namespace(**{"otlp_endpoint": None, "otlp_protocol": "http/protobuf", "otlp_timeout": 10.0, **kw})


def test_otlp_options_are_checked_before_the_run():
    assert otlp_settings(_args()) is None
    assert otlp_settings(_args(otlp_endpoint="console")).endpoint == "console"
    assert traces_url("http://c:4318") == "http://c:4318/v1/traces" == traces_url("http://c:4318/")
    assert traces_url("https://c/custom/path") == "https://c/custom/path"
    with pytest.raises(UsageError, match="http"):
        otlp_settings(_args(otlp_endpoint="collector:4318"))
    try:
        import opentelemetry.exporter.otlp.proto.grpc  # noqa: F401, PLC0415 -- the optional gRPC extra: both cases are tested
    except ImportError:
        with pytest.raises(UsageError, match="opentelemetry-exporter-otlp-proto-grpc"):
            otlp_settings(_args(otlp_endpoint="http://127.0.0.1:4317", otlp_protocol="grpc"))


def test_otlp_over_grpc_reaches_a_local_grpc_receiver():
    grpc = pytest.importorskip("grpc")
    pytest.importorskip("opentelemetry.exporter.otlp.proto.grpc")

    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc  # noqa: PLC0415 -- after importorskip: the gRPC extra is optional

    received: list[ExportTraceServiceRequest] = []

    class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request, context):  # noqa: N802 (the service's name)
            received.append(request)
            return ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Receiver(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        (spans,) = stitch(chain())
        settings = otlp_settings(_args(otlp_endpoint=f"http://127.0.0.1:{port}", otlp_protocol="grpc",
                                       otlp_timeout=5.0))
        exporter = make_exporter(settings)
        assert export_spans(exporter, SpanConverter(), spans) == (len(spans), 0)
        exporter.shutdown()
    finally:
        server.stop(None)
    got = {s.span_id.hex(): s for req in received for rs in req.resource_spans for ss in rs.scope_spans
           for s in ss.spans}
    assert set(got) == {s.span_id for s in spans}
    assert {s.trace_id.hex() for s in got.values()} == {spans[0].trace_id}
