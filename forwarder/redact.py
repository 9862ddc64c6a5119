"""Redaction before a line leaves the forwarder: the implementation is ``pipeline.parse.redact``,
shared with the pipeline (which redacts what it reads from files itself)."""

from pipeline.parse.redact import BUILTIN_NAMES, BUILTINS, Pattern, Redactor

__all__ = ["BUILTIN_NAMES", "BUILTINS", "Pattern", "Redactor"]
