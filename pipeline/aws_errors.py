"""AWS errors from botocore exceptions, without importing botocore (pure; the forwarder uses it).

``fault_kind`` sorts an exception into the transient faults a read may retry — throttling, an
expired shard iterator, a server-side failure (HTTP 5xx), a network fault (connection refused
or reset, a timeout) — or None: everything else (access denied, a missing stream, a bad
argument) is final. The sets below are the one home of these codes.
"""

from __future__ import annotations

# Answered when a control-plane or read call is made too often.
THROTTLE_CODES = frozenset(("ProvisionedThroughputExceededException", "LimitExceededException",
                            "ThrottlingException", "Throttling", "KMSThrottlingException"))
# A shard iterator older than five minutes: get a fresh one from the last sequence number read.
EXPIRED_ITERATOR_CODES = frozenset(("ExpiredIteratorException",))
# Server-side failures that a later call may not meet (the service's own 5xx codes).
SERVER_CODES = frozenset(("InternalFailure", "InternalFailureException", "InternalServerError",
                          "ServiceUnavailable", "ServiceUnavailableException", "KMSInternalException",
                          "RequestTimeout", "RequestTimeoutException"))
# Exception class names (anywhere in the class's MRO) of a request that never got a whole answer:
# botocore's HTTPClientError covers EndpointConnectionError, ConnectionClosedError,
# ReadTimeoutError, ConnectTimeoutError and ResponseStreamingError; the builtins and urllib3's
# ProtocolError cover what a raw socket raises.
NETWORK_ERROR_CLASSES = frozenset(("HTTPClientError", "ConnectionError", "TimeoutError", "ProtocolError",
                                   "IncompleteRead", "RemoteDisconnected"))

THROTTLED, EXPIRED_ITERATOR, SERVER, NETWORK = "throttled", "expired_iterator", "server", "network"


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError (None for other exceptions)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of a botocore ClientError's answer (None for other exceptions)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return int(status) if isinstance(status, int) else None
    return None


def fault_kind(exc: BaseException) -> str | None:
    """``throttled``, ``expired_iterator``, ``server``, ``network`` — or None: not transient."""
    code = error_code(exc)
    if code in THROTTLE_CODES:
        return THROTTLED
    if code in EXPIRED_ITERATOR_CODES:
        return EXPIRED_ITERATOR
    if code in SERVER_CODES or (http_status(exc) or 0) >= 500:
        return SERVER
    if getattr(exc, "response", None) is None and any(c.__name__ in NETWORK_ERROR_CLASSES
                                                      for c in type(exc).__mro__):
        return NETWORK
    return None


def describe(exc: BaseException) -> str:
    """One line for a message: ``Code: message`` for an AWS error, else the class and text."""
    code = error_code(exc)
    if code:
        message = getattr(exc, "response", {}).get("Error", {}).get("Message") or ""
        return f"{code}: {message}".rstrip(": ") if message else code
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
