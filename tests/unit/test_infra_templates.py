"""The CloudFormation/SAM templates: cfn-lint clean, least privilege, and in step with the forwarder."""

from __future__ import annotations

from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint_file

import forwarder.settings as settings_module
from forwarder.settings import Settings
from tests.infra_support import INFRA, TEMPLATES, Resolver, load, parameter_defaults

FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
POLICY_TYPES = ("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
# Actions that support no resource-level permissions: AWS requires Resource "*" for them.
STAR_RESOURCE_OK = {"cloudwatch:GetMetricData", "cloudwatch:PutMetricData", "xray:PutTraceSegments",
                    "xray:PutTelemetryRecords"}


def test_there_are_templates_to_check():
    assert {p.name for p in TEMPLATES} >= {"template.yaml", "autosubscriber.yaml"}


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_cfn_lint_passes(path: Path):
    matches = lint_file(path, config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    assert [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches] == []


def _statements(template: dict) -> list[tuple[str, dict]]:
    out = []
    for name, res in _resources(template).items():
        if res.get("Type") not in POLICY_TYPES:
            continue
        props = res.get("Properties") or {}
        docs = [p["PolicyDocument"] for p in props.get("Policies") or []]
        if "PolicyDocument" in props:
            docs.append(props["PolicyDocument"])
        for doc in docs:
            stmts = doc["Statement"]
            out.extend((name, s) for s in (stmts if isinstance(stmts, list) else [stmts]))
    return out


def _resources(template: dict) -> dict[str, dict]:
    """Resources, without Fn::ForEach blocks (lists) — those hold no IAM or functions here."""
    return {n: r for n, r in template["Resources"].items() if isinstance(r, dict)}


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _resource_text(resource) -> str:
    if isinstance(resource, str):
        return resource
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        sub = resource["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    return "<ref>"  # Ref / GetAtt: one resource of this stack


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_iam_is_least_privilege(path: Path):
    template = load(path)
    statements = _statements(template)
    assert statements, "no IAM policy found"
    for owner, stmt in statements:
        assert stmt["Effect"] == "Allow" and "NotAction" not in stmt and "NotResource" not in stmt
        actions = _as_list(stmt["Action"])
        for action in actions:
            assert action != "*" and not action.endswith(":*"), f"{owner}: wildcard action {action}"
            assert action not in ("iam:PassRole", "sts:AssumeRole") or owner.endswith("Role")
        for resource in _as_list(stmt["Resource"]):
            text = _resource_text(resource)
            if text == "<ref>" or (text.startswith("${") and not text.startswith("${AWS::")):
                continue  # this stack's own resource (or a path under it)
            if text == "*":
                assert set(actions) <= STAR_RESOURCE_OK, f"{owner}: Resource '*' for {actions}"
                continue
            parts = text.split(":", 5)
            assert len(parts) == 6 and parts[5] not in ("*", "log-group:*") and "*" not in parts[2:5], (
                f"{owner}: {text} is not scoped to a resource")


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_each_function_has_its_own_role_with_only_inline_policies(path: Path):
    template = load(path)
    resources = _resources(template)
    functions = {n: r for n, r in resources.items() if r.get("Type") in FUNCTION_TYPES}
    assert functions
    roles = []
    for name, fn in functions.items():
        props = fn["Properties"]
        assert "Policies" not in props, f"{name}: SAM policy templates would add a generated role"
        role = props["Role"]["Fn::GetAtt"]
        role = role if isinstance(role, list) else role.split(".")
        assert role[1] == "Arn" and resources[role[0]]["Type"] == "AWS::IAM::Role"
        assert "ManagedPolicyArns" not in resources[role[0]]["Properties"]  # AWS-managed policies are broad
        trust = resources[role[0]]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert [s["Principal"] for s in trust] == [{"Service": "lambda.amazonaws.com"}]
        roles.append(role[0])
    assert len(roles) == len(set(roles))


def test_forwarder_template_has_the_promised_parts():
    t = load(INFRA / "template.yaml")
    res = _resources(t)
    types = {r["Type"] for r in res.values()}
    assert {"AWS::Kinesis::Stream", "AWS::SQS::Queue", "AWS::SSM::Parameter", "AWS::Logs::LogGroup",
            "AWS::Lambda::Permission", "AWS::CloudWatch::Alarm"} <= types
    fn = res["ForwarderFunction"]["Properties"]
    assert fn["Runtime"] == "python3.12" and fn["Architectures"] == [{"Ref": "Architecture"}]
    assert t["Parameters"]["Architecture"]["Default"] == "arm64"
    assert {"FunctionMemory", "FunctionTimeout", "ReservedConcurrency", "StreamMode", "ShardCount"} <= set(t["Parameters"])
    assert res["IngressStream"]["Properties"]["StreamEncryption"]["EncryptionType"] == "KMS"
    assert "RedrivePolicy" in res["DeadLetterQueue"]["Properties"]
    assert res["ForwarderLogGroup"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    subscriptions = t["Resources"]["Fn::ForEach::Subscriptions"]
    assert subscriptions[1] == {"Ref": "LogGroupNames"}
    alarms = {n: r["Properties"] for n, r in res.items() if r.get("Type") == "AWS::CloudWatch::Alarm"}
    metrics = {p.get("MetricName") or p["Metrics"][0]["MetricStat"]["Metric"]["MetricName"] for p in alarms.values()}
    assert metrics == {"Errors", "Throttles", "IteratorAge", "ApproximateNumberOfMessagesVisible",
                       "ConcurrentExecutions"}
    assert alarms["ConcurrencyAlarm"]["Threshold"] == 80


def test_forwarder_environment_is_valid_settings():
    """The variables the template sets are ones the forwarder reads, with values it accepts."""
    t = load(INFRA / "template.yaml")
    params = parameter_defaults(t, LogGroupNames=["/aws/lambda/orders"])
    refs = {**params, "AWS::StackName": "coldtrace", "AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012",
            "AWS::Partition": "aws", "DeadLetterQueue": "https://sqs.eu-west-1.amazonaws.com/123456789012/dlq",
            "RedactKeyParameter": "/coldtrace/coldtrace/redact-key"}
    attrs = {"IngressStream.Arn": "arn:aws:kinesis:eu-west-1:123456789012:stream/ingress"}
    env = Resolver(t, refs, attrs)(t["Resources"]["ForwarderFunction"]["Properties"]["Environment"]["Variables"])

    source = Path(settings_module.__file__).read_text()
    assert all(f'"{name}"' in source for name in env), "the template sets a variable the forwarder never reads"
    s = Settings.from_env({**env, "AWS_REGION": "eu-west-1"})
    assert (s.shipper, s.stream, s.redact_key_ref) == ("kinesis", attrs["IngressStream.Arn"],
                                                      "ssm:/coldtrace/coldtrace/redact-key")
    assert env["COLDTRACE_COMPRESS"] == "true" and s.compress   # records are gzip unless a deployment says not
