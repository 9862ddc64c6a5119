"""OpenTelemetry export options of ``run``. Secrets are never options: the OTLP exporter reads
its headers (an API key, say) from OTEL_EXPORTER_OTLP_HEADERS or
OTEL_EXPORTER_OTLP_TRACES_HEADERS in the environment, as every OpenTelemetry SDK does."""

from __future__ import annotations

import argparse

from pipeline.errors import UsageError
from pipeline.sinks.otel import OtlpSettings, make_exporter


def add_otlp_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("OpenTelemetry")
    g.add_argument("--otlp-endpoint", default=None, metavar="URL|console",
                   help="export the trace spans to an OpenTelemetry collector, e.g. http://localhost:4318 "
                        "(OTLP/HTTP; /v1/traces is added) or http://localhost:4317 with --otlp-protocol grpc; "
                        "'console' prints them as JSON")
    g.add_argument("--otlp-protocol", choices=("http/protobuf", "grpc"), default="http/protobuf",
                   help="OTLP transport (grpc needs the package opentelemetry-exporter-otlp-proto-grpc)")
    g.add_argument("--otlp-timeout", type=float, default=10.0, metavar="SECONDS",
                   help="timeout of one export request, retries included")


def otlp_settings(args: argparse.Namespace):
    """OtlpSettings from the options, or None; a bad option is a UsageError naming it."""
    if not args.otlp_endpoint:
        return None
    try:
        settings = OtlpSettings(endpoint=args.otlp_endpoint, protocol=args.otlp_protocol,
                                timeout_s=args.otlp_timeout)
        make_exporter(settings).shutdown()  # fail now, not in a worker: a missing package, a bad URL
    except (ValueError, ImportError) as exc:
        raise UsageError(f"--otlp-endpoint: {exc}") from None
    return settings
