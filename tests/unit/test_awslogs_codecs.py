"""The compiled codecs (ISA-L inflate, pybase64) and the standard library's give the same bytes
and the same dead-letter reasons, for good payloads and for every kind of bad one."""

from __future__ import annotations

import base64
import gzip
import zlib

import orjson
import pytest

from pipeline.parse import awslogs


def _payload(n: int) -> bytes:
    events = [{"id": str(i), "timestamp": 1714557600000 + i, "message": f"START RequestId: r{i} x" * 3}
              for i in range(n)]
    return orjson.dumps({"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/aws/lambda/f",
                         "logStream": "2024/05/01/[$LATEST]abc", "subscriptionFilters": ["s"], "logEvents": events})


CASES = {
    "small": base64.b64encode(gzip.compress(_payload(3))),
    "large": base64.b64encode(gzip.compress(_payload(20_000))),  # inflates in several steps
    "zlib": base64.b64encode(zlib.compress(_payload(5))),
    "truncated": base64.b64encode(gzip.compress(_payload(50))[:-12]),
    "garbage": base64.b64encode(b"\x1f\x8b" + b"not gzip at all" * 4),
    "bomb": base64.b64encode(gzip.compress(b" " * (awslogs.MAX_DECOMPRESSED + 10))),
    "bad-base64": b"H4sI!!!notbase64",
    "str": base64.b64encode(gzip.compress(_payload(2))).decode(),
}


def _outcome(data):
    try:
        return awslogs.decode_data(data)
    except awslogs.PayloadError as exc:
        return f"dead letter: {exc}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_compiled_and_standard_codecs_agree(name, monkeypatch):
    compiled = _outcome(CASES[name])
    monkeypatch.setattr(awslogs, "_inflate", zlib)
    monkeypatch.setattr(awslogs, "b64decode", base64.b64decode)
    assert _outcome(CASES[name]) == compiled
    if name in ("small", "large", "str"):
        assert compiled["messageType"] == "DATA_MESSAGE"
    else:
        assert compiled.startswith("dead letter: ")


def test_the_compiled_codecs_are_the_ones_in_use_when_installed():
    pytest.importorskip("isal")
    pytest.importorskip("pybase64")
    assert awslogs._inflate is not zlib and awslogs.b64decode is not base64.b64decode
