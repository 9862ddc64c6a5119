"""What GroupByLogStream ships between processes: every form unpacks to the same events, and
a payload travels as read only when nothing in it was changed."""

import base64
import gzip
import io

import orjson

from pipeline.sources.formats import PayloadEvents, read_stream
from pipeline.transforms.build_invocations import _packed, _packed_small, _unpacked


def _payload_line(messages):
    obj = {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/aws/lambda/orders",
           "logStream": "2024/05/01/[$LATEST]0123456789abcdef", "subscriptionFilters": ["f"],
           "logEvents": [{"id": str(1000 + i), "timestamp": 1714557600000 + i, "message": m}
                         for i, m in enumerate(messages)]}
    return base64.b64encode(gzip.compress(orjson.dumps(obj))) + b"\n"


def _records(events):
    return [ev.to_record() for ev in events]


def test_a_whole_payload_travels_as_read_and_unpacks_to_the_same_events():
    line = _payload_line(["START RequestId: r1 Version: $LATEST", "héllo ✓", "END RequestId: r1"])
    [batch] = list(read_stream(io.BytesIO(line), "mem", account=None, region="eu-west-1"))
    assert isinstance(batch, PayloadEvents) and batch.gzip is not None
    key, blob = _packed_small(batch)
    assert blob[:1] == b"P" and key == "/aws/lambda/orders\x1f2024/05/01/[$LATEST]0123456789abcdef"
    assert _records(_unpacked(blob)) == _records(batch)
    assert _records(_unpacked(_packed(batch)[1])) == _records(batch)  # in-process form


def test_a_changed_payload_is_packed_from_its_events():
    line = _payload_line(["user a@example.com logged in"])
    [batch] = list(read_stream(io.BytesIO(line), "mem"))
    batch[0].message = "user [REDACTED:email] logged in"
    batch.gzip = None  # what the reader does after a redaction
    key, blob = _packed_small(batch)
    assert blob[:1] == b"\x78"  # zlib: the events as they are now
    assert [ev.message for ev in _unpacked(blob)] == ["user [REDACTED:email] logged in"]
