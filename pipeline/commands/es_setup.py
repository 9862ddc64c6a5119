"""Prepare Elasticsearch for coldtrace: lifecycle policies, index templates, data streams.

Idempotent: run it as often as you like. On servers without ILM or data streams (OpenSearch,
ES-API test servers) it applies the same mappings to plain indices and says so.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from elastic_transport import TransportError
from elasticsearch import ApiError

from pipeline.commands.es_options import add_es_arguments, connect_or_fail, require_settings
from pipeline.errors import UsageError
from pipeline.sinks.es_setup import DASHBOARDS, setup


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_es_arguments(p, url_required=True)
    p.add_argument("--logs-retention", default=None, metavar="AGE",
                   help="delete logs, invocations and spans after AGE (e.g. 14d; default in dashboards/ilm: 30d)")
    p.add_argument("--metrics-retention", default=None, metavar="AGE",
                   help="delete metrics and alarms after AGE (default in dashboards/ilm: 400d)")
    p.add_argument("--dashboards", default=None, metavar="DIR",
                   help="directory holding index-templates/ and ilm/ (default: the one shipped with coldtrace)")


def retention_from_args(args: argparse.Namespace) -> dict[str, str]:
    out = {}
    if getattr(args, "logs_retention", None):
        out["coldtrace-events"] = args.logs_retention
    if getattr(args, "metrics_retention", None):
        out["coldtrace-metrics"] = args.metrics_retention
    return out


def main(args: argparse.Namespace) -> int:
    settings = connect_or_fail(require_settings(args))
    base = Path(args.dashboards) if args.dashboards else DASHBOARDS
    try:
        report = setup(settings, base, retention_from_args(args))
    except (ValueError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from None
    except (TransportError, ApiError) as exc:
        raise UsageError(f"Elasticsearch at {settings.redacted_url()} refused the setup: {exc}") from None
    for line in report.lines():
        print(line)
    return 0
