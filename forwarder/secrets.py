"""Secrets from SSM Parameter Store or Secrets Manager, cached with a TTL.

Settings hold only a reference (``ssm:/coldtrace/redact-key`` or ``secretsmanager:<id>``);
the value is fetched at runtime, kept for ``ttl_s`` so a warm forwarder makes one call per TTL,
and refreshed after it so a rotated secret is picked up without a redeploy. A fetch that fails
while a cached value exists keeps serving the stale value (and says so) rather than failing
every invocation during an SSM hiccup.
"""

from __future__ import annotations

import time
from typing import Callable

from forwarder import aws


class SecretError(RuntimeError):
    """A secret could not be read; the message names the reference, never the value."""


class SecretCache:
    def __init__(self, ttl_s: float = 300.0, region: str | None = None, endpoint_url: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s, self.region, self.endpoint_url, self.clock = ttl_s, region, endpoint_url, clock
        self._values: dict[str, tuple[float, str]] = {}
        self.fetches = 0
        self.stale_served = 0

    def get(self, ref: str) -> str:
        now = self.clock()
        cached = self._values.get(ref)
        if cached is not None and now - cached[0] < self.ttl_s:
            return cached[1]
        try:
            value = self._fetch(ref)
        except Exception as exc:  # any SDK or network failure: stale beats broken
            if cached is not None:
                self.stale_served += 1
                return cached[1]
            raise SecretError(f"cannot read secret {ref}: {type(exc).__name__}: {aws.error_code(exc) or exc}") from None
        self._values[ref] = (now, value)
        return value

    def _fetch(self, ref: str) -> str:
        self.fetches += 1
        kind, _, name = ref.partition(":")
        if kind == "ssm":
            resp = aws.client("ssm", self.region, self.endpoint_url).get_parameter(Name=name, WithDecryption=True)
            return str(resp["Parameter"]["Value"])
        if kind == "secretsmanager":
            resp = aws.client("secretsmanager", self.region, self.endpoint_url).get_secret_value(SecretId=name)
            if "SecretString" in resp:
                return str(resp["SecretString"])
            return bytes(resp["SecretBinary"]).decode("utf-8")
        raise SecretError(f"secret reference {ref!r} is neither ssm:… nor secretsmanager:…")
