"""Settings of a streaming run, parsed once: the source URI and how to read and window it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from pipeline.run import RunConfig
from pipeline.sources.kinesis_shards import StartPosition
from pipeline.stitch.gap import DEFAULT_GAP_MS, DEFAULT_RETENTION_MS
from pipeline.windows import ALLOWED_LATENESS_MS, DELIVERY_DELAY_MS

KINDS = ("kinesis", "cloudwatch", "files")


def source_kind(uri: str) -> str:
    """``kinesis://STREAM`` (a name or an ARN), ``cloudwatch://LOG_GROUP?…``, else files (a path,
    glob, directory or ``s3://bucket/prefix``)."""
    if uri.startswith("kinesis://"):
        if not uri[len("kinesis://"):].strip("/"):
            raise ValueError(f"{uri!r} names no stream (kinesis://STREAM)")
        return "kinesis"
    if uri.startswith("cloudwatch://"):
        return "cloudwatch"
    return "files"


def kinesis_stream(uri: str) -> str:
    return uri[len("kinesis://"):].rstrip("/")


@dataclass
class StreamConfig:
    source: str
    run: RunConfig = field(default_factory=lambda: RunConfig(inputs=[]))
    start: StartPosition = field(default_factory=StartPosition)   # kinesis: where a fresh read starts
    endpoint_url: str | None = None          # AWS endpoint (else boto3's own, e.g. AWS_ENDPOINT_URL)
    delivery_delay_ms: int = DELIVERY_DELAY_MS        # the watermark allows CloudWatch this much delivery latency
    lateness_ms: int = ALLOWED_LATENESS_MS   # metric windows stay open this long past the watermark
    corrections: bool = True                 # False: alarms evaluate a minute once, after the lateness
    poll_s: float = 5.0                      # catch-up loop: pause between reads that found nothing new
    kinesis_io: str = "native"               # or "java": Beam's cross-language ReadDataFromKinesis
    checkpoint_dir: str | None = None        # default <out>/checkpoint
    poll_metrics: bool = False               # GetMetricData for the functions seen in the logs
    metrics_functions: tuple[str, ...] = ()  # ... and these
    max_files: int = 1000                    # files: at most this many per read
    trace_gap_ms: int = DEFAULT_GAP_MS       # a trace is emitted after this much event time without a new member
    trace_retention_ms: int = DEFAULT_RETENTION_MS  # ... and kept this long for late members (re-emitted)

    def __post_init__(self) -> None:
        self.kind = source_kind(self.source)
        if self.kinesis_io not in ("native", "java"):
            raise ValueError(f"Kinesis IO {self.kinesis_io!r}: expected native or java")

    @property
    def ckdir(self) -> str:
        return self.checkpoint_dir or os.path.join(self.run.out_dir, "checkpoint")
