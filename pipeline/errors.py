"""Errors with a message meant for the user, not a traceback, and the one line any failure of a
command becomes (``pipeline/cli.py`` prints it; ``--verbose`` adds the traceback).

Third-party exceptions are recognised by class name along the cause/context chain, and in the
text when a runner passed only the text on (Beam wraps a worker's error in a RuntimeError
carrying the original traceback): so this module imports no third-party package.
"""

from __future__ import annotations

import re


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2, never a traceback."""


class ServiceError(Exception):
    """A service coldtrace needs is unreachable or refused: one line, exit code 1."""


# class name → (what went wrong, in the user's words; None: the exception's own message)
_KNOWN: dict[str, str | None] = {
    "NoCredentialsError": "no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                          "AWS_SECRET_ACCESS_KEY, or run where an IAM role applies",
    "PartialCredentialsError": None,
    "CredentialRetrievalError": None,
    "NoRegionError": "no AWS region: pass --region or set AWS_REGION",
    "EndpointConnectionError": None,
    "ClientError": None,
    "ParamValidationError": None,
    "ConnectionError": None,  # elastic_transport's, and the builtin's
    "ConnectionTimeout": None,
    "TransportError": None,
    "ApiError": None,
    "BulkError": None,
    "RulesError": None,
}
_SHOWN_AS_IS = (UsageError, ServiceError)
_MAX = 400


def _chain(exc: BaseException):
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _flat(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _MAX else text[:_MAX - 1] + "…"


def _text_match(text: str) -> str | None:
    """``pkg.mod.SomeError: message`` of a known class inside a wrapped error's text."""
    for name in _KNOWN:
        m = re.search(rf"\b{name}: ([^\n\[]*)", text)
        if m:
            return _KNOWN[name] or f"{name}: {m.group(1).strip()}"
    return None


def describe(exc: BaseException) -> tuple[int, str]:
    """(exit status, one line) for an exception that ended a command."""
    for link in _chain(exc):
        if isinstance(link, _SHOWN_AS_IS):
            return (2 if isinstance(link, UsageError) else 1), _flat(str(link))
    for link in _chain(exc):
        for cls in type(link).__mro__:
            if cls.__name__ in _KNOWN and cls.__module__ != "builtins":
                return 1, _flat(_KNOWN[cls.__name__] or f"{cls.__name__}: {link}")
    for link in _chain(exc):
        found = _text_match(str(link))
        if found:
            return 1, _flat(found)
    for link in _chain(exc):
        if isinstance(link, OSError) and link.filename:
            return 1, _flat(f"{link.filename}: {link.strerror or link}")
    return 1, _flat(f"{type(exc).__name__}: {exc}") + " (--verbose shows the traceback)"
