"""Replay dead letters: decode them again, index what decodes now, report what still fails.

Sources: a run's local dead-letter file (``--from OUT_DIR`` or ``--from FILE.ndjson``, repeatable)
and/or the forwarder's SQS dead-letter queue (``--sqs-url``). What decodes is written to
``<out>/replay-input/replayed.ndjson`` (the pipeline's spool format) and run through the pipeline
into ``<out>/indices/`` — deterministic ids make the result safe to load next to the original run
(``coldtrace es-load``). What still fails goes to ``<out>/still-failing.ndjson`` with both reasons.
SQS messages are deleted only with ``--delete``, and only those replayed, after the run's ledger
balanced. Exit code 0 when everything was replayed, 1 when something still fails.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter

import boto3

from pipeline.errors import UsageError
from pipeline.model import INDEX_DEADLETTER
from pipeline.replay import dead_letter_docs, from_dead_letter_doc, from_sqs_body, write_failures, write_spool
from pipeline.run import RunConfig, run


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="sources", action="append", default=[], metavar="OUT_DIR|FILE",
                   help="a run's output directory (its indices/coldtrace-deadletter.ndjson) or a dead-letter "
                        "index file (repeatable)")
    p.add_argument("--sqs-url", default=None, metavar="URL", help="the forwarder's SQS dead-letter queue")
    p.add_argument("--max-messages", type=int, default=10_000, help="SQS messages to read at most")
    p.add_argument("--delete", action="store_true",
                   help="delete the SQS messages that were replayed (after the run's ledger balanced)")
    p.add_argument("--out", "-o", default="coldtrace-replay", help="output directory of the replay run")
    p.add_argument("--account", default=None, help="AWS account id, when payloads do not carry it")
    p.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
                   help="AWS region of the log groups (and of the queue)")
    p.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"), help=argparse.SUPPRESS)
    p.add_argument("--no-run", action="store_true", help="only decode and write the spool; do not run the pipeline")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")


def _local(sources: list[str], account, region):
    for src in sources:
        path = os.path.join(src, "indices", f"{INDEX_DEADLETTER}.ndjson") if os.path.isdir(src) else src
        if not os.path.isfile(path):
            raise UsageError(f"--from {src!r}: no dead-letter file at {path}")
        for origin, doc in dead_letter_docs(path):
            yield from_dead_letter_doc(doc, origin, account, region)


def _queue(url: str, max_messages: int, region, endpoint_url):
    """(sqs client, replayed items): messages stay in flight (invisible) until deleted or timed out."""
    sqs = boto3.client("sqs", region_name=region, endpoint_url=endpoint_url)
    items = []
    while len(items) < max_messages:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, max_messages - len(items)),
                                   WaitTimeSeconds=0, VisibilityTimeout=300).get("Messages", [])
        if not msgs:
            break
        items += [from_sqs_body(m["Body"], m["MessageId"], handle=m["ReceiptHandle"]) for m in msgs]
    return sqs, items


def main(args: argparse.Namespace) -> int:
    if not args.sources and not args.sqs_url:
        raise UsageError("nothing to replay: give --from OUT_DIR|FILE and/or --sqs-url URL")
    items = list(_local(args.sources, args.account, args.region))
    sqs = None
    if args.sqs_url:
        sqs, queued = _queue(args.sqs_url, args.max_messages, args.region, args.endpoint_url)
        for item in queued:  # SQS bodies carry the owner but not the region
            for ev in item.events:
                ev.region = ev.region or args.region
                ev.account = ev.account or args.account
        items += queued
    spool_dir = os.path.join(args.out, "replay-input")
    os.makedirs(spool_dir, exist_ok=True)
    events = write_spool(items, os.path.join(spool_dir, "replayed.ndjson"))
    failing = write_failures(items, os.path.join(args.out, "still-failing.ndjson"))
    replayed = [i for i in items if i.ok]
    say = (lambda *a: None) if args.quiet else print
    say(f"replay: {len(items):,} dead letter(s) read, {len(replayed):,} replayed ({events:,} events), "
        f"{failing:,} still failing")
    for (stage, error), n in Counter((i.stage, (i.error or "")[:160]) for i in items if not i.ok).most_common(10):
        say(f"  still failing ({stage}) ×{n}: {error}")
    code = 0 if not failing else 1
    if events and not args.no_run:
        result = run(RunConfig(inputs=[os.path.join(spool_dir, "*.ndjson")], out_dir=args.out,
                               account=args.account, region=args.region))
        ledger = result.ledger
        for row in ledger.rows:
            say(f"ledger {row.line()}")
        if not ledger.balanced:
            for problem in ledger.problems:
                print(f"coldtrace replay: ledger mismatch: {problem}", file=sys.stderr)
            return 1
        say(f"index files in {os.path.join(args.out, 'indices')}/ (load them with `coldtrace es-load {args.out}`)")
    if sqs is not None and args.delete:
        done = [i for i in replayed if i.handle is not None]
        for i in done:
            sqs.delete_message(QueueUrl=args.sqs_url, ReceiptHandle=i.handle)
        say(f"deleted {len(done):,} replayed message(s) from the queue")
    if failing:
        say(f"what still fails, with both reasons: {os.path.join(args.out, 'still-failing.ndjson')}")
    return code
