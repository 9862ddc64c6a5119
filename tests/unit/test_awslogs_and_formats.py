"""Decoding subscription payloads and reading the accepted file formats; bad input → dead letters."""

import base64
import gzip
import io

import orjson
import pytest

from pipeline.model import DeadLetter
from pipeline.parse.awslogs import PayloadError, decode_data, gunzip, to_payload
from pipeline.sources.formats import read_stream

STREAM = "2024/05/01/[$LATEST]0225597e48f74a659916f0e482df5b92"


def payload(n=3, group="/aws/lambda/orders", stream=STREAM):
    return {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": group, "logStream": stream,
            "subscriptionFilters": ["f"],
            "logEvents": [{"id": str(10**20 + i), "timestamp": 1714557600000 + i, "message": f"m{i}\n"}
                          for i in range(n)]}


def b64(obj) -> str:
    return base64.b64encode(gzip.compress(orjson.dumps(obj))).decode()


def items(data: bytes, source="in.ndjson"):
    return list(read_stream(io.BytesIO(data), source, region="eu-west-1"))


def test_payload_enrichment():
    p = to_payload(decode_data(b64(payload())), region="eu-west-1")
    ev = p.events[0]
    assert (ev.function_name, ev.function_version, ev.instance_id, ev.account, ev.region) == (
        "orders", "$LATEST", "0225597e48f74a659916f0e482df5b92", "123456789012", "eu-west-1")
    assert len(p.events) == 3 and not p.is_control


def test_control_message_is_acknowledged_without_events():
    ctl = {"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "", "logStream": "",
           "subscriptionFilters": [], "logEvents": [{"id": "", "timestamp": 1, "message": "CWL CONTROL MESSAGE"}]}
    assert to_payload(ctl).is_control and to_payload(ctl).events == []
    assert items(orjson.dumps({"awslogs": {"data": b64(ctl)}})) == []


@pytest.mark.parametrize("data,reason", [
    ("!!!not base64", "invalid base64"),
    (base64.b64encode(gzip.compress(bytes(range(256)) * 8)[:100]).decode(), "truncated gzip"),
    (base64.b64encode(gzip.compress(b"[1,2]")).decode(), "not an object"),
    (base64.b64encode(gzip.compress(b"{nope")).decode(), "not JSON"),
])
def test_decode_errors_name_the_reason(data, reason):
    with pytest.raises(PayloadError, match=reason):
        decode_data(data)


def test_gzip_bomb_is_refused():
    bomb = gzip.compress(b"\0" * (8 << 20))
    with pytest.raises(PayloadError, match="exceeds"):
        gunzip(bomb, limit=1 << 20)


def test_wrong_shapes_are_dead_letters_with_reasons():
    bad = dict(payload(), logEvents=[{"id": "1", "timestamp": "soon", "message": "x"}])
    lines = b"\n".join([
        orjson.dumps({"awslogs": {"data": b64(payload())}}),
        b"not json at all",
        orjson.dumps({"awslogs": {"data": b64(bad)}}),
        orjson.dumps({"awslogs": {"data": 5}}),
        orjson.dumps({"hello": "world"}),
        orjson.dumps(dict(payload(), messageType="SURPRISE")),
    ])
    out = items(lines)
    batches = [i for i in out if not isinstance(i, DeadLetter)]
    dead = [i for i in out if isinstance(i, DeadLetter)]
    assert [len(b) for b in batches] == [3]
    assert len(dead) == 5
    reasons = " | ".join(d.error for d in dead)
    for fragment in ("neither JSON nor base64", "numeric timestamp", "string 'data'", "neither {'awslogs'",
                     "unknown messageType"):
        assert fragment in reasons
    assert all(d.source.startswith("in.ndjson:") for d in dead)


def test_decoded_payload_lines_gzip_file_and_pretty_json():
    plain = orjson.dumps(payload(5))
    assert [len(b) for b in items(gzip.compress(plain + b"\n" + plain))] == [5, 5]
    pretty = orjson.dumps(payload(2), option=orjson.OPT_INDENT_2)
    assert [len(b) for b in items(pretty)] == [2]


def test_spool_ndjson_is_regrouped_by_stream():
    recs = [{"id": str(i), "timestamp": 1714557600000 + i, "message": "m", "log_group": "/aws/lambda/a",
             "log_stream": STREAM if i % 2 else STREAM.replace("0225", "9999")} for i in range(6)]
    out = items(b"\n".join(orjson.dumps(r) for r in recs) + b"\n{\"id\": 1}\n")
    batches = [b for b in out if not isinstance(b, DeadLetter)]
    assert sorted(len(b) for b in batches) == [3, 3]
    assert all(len({e.log_stream for e in b}) == 1 for b in batches)
    assert batches[0][0].function_name == "a"
    dead = [d for d in out if isinstance(d, DeadLetter)]
    assert len(dead) == 1 and "lacks field" in dead[0].error


def test_cloudwatch_export_with_continuation_lines():
    data = (b"2024-05-01T10:00:00.000Z START RequestId: r1 Version: $LATEST\n"
            b"2024-05-01T10:00:00.100Z [ERROR] KeyError: 'amount'\n"
            b"Traceback (most recent call last):\n  File \"app.py\", line 1\n"
            b"2024-05-01T10:00:00.200Z END RequestId: r1\n")
    out = items(gzip.compress(data), source=f"exports/task-1/{STREAM}/000000.gz")
    (batch,) = out
    assert [e.timestamp - 1714557600000 for e in batch] == [0, 100, 200]
    assert batch[1].message.startswith("[ERROR] KeyError") and "Traceback" in batch[1].message
    assert batch[0].log_stream == STREAM and batch[0].instance_id == "0225597e48f74a659916f0e482df5b92"


def test_corrupt_gzip_file_is_a_dead_letter_not_a_crash():
    data = gzip.compress(orjson.dumps({"awslogs": {"data": b64(payload())}}) * 50)
    out = items(data[: len(data) // 2])
    assert any(isinstance(i, DeadLetter) for i in out)
