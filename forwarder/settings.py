"""The forwarder's settings: environment variables parsed and validated once, at init.

Every knob is a ``COLDTRACE_*`` variable; a bad value raises ``SettingsError`` naming the
variable, so a misconfigured deployment fails its first invocation with a message that says
what to fix instead of shipping garbage. Secrets are never read from plain env: a variable
only *names* where the secret lives (``ssm:/path`` or ``secretsmanager:id``); see secrets.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

import orjson

from forwarder.records import GZIP_LEVEL
from pipeline.parse.redact import BUILTIN_NAMES

SHIPPERS = ("kinesis", "spool", "stdout", "null")
KINESIS_MAX_RECORD = 1 << 20  # data + partition key, per record


class SettingsError(ValueError):
    """A ``COLDTRACE_*`` variable has a value the forwarder cannot use."""


@dataclass(frozen=True)
class Settings:
    shipper: str = "kinesis"
    stream: str | None = None
    dlq_url: str | None = None
    spool_dir: str | None = None
    account: str | None = None
    region: str | None = None
    include: re.Pattern[str] | None = None
    exclude: re.Pattern[str] | None = None
    drop_start_end: bool = False
    sample_rate: float = 1.0
    redact_builtins: tuple[str, ...] = ()
    redact_patterns: tuple[tuple[str, re.Pattern[str]], ...] = ()
    redact_key_ref: str | None = None
    secret_ttl_s: float = 300.0
    compress: bool = True
    compress_level: int = GZIP_LEVEL
    max_record_bytes: int = 1_000_000
    max_attempts: int = 8
    backoff_base_ms: int = 50
    backoff_cap_ms: int = 2000
    reserve_ms: int = 1500
    dlq_max_bytes: int = 1 << 20
    metrics: bool = True
    metrics_namespace: str = "Coldtrace/Forwarder"
    function_name: str = "coldtrace-forwarder"
    own_log_group: str | None = None
    endpoint_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "Settings":
        r = _Reader(env)
        shipper = r.choice("COLDTRACE_SHIPPER", SHIPPERS, "kinesis")
        s = cls(
            shipper=shipper,
            stream=r.text("COLDTRACE_STREAM"),
            dlq_url=r.text("COLDTRACE_DLQ_URL"),
            spool_dir=r.text("COLDTRACE_SPOOL_DIR"),
            account=r.match("COLDTRACE_ACCOUNT_ID", r"\d{12}"),
            region=r.text("AWS_REGION") or r.text("AWS_DEFAULT_REGION"),
            include=r.regex("COLDTRACE_INCLUDE"),
            exclude=r.regex("COLDTRACE_EXCLUDE"),
            drop_start_end=r.flag("COLDTRACE_DROP_START_END", False),
            sample_rate=r.number("COLDTRACE_SAMPLE_RATE", 1.0, low=0.0, high=1.0),
            redact_builtins=r.names("COLDTRACE_REDACT", BUILTIN_NAMES),
            redact_patterns=r.patterns("COLDTRACE_REDACT_PATTERNS"),
            redact_key_ref=r.secret_ref("COLDTRACE_REDACT_KEY"),
            secret_ttl_s=r.number("COLDTRACE_SECRET_TTL_S", 300.0, low=0.0, high=86400.0),
            compress=r.flag("COLDTRACE_COMPRESS", True),
            compress_level=int(r.number("COLDTRACE_COMPRESS_LEVEL", GZIP_LEVEL, low=1, high=9)),
            max_record_bytes=int(r.number("COLDTRACE_MAX_RECORD_BYTES", 1_000_000, low=1024,
                                          high=KINESIS_MAX_RECORD - 256)),
            max_attempts=int(r.number("COLDTRACE_MAX_ATTEMPTS", 8, low=1, high=100)),
            backoff_base_ms=int(r.number("COLDTRACE_BACKOFF_BASE_MS", 50, low=1, high=60_000)),
            backoff_cap_ms=int(r.number("COLDTRACE_BACKOFF_CAP_MS", 2000, low=1, high=300_000)),
            reserve_ms=int(r.number("COLDTRACE_RESERVE_MS", 1500, low=0, high=600_000)),
            dlq_max_bytes=int(r.number("COLDTRACE_DLQ_MAX_BYTES", 1 << 20, low=4096, high=1 << 20)),
            metrics=r.flag("COLDTRACE_METRICS", True),
            metrics_namespace=r.text("COLDTRACE_METRICS_NAMESPACE") or "Coldtrace/Forwarder",
            function_name=r.text("AWS_LAMBDA_FUNCTION_NAME") or "coldtrace-forwarder",
            own_log_group=r.text("AWS_LAMBDA_LOG_GROUP_NAME"),
            endpoint_url=r.text("AWS_ENDPOINT_URL"),
        )
        if shipper == "kinesis" and not s.stream:
            raise SettingsError("COLDTRACE_STREAM: required when COLDTRACE_SHIPPER=kinesis "
                                "(the name or ARN of the ingress Kinesis stream)")
        if shipper == "spool" and not s.spool_dir:
            raise SettingsError("COLDTRACE_SPOOL_DIR: required when COLDTRACE_SHIPPER=spool")
        if s.dlq_url is not None and not s.dlq_url.startswith(("https://", "http://")):
            raise SettingsError(f"COLDTRACE_DLQ_URL: {s.dlq_url!r} is not an SQS queue URL (https://…)")
        return s


class _Reader:
    """Typed access to the environment; every error names its variable."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def text(self, name: str) -> str | None:
        value = self.env.get(name)
        value = value.strip() if value is not None else None
        return value or None

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        value = (self.text(name) or default).lower()
        if value not in allowed:
            raise SettingsError(f"{name}: {value!r} is not one of {', '.join(allowed)}")
        return value

    def match(self, name: str, pattern: str) -> str | None:
        value = self.text(name)
        if value is not None and not re.fullmatch(pattern, value):
            raise SettingsError(f"{name}: {value!r} does not match {pattern}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self.text(name)
        if value is None:
            return default
        low = value.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{name}: {value!r} is not a boolean (true/false)")

    def number(self, name: str, default: float, low: float, high: float) -> float:
        value = self.text(name)
        if value is None:
            return default
        try:
            num = float(value)
        except ValueError:
            raise SettingsError(f"{name}: {value!r} is not a number") from None
        if not low <= num <= high:
            raise SettingsError(f"{name}: {num:g} is outside [{low:g}, {high:g}]")
        return num

    def regex(self, name: str) -> re.Pattern[str] | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            return re.compile(value)
        except re.error as exc:
            raise SettingsError(f"{name}: not a valid regular expression: {exc}") from None

    def names(self, name: str, known: tuple[str, ...]) -> tuple[str, ...]:
        value = (self.text(name) or "all").lower()
        if value == "all":
            return known
        if value == "none":
            return ()
        picked = tuple(v.strip() for v in value.split(",") if v.strip())
        unknown = [v for v in picked if v not in known]
        if unknown:
            raise SettingsError(f"{name}: unknown pattern(s) {', '.join(unknown)}; "
                                f"known: {', '.join(known)}, or all/none")
        return picked

    def patterns(self, name: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
        value = self.text(name)
        if value is None:
            return ()
        try:
            obj = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise SettingsError(f'{name}: not a JSON object {{"name": "regex", …}}') from None
        if not isinstance(obj, dict) or not all(isinstance(v, str) for v in obj.values()):
            raise SettingsError(f'{name}: expected a JSON object {{"name": "regex", …}}')
        out = []
        for key, rx in obj.items():
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", key):
                raise SettingsError(f"{name}: pattern name {key!r} must be 1-64 letters, digits, _ . -")
            try:
                out.append((key, re.compile(rx)))
            except re.error as exc:
                raise SettingsError(f"{name}: pattern {key!r} is not a valid regular expression: {exc}") from None
        return tuple(out)

    def secret_ref(self, name: str) -> str | None:
        value = self.text(name)
        if value is not None and not value.startswith(("ssm:", "secretsmanager:")):
            raise SettingsError(f"{name}: must name where the secret lives (ssm:/parameter/name or "
                                "secretsmanager:secret-id), never hold the secret itself")
        return value
