"""The log lines of the fleet, in the text and the JSON log format.

Line shapes follow the samples README (copied, never read at runtime). What the pipeline must know:
- text REPORT fields are tab-separated; the line ends with a tab and a newline, except after a
  Status (``...\tStatus: timeout\n``, ``...\tStatus: error\tError Type: Runtime.OutOfMemory\n``);
  a traced function appends ``XRAY TraceId: ...\tSegmentId: ...\tSampled: true\n``.
- outcomes in text: error = an uncaught-exception line (Python ``[ERROR] KeyError: 'amount'\nTraceback
  ...`` as ONE event, sometimes followed by ``{"errorMessage": ...}``; Node ``<iso>\t<id>\tERROR\tInvoke
  Error \t{...}``; Java/Go ``{"errorMessage":...,"errorType":...,"requestId":...}``) and a REPORT
  without Status; timeout = ``<iso> <id> Task timed out after 3.00 seconds\n\n`` + ``Status: timeout``;
  out_of_memory = ``RequestId: <id> Error: Runtime exited with error: signal: killed\nRuntime.OutOfMemory\n``
  + ``Status: error\tError Type: Runtime.OutOfMemory``, or disguised: the timeout lines with Max Memory
  Used = Memory Size; crash = ``... exit status 1\nRuntime.ExitError\n`` + ``Error Type: Runtime.ExitError``.
- JSON-format functions emit JSON records without a trailing newline: platform.start, runtimeDone,
  report (``status`` success / error / timeout, ``errorType`` Runtime.OutOfMemory, Runtime.ExitError,
  Sandbox.Timedout or the exception type) and app lines; an uncaught exception is an ERROR app line
  whose ``message`` is an object. No timed-out / runtime-exited text lines in JSON format.
- Billed Duration is computed on the printed 2-decimal values: ceil(Duration + Init Duration) for an
  on-demand cold start, ceil(Duration + Billed Restore Duration) for SnapStart, else ceil(Duration);
  a timeout bills the timeout itself (plus that init / restore), a few ms below ceil(Duration).
- provisioned environments are initialised near the start of the window, minutes before their first
  START (the function's traffic starts late); a text INIT_START does not say it is provisioned, the
  gap does. JSON says ``initializationType: provisioned-concurrency``.
- throttling seen by callers: an ERROR app line with TooManyRequestsException,
  ThrottlingException or ProvisionedThroughputExceededException (no other line has those words).
"""

from __future__ import annotations

import functools
import json
import random
import time
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from pipeline.sources.simulate.spec import FleetConfig, FunctionSpec

# what the functions say: uncaught exceptions (type, message, failing line), stacks, throttles, app lines
_ERRORS = {
    "python3.12": (("KeyError", "'amount'", 'amount = event["amount"]'),
                   ("ValueError", "invalid literal for int() with base 10: 'abc'", "qty = int(raw)"),
                   ("ClientError", "An error occurred (ConditionalCheckFailedException) when calling "
                    "the PutItem operation: The conditional request failed", "table.put_item(**kw)")),
    "nodejs20.x": (("TypeError", "Cannot read properties of undefined (reading 'id')", ""),
                   ("SyntaxError", "Unexpected token u in JSON at position 0", ""),
                   ("Error", "Order 4242 not found", "")),
    "java21": (("java.lang.NullPointerException", 'Cannot invoke "String.length()" because "id" is null', ""),
               ("java.lang.IllegalStateException", "Order not found", "")),
    "provided.al2023": (("errorString", "order not found", ""), ("*json.SyntaxError", "invalid character 'x'", "")),
    "dotnet8": (("System.NullReferenceException", "Object reference not set to an instance of an object.", ""),
                ("System.InvalidOperationException", "Sequence contains no elements", "")),
    "ruby3.3": (("NoMethodError", "undefined method `[]' for nil:NilClass", ""),
                ("ArgumentError", "wrong number of arguments (given 1, expected 2)", "")),
}
_STACKS = {"python3.12": ['  File "/var/task/app.py", line 12, in handler'],
           "nodejs20.x": ["    at Runtime.handler (file:///var/task/index.mjs:12:31)"],
           "java21": ["com.example.Handler.handleRequest(Handler.java:42)"], "provided.al2023": [],
           "dotnet8": ["   at Reports.Function.FunctionHandler(Request input) in /src/Function.cs:line 27"],
           "ruby3.3": ["/var/task/lambda_function.rb:9:in `lambda_handler'"]}
# the Python runtime's own warning after an unhandled exception (since 2023)
LAMBDA_WARNING = ("LAMBDA_WARNING: Unhandled exception. The most likely cause is an issue in the function code. "
                  "However, in rare cases, a Lambda runtime update can cause unexpected function behavior. For "
                  "functions using managed runtimes, runtime updates can be triggered by a function change, or can "
                  "be applied automatically. To determine if the runtime has been updated, check the runtime "
                  "version in the INIT_START log entry. If this error correlates with a change in the runtime "
                  "version, you may be able to mitigate this error by temporarily rolling back to the previous "
                  "runtime version. For more information, see "
                  "https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html\n")
_DOTNET_LEVEL = {"DEBUG": "dbug", "INFO": "info", "WARN": "warn", "ERROR": "fail"}
_THROTTLES = ("TooManyRequestsException: Rate Exceeded.", "ThrottlingException: Rate exceeded",
              "ProvisionedThroughputExceededException: The level of configured provisioned "
              "throughput for the table was exceeded.")
_MESSAGES = ("processing order {}", "fetched {} items from DynamoDB", "cache miss for key user#{}",
             "Bestellung {} für Jürgen Müller angelegt ✓", "注文 {} を処理しました",
             "payment of €{} authorised", "sent {} bytes to S3", "Zahlung {} empfangen — Größe: groß 🚀",
             "validated request body ({} fields)", "published {} events to EventBridge")
_LONG_LINE = "full response: " + orjson.dumps({"items": [
    {"sku": f"SKU-{i:05d}", "qty": i % 7, "name": "Überraschungsei 🥚"} for i in range(160)]}).decode()


@functools.lru_cache(maxsize=8192)
def _second(sec: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))


def iso(ms: int) -> str:
    """ISO 8601 UTC with milliseconds, as Lambda prints it."""
    sec, rem = divmod(ms, 1000)
    return f"{_second(sec)}.{rem:03d}Z"


def text_report(rid: str, duration: float, billed: int, memory: int, used: int, *,
                init: float | None = None, restore: float | None = None,
                billed_restore: int | None = None, status: str | None = None,
                error_type: str | None = None, xray: tuple[str, str] | None = None) -> str:
    """A text REPORT line: tab-separated, a trailing tab unless it ends with a Status."""
    parts = [f"REPORT RequestId: {rid}", f"Duration: {duration:.2f} ms", f"Billed Duration: {billed} ms",
             f"Memory Size: {memory} MB", f"Max Memory Used: {used} MB"]
    if init is not None:
        parts.append(f"Init Duration: {init:.2f} ms")
    if restore is not None:
        parts += [f"Restore Duration: {restore:.2f} ms", f"Billed Restore Duration: {billed_restore} ms"]
    if status:
        parts.append(f"Status: {status}")
        if error_type:
            parts.append(f"Error Type: {error_type}")
    line = "\t".join(parts) + ("\n" if status else "\t\n")
    if xray:
        line += f"XRAY TraceId: {xray[0]}\tSegmentId: {xray[1]}\tSampled: true\n"
    return line


def _platform(ms: int, kind: str, record: dict) -> str:
    return orjson.dumps({"time": iso(ms), "type": f"platform.{kind}", "record": record}).decode()



def _tracing(rng: random.Random, xray: str) -> dict:
    return {"spanId": f"{rng.getrandbits(64):016x}", "type": "X-Amzn-Trace-Id",
            "value": f"Root={xray};Parent={rng.getrandbits(64):016x};Sampled=1"}


def _app_line(spec: FunctionSpec, ms: int, rid: str, level: str, message: str) -> str:
    """An application log line in the runtime's own prefix style (or the JSON log format)."""
    runtime = spec.runtime
    if spec.log_format == "json":
        rec = {"timestamp": iso(ms), "level": level, "message": message}
        if runtime == "python3.12":
            rec["logger"] = "root"
        rec["requestId"] = rid
        return orjson.dumps(rec).decode()
    if runtime == "python3.12":
        return f"[{level}]\t{iso(ms)}\t{rid}\t{message}\n"
    if runtime == "nodejs20.x":
        return f"{iso(ms)}\t{rid}\t{level}\t{message}\n"
    if runtime == "java21":
        return f"{iso(ms)} {rid} {level} com.example.Handler - {message}\n"
    if runtime == "dotnet8":  # .NET's text format: the Microsoft.Extensions.Logging short level
        return f"{iso(ms)}\t{rid}\t{_DOTNET_LEVEL.get(level, level.lower())}\t{message}\n"
    if runtime == "ruby3.3":  # Ruby's Logger, the request id before its ' -- :'
        stamp = f"{_second(ms // 1000)}.{ms % 1000:03d}000"
        return f"{level[0]}, [{stamp} #8] {level:>5} {rid} -- : {message}\n"
    return f"{_second(ms // 1000).replace('-', '/').replace('T', ' ')}.{ms % 1000:03d}000 {level} {message}\n"


def _powertools_line(spec: FunctionSpec, ms: int, rid: str, kind: str, correlation: str | None,
                     xray: str | None, parent_rid: str | None, c: FleetConfig) -> str:
    """A Powertools Logger record: where correlation and X-Ray ids reach the logs."""
    stamp = (f"{_second(ms // 1000).replace('T', ' ')},{ms % 1000:03d}+0000" if spec.runtime == "python3.12"
             else iso(ms))
    rec = {"level": "INFO", "location": "handler:42", "message": "request accepted", "timestamp": stamp,
           "service": spec.name, "cold_start": kind in ("on-demand", "snapstart"), "function_name": spec.name,
           "function_memory_size": str(spec.memory_mb),
           "function_arn": f"arn:aws:lambda:{c.region}:{c.account}:function:{spec.name}",
           "function_request_id": rid}
    if correlation:
        rec["correlation_id"] = correlation
    if xray:
        rec["xray_trace_id"] = xray
    if parent_rid:
        rec["parent_request_id"] = parent_rid
    line = orjson.dumps(rec).decode()
    return line if spec.log_format == "json" else line + "\n"


def _error_lines(spec: FunctionSpec, rng: random.Random, ms: int, rid: str, etype: str, emsg: str,
                 code: str) -> list[str]:
    """What an uncaught exception leaves in the log (a Python traceback is ONE event)."""
    stack = _STACKS[spec.runtime]
    if spec.log_format == "json":
        return [orjson.dumps({"timestamp": iso(ms), "level": "ERROR", "message": {
            "errorMessage": emsg, "errorType": etype, "requestId": rid, "stackTrace": stack},
            "requestId": rid}).decode()]
    if spec.runtime == "python3.12":
        frame = f'  File "/var/task/app.py", line 12, in handler\n    {code}\n'
        lines = [f"[ERROR] {etype}: {emsg}\nTraceback (most recent call last):\n{frame}"]
        if rng.random() < 0.5:
            lines.append(json.dumps({"errorMessage": emsg, "errorType": etype, "requestId": rid,
                                     "stackTrace": [frame]}, ensure_ascii=False) + "\n")
        lines.append(LAMBDA_WARNING)
        return lines
    if spec.runtime == "nodejs20.x":
        body = orjson.dumps({"errorType": etype, "errorMessage": emsg, "stack": [f"{etype}: {emsg}", *stack]})
        return [f"{iso(ms)}\t{rid}\tERROR\tInvoke Error \t{body.decode()}\n"]
    return [orjson.dumps({"errorMessage": emsg, "errorType": etype, "requestId": rid,
                          "stackTrace": stack}).decode() + "\n"]
