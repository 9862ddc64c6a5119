"""Parser behaviour the real-lines corpus cannot pin alone: negative cases and the variants
(single spaces, lost newlines) a copy of a real line turns into."""

from __future__ import annotations

from pipeline.parse import parse_message


def test_extension_line_with_single_spaces_keeps_every_field():
    p = parse_message("EXTENSION Name: datadog-agent State: LaunchError Events: [] Error Type: UnknownError")
    rec = p.platform
    assert (p.kind, rec.extension_name, rec.extension_state, rec.extension_events, rec.error_type) == (
        "extension", "datadog-agent", "LaunchError", (), "UnknownError")
    p = parse_message("EXTENSION Name: x State: Ready Events: [INVOKE,SHUTDOWN]")
    assert (p.platform.extension_name, p.platform.extension_state, p.platform.extension_events) == (
        "x", "Ready", ("INVOKE", "SHUTDOWN"))


def test_words_that_only_look_like_platform_prefixes_stay_plain_logs():
    for line in ("EXTENSIONS are loaded from /opt/extensions", "LOGS of the last run follow",
                 "TELEMETRY disabled", "LAMBDA_TASK_ROOT=/var/task"):
        p = parse_message(line)
        assert p.kind == "log" and p.platform is None, line


def test_runtime_error_whose_type_lost_its_newline():
    p = parse_message("RequestId: 3273a1b6-267c-45b4-8ce8-1a82c1953653 Error: fork/exec /opt/extensions/datadog-agent: "
                      "exec format error Extension.LaunchError")
    assert (p.kind, p.request_id, p.error_type) == ("runtime_error", "3273a1b6-267c-45b4-8ce8-1a82c1953653",
                                                    "Extension.LaunchError")
    assert p.error_message == "fork/exec /opt/extensions/datadog-agent: exec format error"


def test_unknown_application_error_reads_the_runtime_error_type():
    for line, want in (("Unknown application error occurred\nRuntime.Unknown", "Runtime.Unknown"),
                       ("Unknown application error occurredRuntime.ImportModuleError", "Runtime.ImportModuleError"),
                       ("Unknown application error occurred", "Runtime.Unknown")):
        p = parse_message(line)
        assert (p.kind, p.level, p.error_type, p.signals) == ("log", "ERROR", want, ("error",)), line
    assert parse_message("Unknown host, retrying").error_type is None


def test_node_prefix_with_single_spaces_and_the_init_phase_marker():
    p = parse_message("2024-03-04T17:22:38.033Z b70435cc-261c-4438-b9b6-efe4c8f04b21 INFO hello")
    assert (p.request_id, p.level, p.text) == ("b70435cc-261c-4438-b9b6-efe4c8f04b21", "INFO", "hello")
    p = parse_message("2024-01-02T05:27:56.173Z undefined ERROR Uncaught Exception {\"errorType\":\"Runtime.UserCodeSyntaxError\","
                      "\"errorMessage\":\"SyntaxError: Cannot use import statement outside a module\"}")
    assert (p.request_id, p.level, p.error_type) == (None, "ERROR", "Runtime.UserCodeSyntaxError")
    # cut short (CloudWatch truncates long events): the type is still read
    p = parse_message("2020-06-22T12:33:13.413Z\tundefined\tERROR\tUncaught Exception \t{\"errorType\":\"Runtime.ImportModuleError\",\"errorMess")
    assert p.error_type == "Runtime.ImportModuleError"


def test_dotnet_short_levels_and_java_id_first_and_ruby_without_id():
    assert parse_message("2023-02-20T14:15:29.201Z\tbed25b38-d012-42e7-ba28-f272535fb80e\tfail\tboom").level == "ERROR"
    assert parse_message("2023-02-20T14:15:29.201Z\tbed25b38-d012-42e7-ba28-f272535fb80e\tcrit\tboom").level == "FATAL"
    p = parse_message("b771fecc-1b53-4faf-922d-1d74357b1676 DEBUG AbstractFlow:214 - SMARequest")
    assert (p.request_id, p.level) == ("b771fecc-1b53-4faf-922d-1d74357b1676", "DEBUG")
    p = parse_message("E, [2019-10-26T10:04:01.689856 #8] ERROR -- : boom")
    assert (p.request_id, p.level) == (None, "ERROR")
    # a date-time line whose third token is no request id
    p = parse_message("2026-04-06 22:55:57,731 INFO  [io.quarkus] started")
    assert (p.request_id, p.level) == (None, "INFO")


def test_level_words_not_spelled_like_python():
    for line, want in (("Fatal: cannot continue", "FATAL"), ("Trace: entering", "TRACE"), ("Warn: slow", "WARN"),
                       ("[Information] - ## Event", "INFO"), ("LAMBDA_WARNING: Unhandled exception.", "WARN")):
        assert parse_message(line).level == want, line
