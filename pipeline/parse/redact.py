"""Redaction of secrets and personal data before a log line reaches any sink.

One implementation, shared: the forwarder redacts before it ships (``forwarder.handler``), and the
pipeline redacts what it reads from files directly, before the shuffle and before any index,
Elasticsearch or dead-letter document is written (``pipeline.sources.files``).

Built-in patterns cover private-key blocks, AWS access key ids and secret access keys (a
40-character value next to a secret-key name: a bare git sha or base64 blob is left alone),
bearer tokens, JSON Web Tokens, GitHub, Slack and Stripe tokens, passwords in URLs and connection
strings (``postgres://u:p@``, ``redis://:p@``, JDBC/ODBC ``password=``), e-mail addresses and card
numbers (Luhn-checked, so order ids and timestamps survive); users add their own ``name → regex``
pairs. Patterns run in order, so a JWT after ``Bearer`` is tagged ``bearer_token``. Each match becomes ``[REDACTED:<name>]``, or
``[REDACTED:<name>:<hmac>]`` when a key is configured: the same value always gets the same
tag, so "how many users hit this error" stays answerable without the address being stored.

Speed: most lines hold no secret, so a pattern with a literal anchor first looks for it in the
whole batch joined once, then in each line (substring tests); a pattern without one scans the
joined batch with its regex; only the lines that may match are then rewritten.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Callable, Iterable

if TYPE_CHECKING:  # annotations only: the forwarder's cold start does not load these modules
    from pipeline.model import DeadLetter, LogEvent


def _luhn_ok(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = ord(ch) - 48
        if i % 2 == parity:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_ok(m: re.Match[str]) -> bool:
    """13-19 digits, standing alone, that pass the Luhn check: what a payment card number looks like."""
    s, start, end = m.string, m.start(), m.end()
    before = s[start - 1] if start else " "
    after = s[end] if end < len(s) else " "
    if before.isalnum() or before in "-_" or after.isalnum() or after in "-_":
        return False
    if (before == "." and s[start - 2:start - 1].isdigit()) or (after == "." and s[end + 1:end + 2].isdigit()):
        return False  # part of a decimal number
    digits = m.group(0).replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and _luhn_ok(digits)


@dataclass
class Pattern:
    name: str
    regex: re.Pattern[str]
    hints: tuple[str, ...] = ()       # the line can only match if it contains one of these
    group: int = 0                    # the group that holds the secret (0: the whole match)
    check: Callable[[re.Match[str]], bool] | None = None  # a match is redacted only if this accepts it
    # Instead of hints: a regex starting with a literal that every match contains. One search of
    # it can beat several substring tests (GitHub's six token prefixes: 2.0 -> 0.5 µs/line).
    gate: re.Pattern[str] | None = None


# A secret-key name (aws_secret_access_key, SecretAccessKey, secret-key…), its separator, a quote.
_SECRET_KEY_NAME = r"(?i:secret[_-]?(?:access[_-]?)?key)[\"']?\s*(?:=>|[:=])\s*[\"']?"

BUILTINS: tuple[Pattern, ...] = (
    # First: a key block may hold anything a later pattern would tag piecemeal. Without its END
    # line in the same message (a runtime that split it), the rest of the message goes.
    Pattern("private_key", re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
                                      r"(?:.*?-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|.*)", re.DOTALL),
            hints=("PRIVATE KEY",)),
    Pattern("aws_access_key", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z2-7]{16}(?![A-Z0-9])"),
            gate=re.compile("A[KS]IA")),
    Pattern("aws_secret_key", re.compile(_SECRET_KEY_NAME + r"([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"),
            hints=("ecret", "ECRET"), group=1),
    Pattern("bearer_token", re.compile(r"\b[Bb](?:earer|EARER)\s+([A-Za-z0-9\-._~+/]{8,}=*)"),
            hints=("earer", "EARER"), group=1),
    Pattern("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), hints=("eyJ",)),
    Pattern("github_token", re.compile(r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{82})"
                                       r"(?![A-Za-z0-9_])"),
            gate=re.compile(r"g(?:h[pousr]_|ithub_pat_)")),
    Pattern("slack_token", re.compile(r"(?<![A-Za-z0-9])xox[baprs]-[A-Za-z0-9-]{10,250}"), hints=("xox",)),
    Pattern("stripe_key", re.compile(r"(?<![A-Za-z0-9_])[rs]k_(?:live|test)_[A-Za-z0-9]{16,247}(?![A-Za-z0-9])"),
            hints=("k_live_", "k_test_")),
    # user:password@ in any URL, the user may be empty (redis://:password@host); a password a
    # token pattern above already tagged is not tagged again.
    Pattern("url_password", re.compile(r"://[^\s:/@]*:(?!\[REDACTED:)([^\s@/]+)@"), hints=("://",), group=1),
    # key=value connection strings (JDBC, ODBC, ADO.NET); PWD=/var/task is a shell's working directory.
    Pattern("connection_password", re.compile(r"(?<![A-Za-z0-9_.-])(?i:password|passwd|pwd)=(?!/|\[REDACTED:)([^;&\s\"',]+)"),
            hints=("assword=", "ASSWORD=", "wd=", "WD="), group=1),
    Pattern("email", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
            hints=("@",)),
    # [3-6]: Amex, Visa, Mastercard, Discover. No alternation and no look-behind keeps the scan
    # near the regex engine's fastest; boundaries and Luhn are checked on the few hits.
    Pattern("card_number", re.compile(r"[3-6][0-9]{3}[ -]?[0-9]{4,6}[ -]?[0-9]{4,5}(?:[ -]?[0-9]{1,7})?"),
            check=_card_ok),
)
# The patterns coldtrace had before the token and key patterns (bench/redact.py's baseline).
CLASSIC_NAMES: tuple[str, ...] = ("aws_access_key", "bearer_token", "url_password", "email", "card_number")
BUILTIN_NAMES: tuple[str, ...] = tuple(p.name for p in BUILTINS)


@lru_cache(maxsize=256)
def _finder(regex: re.Pattern[str]) -> re.Pattern[str] | None:
    """The pattern made to find candidates in lines joined by newlines (None: test each line).

    MULTILINE lets ``^``/``$`` match at line joins; it only ever finds more, never less.
    ``\\A``/``\\Z`` cannot be carried over, so such patterns visit every line.
    """
    if "\\A" in regex.pattern or "\\Z" in regex.pattern:
        return None
    return re.compile(regex.pattern, regex.flags | re.MULTILINE)


def _starts(msgs: list[str]) -> list[int]:
    starts: list[int] = []
    pos = 0
    for m in msgs:
        starts.append(pos)
        pos += len(m) + 1
    return starts


def _candidates(regex: re.Pattern[str], joined: str, starts: list[int]) -> list[int]:
    """Indexes of the lines that may match: one scan of the joined batch, mapped back by offset."""
    finder = _finder(regex)
    if finder is None:
        return list(range(len(starts)))
    found: list[int] = []
    last = -1
    for m in finder.finditer(joined):
        i = bisect_right(starts, m.start()) - 1
        if i != last:
            found.append(i)
            last = i
    return found


class Redactor:
    """Applies the configured patterns to events in place and counts matches per pattern."""

    def __init__(self, builtins: Iterable[str], custom: Iterable[tuple[str, re.Pattern[str]]] = (),
                 key: bytes | None = None) -> None:
        wanted = set(builtins)
        self.patterns = [p for p in BUILTINS if p.name in wanted]
        self.patterns += [Pattern(name, rx) for name, rx in custom]
        self.key = key

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def tag(self, name: str, value: str) -> str:
        if self.key is None:
            return f"[REDACTED:{name}]"

        digest = hmac.new(self.key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
        return f"[REDACTED:{name}:{digest[:12]}]"

    def redact_text(self, text: str, counts: dict[str, int] | None = None) -> str:
        """One message; ``counts`` (name → matches) is updated when given."""
        for p in self.patterns:
            if p.hints and not any(h in text for h in p.hints):
                continue
            if p.gate is not None and not p.gate.search(text):
                continue
            text = self._apply(p, text, counts if counts is not None else {})
        return text

    def redact_events(self, events: list[LogEvent]) -> dict[str, int]:
        """Redact every event's message in place; returns matches per pattern (only those > 0)."""
        counts: dict[str, int] = {}
        if not self.patterns or not events:
            return counts
        msgs = [e.message for e in events]
        joined: str | None = "\n".join(msgs)
        starts: list[int] = []
        for p in self.patterns:
            hints, gate = p.hints, p.gate
            if hints and joined is not None and not any(h in joined for h in hints):
                continue  # one substring search of the whole batch rules most batches out
            if gate is not None:
                if joined is not None and not gate.search(joined):
                    continue
                todo = [i for i, m in enumerate(msgs) if gate.search(m)]
            elif len(hints) == 1:  # a substring test per line beats any scan of the joined batch
                h = hints[0]
                todo = [i for i, m in enumerate(msgs) if h in m]
            elif len(hints) == 2:
                h, k = hints
                todo = [i for i, m in enumerate(msgs) if h in m or k in m]
            elif hints:
                todo = [i for i, m in enumerate(msgs) if any(h in m for h in hints)]
            else:
                if joined is None:
                    joined = "\n".join(msgs)
                if not starts:
                    starts = _starts(msgs)
                todo = _candidates(p.regex, joined, starts)
            for i in todo:
                msgs[i] = events[i].message = self._apply(p, msgs[i], counts)
                joined, starts = None, []  # the rewritten lines must be seen by the next scan
        return counts

    def _apply(self, p: Pattern, text: str, counts: dict[str, int]) -> str:
        hits = 0

        def repl(m: re.Match[str]) -> str:
            nonlocal hits
            secret = m.group(p.group)
            if p.check is not None and not p.check(m):
                return m.group(0)
            hits += 1
            if p.group == 0:
                return self.tag(p.name, secret)
            start, end = m.span(p.group)
            whole = m.group(0)
            base = m.start(0)
            return whole[:start - base] + self.tag(p.name, secret) + whole[end - base:]

        out = p.regex.sub(repl, text)
        if hits:
            counts[p.name] = counts.get(p.name, 0) + hits
        return out


def redactor_for(builtins: Iterable[str] | None = None, custom: dict[str, str] | None = None,
                 key: bytes | None = None) -> Redactor:
    """A redactor from names and ``name → regex`` text (every built-in pattern by default)."""
    names = BUILTIN_NAMES if builtins is None else tuple(builtins)
    return Redactor(names, [(name, re.compile(rx)) for name, rx in (custom or {}).items()], key)


def redact_dead_letter(redactor: Redactor, letter: DeadLetter) -> DeadLetter:
    """A dead letter keeps the input it could not read: that text is redacted like any line."""
    if redactor:
        letter.raw = redactor.redact_text(letter.raw)
        letter.error = redactor.redact_text(letter.error)
    return letter
