"""join_index_shards: every shard's bytes end up in the one index file, exactly once."""

import os

from pipeline.local_index import index_path
from pipeline.model import INDEX_LOGS, LogEvent
from pipeline.parse import parse_event
from pipeline.sinks.index_files import join_index_shards, render_bulk, render_chunks, shard_prefix


def _write_shards(out, index, sizes):
    prefix = shard_prefix(str(out), index)
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    blobs = []
    for i, n in enumerate(sizes):
        blob = b"".join(b'{"create":{}}\n{"n":%d,"shard":%d}\n' % (k, i) for k in range(n))
        with open(f"{prefix}-{i:04d}.ndjson", "wb") as f:
            f.write(blob)
        blobs.append(blob)
    return blobs


def test_shards_of_any_size_are_joined_whole(tmp_path):
    blobs = _write_shards(tmp_path, "coldtrace-logs", [3, 5000, 0, 17, 1])
    join_index_shards(str(tmp_path), ["coldtrace-logs", "coldtrace-traces"])
    joined = open(index_path(str(tmp_path), "coldtrace-logs"), "rb").read()
    assert len(joined) == sum(map(len, blobs))
    assert sorted(joined.splitlines()) == sorted(b"".join(blobs).splitlines())
    assert open(index_path(str(tmp_path), "coldtrace-traces"), "rb").read() == b""  # no shard: empty index
    assert not os.path.exists(os.path.join(tmp_path, "indices", ".shards"))


def test_a_rejoin_replaces_the_previous_file(tmp_path):
    _write_shards(tmp_path, "coldtrace-logs", [10, 10])
    join_index_shards(str(tmp_path), ["coldtrace-logs"])
    blobs = _write_shards(tmp_path, "coldtrace-logs", [2])
    join_index_shards(str(tmp_path), ["coldtrace-logs"])
    assert open(index_path(str(tmp_path), "coldtrace-logs"), "rb").read() == blobs[0]


def test_bulk_bytes_are_the_bulk_text_encoded():
    events = [parse_event(LogEvent(str(i), 1714557600000 + i, msg, "/aws/lambda/fn", "2024/05/01/[$LATEST]ab"))
              for i, msg in enumerate(["plain", "naïve ✓ 日本\n", '{"level":"ERROR","message":"x"}', "REPORT RequestId: r"] * 3)]
    text = [c.encode() for c in render_chunks(INDEX_LOGS, events, chunk=5)]
    assert list(render_bulk(INDEX_LOGS, events, chunk=5)) == text
    assert len(text) == 3
