"""Log lines put on a Kinesis stream ``s`` in the forwarder's record format, ten lines a record."""

from __future__ import annotations

from forwarder.records import encode
from pipeline.model import LogEvent


def put_lines(kinesis, streams: int, lines: int, tag: str = "") -> tuple[list[str], int]:
    """``lines`` log lines on each of ``streams`` log streams, through the client ``kinesis``;
    returns (their event ids, the records put)."""
    ids: list[str] = []
    records = 0
    for s in range(streams):
        events = [LogEvent(id=f"{tag}{s}-{i:05d}", timestamp=1714557600000 + i, message=f"line {i}\n",
                           log_group=f"/aws/lambda/fn{s % 3}", log_stream=f"2024/05/01/[$LATEST]{s:032x}")
                  for i in range(lines)]
        ids.extend(e.id for e in events)
        for n in range(0, lines, 10):
            for rec in encode(events[n:n + 10], 0, None):
                kinesis.put_record(StreamName="s", Data=rec.data, PartitionKey=rec.key)
                records += 1
    return ids, records
