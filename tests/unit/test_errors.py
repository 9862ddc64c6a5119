"""pipeline.errors.describe: any failure becomes (exit status, one line)."""

from __future__ import annotations

from botocore.exceptions import NoCredentialsError

from pipeline.errors import ServiceError, UsageError, describe


def test_usage_error_is_shown_as_is_on_one_line():
    assert describe(UsageError("--rules x:\n  bad")) == (2, "--rules x: bad")


def test_a_wrapped_library_error_is_found_along_the_chain():
    try:
        try:
            raise NoCredentialsError()
        except NoCredentialsError as inner:
            raise RuntimeError("a runner wrapped it") from inner
    except RuntimeError as outer:
        status, line = describe(outer)
    assert status == 1 and line.startswith("no AWS credentials")


def test_an_error_passed_on_as_text_only_is_recognised():
    text = ("Traceback (most recent call last):\n  ...\nbotocore.exceptions.EndpointConnectionError: "
            "Could not connect to the endpoint URL: \"http://x/\" [while running 'Read']")
    assert describe(RuntimeError(text)) == (1, 'EndpointConnectionError: Could not connect to the endpoint URL: "http://x/"')


def test_a_file_error_names_the_file():
    assert describe(FileNotFoundError(2, "No such file or directory", "in.ndjson")) == \
        (1, "in.ndjson: No such file or directory")


def test_anything_else_is_one_line_with_the_way_to_more():
    status, line = describe(ZeroDivisionError("division by zero\nmore"))
    assert status == 1 and "\n" not in line
    assert line == "ZeroDivisionError: division by zero more (--verbose shows the traceback)"
    assert describe(ServiceError("down")) == (1, "down")
