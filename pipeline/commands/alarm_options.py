"""Alarm options of ``run`` (and ``--incident`` of ``run``/``simulate``). Secrets are never
options: the webhook URL (a Slack URL carries its token) is read from the environment
variable that ``--webhook-url-env`` names; SNS uses the usual AWS credential chain."""

from __future__ import annotations

import argparse
import glob
import os
from dataclasses import replace
from typing import Any

from pipeline.errors import UsageError
from pipeline.rules import FunctionSettings, RulesError, load_rules
from pipeline.sinks.alarms import AlarmSettings
from pipeline.sources.incidents import parse_incident
from pipeline.transforms.metrics_and_alarms import AlarmConfig


def add_incident_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--incident", action="append", default=[], metavar="KIND:FUNCTION:START-END[:INTENSITY]",
                   help="inject an incident into the simulated fleet (repeatable): KIND is error_burst, "
                        "throttle_storm, timeout_regression or consumer_lag; START-END are minutes, e.g. "
                        "error_burst:orders-api:3-6")


def add_alarm_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("alarms")
    g.add_argument("--rules", default=None, metavar="FILE",
                   help="alarm rules YAML on top of the built-in ones (pipeline/rules/defaults.yaml shows the shape)")
    g.add_argument("--metrics-input", action="append", default=[], metavar="PATH|GLOB",
                   help="NDJSON metric records (CloudWatch Throttles, IteratorAge, ...) to index and alarm on "
                        "(repeatable); a simulated fleet's own cloudwatch_metrics.ndjson is read by itself")
    g.add_argument("--alarms-stdout", action="store_true", help="print each alarm transition as it is raised")
    g.add_argument("--sns-topic-arn", default=None, metavar="ARN", help="publish each alarm transition to this SNS topic")
    g.add_argument("--sns-endpoint-url", default=None, metavar="URL",
                   help="SNS endpoint (a local AWS endpoint; default: AWS's own for the topic's region)")
    g.add_argument("--webhook-url-env", default=None, metavar="ENV_VAR",
                   help="name of the environment variable holding a webhook URL (Slack-compatible JSON, with retries)")
    g.add_argument("--webhook-retries", type=int, default=4, metavar="N", help="retries of a failed webhook delivery")
    g.add_argument("--webhook-insecure", action="store_true",
                   help="do not verify the webhook's TLS certificate (tests only; prints a warning)")
    g.add_argument("--advice-alarms", action=argparse.BooleanOptionalAction, default=None,
                   help="raise version-regression and runtime-update findings as alarms (coldtrace-alarms, SNS, "
                        "webhook, --alarms-stdout), each once; default: on with --streaming, off otherwise")
    add_incident_argument(p)


def incidents_from_args(args: argparse.Namespace) -> tuple:
    try:
        return tuple(parse_incident(text) for text in args.incident)
    except ValueError as exc:
        raise UsageError(f"--incident: {exc}") from None


def alarm_config(args: argparse.Namespace):
    """The run's AlarmConfig from the options; a bad rules file, metrics pattern or webhook
    variable is a UsageError (checked before anything runs)."""
    try:
        rules = load_rules(args.rules)
    except RulesError as exc:
        raise UsageError(f"--rules: {exc}") from None
    metrics_inputs = []
    for pat in args.metrics_input:
        if "://" not in pat and not _matches(pat):
            raise UsageError(f"no file matches --metrics-input {pat!r}")
        metrics_inputs.append(pat if "://" in pat else os.path.abspath(pat))
    try:
        notify = AlarmSettings.from_env(os.environ, webhook_url_env=args.webhook_url_env, stdout=args.alarms_stdout,
                                        sns_topic_arn=args.sns_topic_arn, sns_endpoint_url=args.sns_endpoint_url,
                                        webhook_retries=args.webhook_retries,
                                        webhook_insecure=getattr(args, "webhook_insecure", False))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return AlarmConfig(rules=rules, metrics_inputs=metrics_inputs, notify=notify)


def with_simulation(config, truth: dict[str, Any], sim_dir: str):
    """What a simulated fleet knows on top of the user's settings: each function's timeout and
    reserved concurrency, and its CloudWatch metrics feed."""
    reserved = truth.get("settings", {})
    rules = config.rules.with_functions({
        fn: FunctionSettings(timeout_s=facts.get("timeout_s"),
                             reserved_concurrency=reserved.get(fn, {}).get("reserved_concurrency"))
        for fn, facts in truth["functions"].items()})
    inputs = list(config.metrics_inputs)
    feed = truth.get("cloudwatch_metrics")
    if feed and os.path.exists(os.path.join(sim_dir, feed)):
        inputs.append(os.path.abspath(os.path.join(sim_dir, feed)))
    return replace(config, rules=rules, metrics_inputs=inputs)


def _matches(pattern: str) -> bool:
    return bool(glob.glob(os.path.join(pattern, "*") if os.path.isdir(pattern) else pattern))
