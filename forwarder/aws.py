"""boto3 clients, created on first use and reused across invocations.

boto3 costs ~150-250 ms to import; the forwarder imports it only when a client is first
needed (the stdout, spool and null shippers never need one), and keeps one client per service
for the life of the execution environment. Retries inside botocore are kept short: the
forwarder retries PutRecords failures itself, within the invocation's remaining time.
"""

from __future__ import annotations

from typing import Any

from pipeline.aws_errors import error_code  # noqa: F401  (re-exported)

_CLIENTS: dict[tuple[str, str | None, str | None], Any] = {}


def client(service: str, region: str | None = None, endpoint_url: str | None = None) -> Any:
    key = (service, region, endpoint_url)
    found = _CLIENTS.get(key)
    if found is None:
        import boto3  # noqa: PLC0415 -- boto3: +120-330 ms of the forwarder's cold start, paid only by shippers that call AWS (docs/benchmarks.md)
        from botocore.config import Config  # noqa: PLC0415 -- boto3: +120-330 ms of the forwarder's cold start, paid only by shippers that call AWS (docs/benchmarks.md)

        config = Config(retries={"total_max_attempts": 2, "mode": "standard"}, connect_timeout=3,
                        read_timeout=15, tcp_keepalive=True, max_pool_connections=4)
        found = boto3.session.Session().client(service, region_name=region, endpoint_url=endpoint_url,
                                               config=config)
        _CLIENTS[key] = found
    return found


