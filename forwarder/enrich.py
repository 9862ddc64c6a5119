"""Decoded payload → LogEvents that say where they came from.

Function name, version/alias and instance id come from the log group and stream names
(``pipeline.parse.names``, shared with the pipeline); the account from the payload's owner, else
the settings, else the forwarder's own ARN; the region from the settings (a subscription never
crosses regions, so the forwarder's region is the log group's).
"""

from __future__ import annotations

from typing import Any

from pipeline.model import LogEvent
from pipeline.parse.awslogs import Payload, to_payload


def account_of(context: Any, default: str | None) -> str | None:
    """The configured account, else the one in the invoked function's ARN."""
    if default:
        return default
    arn = getattr(context, "invoked_function_arn", None)
    if isinstance(arn, str):
        parts = arn.split(":")
        if len(parts) > 4 and parts[4].isdigit():
            return parts[4]
    return None


def payload_of(obj: dict[str, Any], account: str | None, region: str | None, arrival_ms: int,
               only_ids: frozenset[str] | None = None, first: int = 0) -> Payload:
    """Validate and enrich; a replay of a partial failure keeps only the events it names.

    ``first``: the index of ``obj``'s first event in the payload (events come a window at a time).
    Raises ``PayloadError`` for a payload that is not a subscription message.
    """
    payload = to_payload(obj, account=account, region=region, arrival_ms=arrival_ms, first=first)
    if only_ids is not None:
        payload.events = [e for e in payload.events if e.id in only_ids]
    return payload


def oldest_timestamp(events: list[LogEvent]) -> int | None:
    """For the forwarder's own iterator age: now − the oldest event it handled."""
    return min((e.timestamp for e in events), default=None)
