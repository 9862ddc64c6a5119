"""Function, version and instance from CloudWatch log group and log stream names.

``/aws/lambda/<fn>`` (Lambda@Edge: ``/aws/lambda/us-east-1.<fn>``); stream
``YYYY/MM/DD/[<version>]<instance hex>``: one stream is one execution environment.
Custom log groups (LoggingConfig.LogGroup) do not name the function: the last path segment is
the best guess, and the JSON log format's records may correct it.
"""

from __future__ import annotations

import re
from functools import lru_cache

_STREAM = re.compile(r"\d{4}/\d\d/\d\d/\[([^\]]*)\]([0-9A-Za-z]+)$")
_EDGE_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d\.")


@lru_cache(maxsize=4096)
def function_from_group(log_group: str) -> str | None:
    if not log_group:
        return None
    if log_group.startswith("/aws/lambda/"):
        name = log_group[len("/aws/lambda/"):]
        m = _EDGE_REGION.match(name)
        return name[m.end():] if m else name
    tail = log_group.rstrip("/").rsplit("/", 1)[-1]
    return tail or None


@lru_cache(maxsize=65536)
def version_and_instance(log_stream: str) -> tuple[str | None, str | None]:
    m = _STREAM.match(log_stream)
    if not m:
        return None, None
    return (m.group(1) or None), m.group(2)
