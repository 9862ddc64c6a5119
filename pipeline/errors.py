"""Errors with a message meant for the user, not a traceback."""


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2, never a traceback."""
