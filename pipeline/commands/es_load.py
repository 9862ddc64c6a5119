"""Load the local index files of a run (``<out>/indices/*.ndjson``) into Elasticsearch.

Templates are applied first (as ``es-setup`` does). Documents keep their ids, so loading the
same files twice adds nothing. Documents Elasticsearch rejects become dead letters in
coldtrace-deadletter and in ``<out>/es-rejected.ndjson``, with the reason.
"""

from __future__ import annotations

import argparse
import glob
import os
import time

from elastic_transport import TransportError
from elasticsearch import ApiError

from pipeline.commands.es_options import add_es_arguments, connect_or_fail, require_settings
from pipeline.errors import UsageError
from pipeline.local_index import read_index
from pipeline.sinks.es_bulk import BulkError, BulkWriter
from pipeline.sinks.es_client import make_client
from pipeline.sinks.es_setup import setup


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", metavar="OUT_DIR", help="a run's output directory (holding indices/), or a .ndjson file")
    add_es_arguments(p, url_required=True)
    p.add_argument("--batch-docs", type=int, default=1000, help="documents per bulk request at most")
    p.add_argument("--batch-mb", type=float, default=5.0, help="megabytes per bulk request at most")
    p.add_argument("--concurrency", type=int, default=2, help="bulk requests in flight at most")
    p.add_argument("--max-retries", type=int, default=8, help="retries of a failing request before giving up")
    p.add_argument("--no-setup", action="store_true", help="do not apply templates first")
    p.add_argument("--rejects", default=None, metavar="FILE",
                   help="where rejected documents' dead letters also go (default: OUT_DIR/es-rejected.ndjson)")
    p.add_argument("--quiet", "-q", action="store_true")


def index_files(path: str) -> list[str]:
    if os.path.isfile(path):
        return [path]
    files = sorted(glob.glob(os.path.join(path, "indices", "coldtrace-*.ndjson")))
    if not files:
        raise UsageError(f"no index files in {os.path.join(path, 'indices')}/ (run `coldtrace run --out {path}` first)")
    return files


def main(args: argparse.Namespace) -> int:
    files = index_files(args.out)
    settings = connect_or_fail(require_settings(args))
    rejects = args.rejects or os.path.join(args.out if os.path.isdir(args.out) else os.path.dirname(args.out) or ".",
                                           "es-rejected.ndjson")
    try:
        if not args.no_setup:
            for line in setup(settings).lines():
                if not args.quiet:
                    print(line)
        client = make_client(settings)
        started = time.perf_counter()
        with BulkWriter(client, max_docs=args.batch_docs, max_bytes=int(args.batch_mb * 1024 * 1024),
                        concurrency=args.concurrency, max_retries=args.max_retries, rejects_path=rejects) as writer:
            for path in files:
                n = 0
                for action, doc in read_index(path):
                    writer.add_pair(action, doc)
                    n += 1
                if not args.quiet:
                    print(f"{os.path.basename(path)}: {n:,} documents read")
        client.close()
    except BulkError as exc:
        print(f"coldtrace es-load: {exc}; rerun the same command to finish (documents already there are "
              "skipped)")
        return 1
    except (TransportError, ApiError) as exc:
        raise UsageError(f"Elasticsearch at {settings.redacted_url()}: {exc}") from None
    c = writer.counts
    seconds = time.perf_counter() - started
    print(f"{c.indexed:,} documents indexed, {c.already_indexed:,} already there, {c.rejected:,} rejected, "
          f"{c.retried:,} resent after a retryable failure ({seconds:.1f} s)")
    if c.rejected:
        print(f"rejected documents are dead letters in coldtrace-deadletter and in {rejects}, with the reason")
    return 0
