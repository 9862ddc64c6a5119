"""OpenTelemetry export: stitched spans → opentelemetry-sdk ReadableSpans → an exporter.

Spans keep their ids and timestamps (the SDK's ReadableSpan takes both), so what a collector
receives is what the traces index holds. Per the semantic conventions, faas.name/version/
instance/max_memory and cloud.* go on the resource (service.name = the function); the rest
stays on the span. Exporters: OTLP over HTTP/protobuf (``http://collector:4318``; the path
``/v1/traces`` is added when missing), OTLP over gRPC (``--otlp-protocol grpc``, with the
optional package opentelemetry-exporter-otlp-proto-grpc), or ``console`` (JSON on stdout).

The Beam shell gathers spans by trace id into a few shards (GroupByKey, not BatchElements,
whose end-of-bundle flush Beam's DaskRunner drops) and exports in ``process``. A batch the
collector refuses is counted (``coldtrace.otlp`` failed), never retried forever: the traces
index still holds every span.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterable, Sequence
from urllib.parse import urlsplit

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline.model import Span
from pipeline.sinks.counters import beam_counters

log = logging.getLogger(__name__)

PROTOCOLS = ("http/protobuf", "grpc")
RESOURCE_KEYS = ("faas.name", "faas.version", "faas.instance", "faas.max_memory", "cloud.provider",
                 "cloud.platform", "cloud.region", "cloud.account.id", "cloud.resource_id")
COUNTERS = ("exported", "failed")
SCOPE_NAME = "coldtrace"


@dataclass(frozen=True)
class OtlpSettings:
    endpoint: str                      # "console", or the collector's URL
    protocol: str = "http/protobuf"    # or "grpc"
    headers: tuple[tuple[str, str], ...] = ()
    timeout_s: float = 10.0
    batch_size: int = 512

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"OTLP protocol {self.protocol!r}: expected one of {', '.join(PROTOCOLS)}")
        if self.endpoint != "console" and urlsplit(self.endpoint).scheme not in ("http", "https"):
            raise ValueError(f"OTLP endpoint {self.endpoint!r}: expected http(s)://HOST:PORT or 'console'")


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL: ``/v1/traces`` is appended to a bare collector address."""
    parts = urlsplit(endpoint)
    return endpoint if parts.path not in ("", "/") else endpoint.rstrip("/") + "/v1/traces"


def make_exporter(settings: OtlpSettings):
    """The SDK exporter for the settings (ImportError names the package a gRPC export needs)."""
    if settings.endpoint == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter  # noqa: PLC0415 -- OpenTelemetry SDK: +70-130 ms of import, paid only with --otlp-endpoint (docs/benchmarks.md)

        return ConsoleSpanExporter()
    if settings.protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter  # noqa: PLC0415 -- OpenTelemetry SDK: +70-130 ms of import, paid only with --otlp-endpoint (docs/benchmarks.md)
        except ImportError:
            raise ImportError("OTLP over gRPC needs the package opentelemetry-exporter-otlp-proto-grpc "
                              "(pip install 'coldtrace[otlp-grpc]')") from None
        parts = urlsplit(settings.endpoint)
        return GrpcExporter(endpoint=parts.netloc, insecure=parts.scheme == "http",
                            headers=dict(settings.headers) or None, timeout=settings.timeout_s)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415 -- OpenTelemetry SDK: +70-130 ms of import, paid only with --otlp-endpoint (docs/benchmarks.md)

    return OTLPSpanExporter(endpoint=traces_url(settings.endpoint), headers=dict(settings.headers) or None,
                            timeout=settings.timeout_s)


class SpanConverter:
    """Spans → SDK ReadableSpans; one Resource object per function, so an OTLP request groups
    each function's spans under one resource."""

    def __init__(self) -> None:
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope  # noqa: PLC0415 -- OpenTelemetry SDK: +70-130 ms of import, paid only with --otlp-endpoint (docs/benchmarks.md)

        self._resources: dict[tuple, Any] = {}
        self._scope = InstrumentationScope(SCOPE_NAME)

    def _resource(self, span: Span):
        from opentelemetry.sdk.resources import Resource  # noqa: PLC0415 -- OpenTelemetry SDK: +70-130 ms of import, paid only with --otlp-endpoint (docs/benchmarks.md)

        attrs = {k: span.attributes[k] for k in RESOURCE_KEYS if span.attributes.get(k) is not None}
        attrs["service.name"] = span.function_name or span.name
        key = tuple(sorted(attrs.items()))
        found = self._resources.get(key)
        if found is None:
            found = self._resources[key] = Resource(attrs)
        return found

    def convert(self, span: Span):
        from opentelemetry.sdk.trace import ReadableSpan  # noqa: PLC0415 -- OpenTelemetry SDK: +70-130 ms of import, paid only with --otlp-endpoint (docs/benchmarks.md)
        from opentelemetry.trace import SpanContext, SpanKind, TraceFlags  # noqa: PLC0415 -- OpenTelemetry SDK: +70-130 ms of import, paid only with --otlp-endpoint (docs/benchmarks.md)
        from opentelemetry.trace.status import Status, StatusCode  # noqa: PLC0415 -- OpenTelemetry SDK: +70-130 ms of import, paid only with --otlp-endpoint (docs/benchmarks.md)

        trace_id = int(span.trace_id, 16)
        flags = TraceFlags(TraceFlags.SAMPLED)
        parent = (SpanContext(trace_id, int(span.parent_span_id, 16), is_remote=False, trace_flags=flags)
                  if span.parent_span_id else None)
        if span.status == "error":
            status = Status(StatusCode.ERROR, str(span.attributes.get("error.type") or "error"))
        else:
            status = Status(StatusCode.OK if span.status == "ok" else StatusCode.UNSET)
        attrs = {k: v for k, v in span.attributes.items() if k not in RESOURCE_KEYS and v is not None}
        return ReadableSpan(name=span.name,
                            context=SpanContext(trace_id, int(span.span_id, 16), is_remote=False, trace_flags=flags),
                            parent=parent, resource=self._resource(span), attributes=attrs,
                            kind=getattr(SpanKind, span.kind, SpanKind.INTERNAL), status=status,
                            start_time=int(span.start_ms) * 1_000_000, end_time=int(span.end_ms) * 1_000_000,
                            instrumentation_scope=self._scope)


def export_spans(exporter, converter: SpanConverter, spans: Sequence[Span], batch_size: int = 512) -> tuple[int, int]:
    """Export in batches; returns (exported, failed) span counts."""
    from opentelemetry.sdk.trace.export import SpanExportResult  # noqa: PLC0415 -- OpenTelemetry SDK: +70-130 ms of import, paid only with --otlp-endpoint (docs/benchmarks.md)

    exported = failed = 0
    for i in range(0, len(spans), batch_size):
        chunk = spans[i:i + batch_size]
        try:
            ok = exporter.export([converter.convert(s) for s in chunk]) == SpanExportResult.SUCCESS
        except Exception as exc:  # a collector that is down must not fail the pipeline
            log.warning("OTLP export of %d spans failed: %s", len(chunk), exc)
            ok = False
        if ok:
            exported += len(chunk)
        else:
            failed += len(chunk)
    return exported, failed


class _ExportFn(beam.DoFn):
    def __init__(self, settings: OtlpSettings) -> None:
        self.settings = settings
        self.counters = {name: Metrics.counter("coldtrace.otlp", name) for name in COUNTERS}

    def setup(self) -> None:
        self.exporter = make_exporter(self.settings)
        self.converter = SpanConverter()

    def process(self, keyed: tuple[int, Iterable[Span]]):
        spans = list(keyed[1])
        exported, failed = export_spans(self.exporter, self.converter, spans, self.settings.batch_size)
        self.counters["exported"].inc(exported)
        self.counters["failed"].inc(failed)
        yield exported

    def teardown(self) -> None:
        exporter = getattr(self, "exporter", None)
        if exporter is not None:
            exporter.shutdown()


class ExportSpans(beam.PTransform):
    """PCollection of Spans → an OpenTelemetry exporter; outputs the exported count per shard."""

    def __init__(self, settings: OtlpSettings, shards: int = 8) -> None:
        super().__init__()
        self.settings, self.shards = settings, shards

    def expand(self, spans):
        shards = self.shards
        return (spans
                | "ByTrace" >> beam.Map(lambda s: (int(s.trace_id[:8], 16) % shards, s))
                | "Gather" >> beam.GroupByKey()
                | "Export" >> beam.ParDo(_ExportFn(self.settings)))


def otlp_counters(result) -> dict[str, int]:
    """The exporter's counters from a finished pipeline's result."""
    return beam_counters(result, "coldtrace.otlp", COUNTERS)
