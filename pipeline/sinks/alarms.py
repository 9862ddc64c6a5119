"""Alarm notifications: stdout, an SNS topic, a webhook (Slack-compatible JSON) with retries.

Every alarm transition is indexed (``coldtrace-alarms``) whatever happens here; these sinks tell
people. Settings are parsed once (``AlarmSettings``); the webhook URL is a secret (a Slack URL
carries its token in the path): it is never logged, never in an error message, never in a repr
— only ``scheme://host`` is ever shown. A delivery that fails after its retries becomes a
DeadLetter (stage ``notify``) saying why, so a lost notification is never silent.
"""

from __future__ import annotations

import logging
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

import apache_beam as beam
import boto3
import botocore.exceptions
import orjson
from apache_beam.metrics import Metrics

from pipeline.model import Alarm, DeadLetter, iso_ms

log = logging.getLogger(__name__)

COLORS = {"ALARM": "#d0021b", "OK": "#2eb886", "INSUFFICIENT_DATA": "#9b9b9b"}
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 30.0


class DeliveryError(Exception):
    """A notification that could not be delivered; the message never holds a secret."""


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}{f':{parts.port}' if parts.port else ''}/…"


@dataclass(frozen=True)
class AlarmSettings:
    stdout: bool = False
    sns_topic_arn: str | None = None
    sns_region: str | None = None
    sns_endpoint_url: str | None = None
    webhook_url: str | None = field(default=None, repr=False)
    webhook_retries: int = 4
    webhook_backoff_s: float = 0.5
    webhook_timeout_s: float = 10.0
    webhook_insecure: bool = False  # do not verify the webhook's TLS certificate (tests only; warned about)

    def __post_init__(self) -> None:
        if self.webhook_url is not None and urlsplit(self.webhook_url).scheme not in ("http", "https"):
            raise ValueError("the webhook URL must be an http:// or https:// URL")
        if self.sns_topic_arn is not None and not self.sns_topic_arn.startswith("arn:"):
            raise ValueError(f"SNS topic {self.sns_topic_arn!r} is not an ARN (arn:aws:sns:REGION:ACCOUNT:NAME)")
        if self.webhook_retries < 0:
            raise ValueError("webhook retries must be 0 or more")

    @property
    def enabled(self) -> bool:
        return bool(self.stdout or self.sns_topic_arn or self.webhook_url)

    def describe(self) -> list[str]:
        """Where notifications go, safe to print."""
        out = ["stdout"] if self.stdout else []
        if self.sns_topic_arn:
            out.append(f"SNS {self.sns_topic_arn}")
        if self.webhook_url:
            out.append(f"webhook {redact_url(self.webhook_url)}")
        return out

    @classmethod
    def from_env(cls, env: Mapping[str, str], webhook_url_env: str | None = None, **kw: Any) -> "AlarmSettings":
        """Settings with the webhook URL read from the environment variable named
        ``webhook_url_env`` (a missing or empty variable is an error that names it)."""
        url = None
        if webhook_url_env:
            url = env.get(webhook_url_env, "").strip()
            if not url:
                raise ValueError(f"environment variable {webhook_url_env} (the webhook URL) is not set")
        return cls(webhook_url=url, **kw)


# -- messages -----------------------------------------------------------------------------------

def alarm_text(alarm: Alarm) -> str:
    return (f"[{alarm.state}] {alarm.function_name} {alarm.rule} ({alarm.severity}) at "
            f"{iso_ms(alarm.time_ms)}: {alarm.reason}")


def slack_payload(alarm: Alarm) -> dict[str, Any]:
    """An incoming-webhook message Slack (and Mattermost, Teams' Slack adapter…) renders."""
    icon = {"ALARM": ":rotating_light:", "OK": ":white_check_mark:"}.get(alarm.state, ":grey_question:")
    fields = [{"title": "Function", "value": alarm.function_name, "short": True},
              {"title": "Rule", "value": alarm.rule, "short": True},
              {"title": "State", "value": f"{alarm.previous_state} → {alarm.state}", "short": True},
              {"title": "Severity", "value": alarm.severity, "short": True}]
    if alarm.window_start_ms is not None and alarm.window_end_ms is not None:
        fields.append({"title": "Window", "value": f"{iso_ms(alarm.window_start_ms)} – {iso_ms(alarm.window_end_ms)}",
                       "short": False})
    return {"text": f"{icon} *{alarm.state}* {alarm.function_name}: {alarm.rule}",
            "attachments": [{"color": COLORS.get(alarm.state, "#9b9b9b"), "fallback": alarm_text(alarm),
                             "text": alarm.reason, "fields": fields, "footer": "coldtrace",
                             "ts": alarm.time_ms // 1000}]}


def sns_message(alarm: Alarm) -> dict[str, Any]:
    """PublishInput: a short ASCII subject, the alarm document as JSON, attributes to filter on."""
    subject = f"{alarm.state}: {alarm.function_name} {alarm.rule}"
    subject = "".join(c if 32 <= ord(c) < 127 else "?" for c in subject)[:100]
    doc = {"id": alarm.doc_id(), **alarm.to_doc()}
    return {"Subject": subject, "Message": orjson.dumps(doc).decode(),
            "MessageAttributes": {
                "state": {"DataType": "String", "StringValue": alarm.state},
                "severity": {"DataType": "String", "StringValue": alarm.severity},
                "function": {"DataType": "String", "StringValue": alarm.function_name}}}


# -- delivery ------------------------------------------------------------------------------------

def _retry_after(err: urllib.error.HTTPError) -> float | None:
    value = err.headers.get("Retry-After") if err.headers else None
    try:
        return min(float(value), MAX_RETRY_AFTER_S) if value is not None else None
    except ValueError:
        return None


def post_json(url: str, payload: Any, retries: int = 4, backoff_s: float = 0.5, timeout_s: float = 10.0,
              sleep: Callable[[float], None] = time.sleep, insecure: bool = False) -> int:
    """POST JSON; retry connection failures, 429 and 5xx with exponential backoff (or the
    server's Retry-After). Returns the number of attempts; raises DeliveryError after the
    last one or at once for other 4xx. Errors name only ``scheme://host``."""
    body = orjson.dumps(payload)
    where = redact_url(url)
    last = ""
    for attempt in range(1, retries + 2):
        req = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "coldtrace"})
        try:
            with urllib.request.urlopen(req, timeout=timeout_s, context=_tls_context(insecure)) as resp:
                resp.read()
            return attempt
        except urllib.error.HTTPError as err:
            last = f"HTTP {err.code}"
            if err.code not in RETRYABLE_STATUS:
                raise DeliveryError(f"webhook {where} refused the notification: {last}") from None
            wait = _retry_after(err)
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            last = f"{type(reason).__name__}: {getattr(reason, 'strerror', None) or reason}"
            last = last.replace(url, where)
            wait = None
        if attempt <= retries:
            sleep(wait if wait is not None else backoff_s * 2 ** (attempt - 1))
    raise DeliveryError(f"webhook {where} failed after {retries + 1} attempts: {last}")


def _tls_context(insecure: bool):
    """Certificates are verified (the default context) unless the user turned it off explicitly."""
    if not insecure:
        return None

    return ssl._create_unverified_context()  # noqa: S323 - explicit --webhook-insecure


class SnsNotifier:
    def __init__(self, topic_arn: str, region: str | None = None, endpoint_url: str | None = None) -> None:
        region = region or topic_arn.split(":")[3] or None
        self.topic_arn = topic_arn
        self.client = boto3.session.Session().client("sns", region_name=region, endpoint_url=endpoint_url)

    def send(self, alarm: Alarm) -> str:
        """Publish; returns the MessageId. Boto3 retries throttling itself."""
        try:
            return self.client.publish(TopicArn=self.topic_arn, **sns_message(alarm))["MessageId"]
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise DeliveryError(f"SNS {self.topic_arn}: {exc}") from None
        except Exception as exc:  # e.g. ResponseParserError: a proxy's HTML/JSON 5xx page, not retried by botocore
            raise DeliveryError(f"SNS {self.topic_arn}: {type(exc).__name__}: {str(exc)[:300]}") from None


class WebhookNotifier:
    def __init__(self, settings: AlarmSettings, sleep: Callable[[float], None] = time.sleep) -> None:
        assert settings.webhook_url
        self.settings = settings
        self.sleep = sleep
        if settings.webhook_insecure and settings.webhook_url.startswith("https://"):
            log.warning("TLS certificate verification is off for webhook %s (--webhook-insecure)",
                        redact_url(settings.webhook_url))

    def send(self, alarm: Alarm) -> int:
        s = self.settings
        return post_json(s.webhook_url or "", slack_payload(alarm), s.webhook_retries, s.webhook_backoff_s,
                         s.webhook_timeout_s, self.sleep, s.webhook_insecure)


class StdoutNotifier:
    def send(self, alarm: Alarm) -> None:
        print(alarm_text(alarm), flush=True)


def notifiers(settings: AlarmSettings) -> list[tuple[str, Any]]:
    """(name, notifier) for every configured destination."""
    out: list[tuple[str, Any]] = []
    if settings.stdout:
        out.append(("stdout", StdoutNotifier()))
    if settings.sns_topic_arn:
        out.append(("sns", SnsNotifier(settings.sns_topic_arn, settings.sns_region, settings.sns_endpoint_url)))
    if settings.webhook_url:
        out.append(("webhook", WebhookNotifier(settings)))
    return out


def notify(alarm: Alarm, destinations: list[tuple[str, Any]]) -> list[DeadLetter]:
    """Send one alarm everywhere; a DeadLetter per destination that failed."""
    failed = []
    for name, notifier in destinations:
        try:
            notifier.send(alarm)
        except DeliveryError as exc:
            log.warning("alarm notification failed: %s", exc)
            failed.append(DeadLetter(raw=orjson.dumps(alarm.to_doc()).decode(), stage="notify",
                                     error=str(exc), source=name, time_ms=alarm.time_ms))
    return failed


class _Notify(beam.DoFn):
    def __init__(self, settings: AlarmSettings) -> None:
        self.settings = settings
        self.sent = Metrics.counter("coldtrace", "alarm_notifications")
        self.failed = Metrics.counter("coldtrace", "alarm_notifications_failed")

    def setup(self) -> None:
        self.destinations = notifiers(self.settings)

    def process(self, alarm: Alarm):
        failed = notify(alarm, self.destinations)
        self.sent.inc(len(self.destinations) - len(failed))
        self.failed.inc(len(failed))
        yield from failed


class NotifyAlarms(beam.PTransform):
    """Alarms → notifications sent; outputs a DeadLetter per failed delivery."""

    def __init__(self, settings: AlarmSettings) -> None:
        super().__init__()
        self.settings = settings

    def expand(self, alarms):
        return alarms | "Send" >> beam.ParDo(_Notify(self.settings))
