"""Deploy what a local AWS endpoint supports from infra/template.yaml, and send a log line through.

moto's server takes the stream, the queues (with the template's redrive policy), the SSM
parameter, the log groups, the IAM role with the template's policy, the function from the
built zip (with the template's runtime, architecture, memory, timeout, concurrency and
environment, intrinsic functions resolved against what was created), the invoke permission and
the subscription filter. moto cannot run a Lambda without Docker, so CloudWatch Logs' delivery
is captured through a second subscription (to a Kinesis stream: moto builds the real gzipped
DATA_MESSAGE envelope there) and handed to the forwarder's handler in-process, configured with
exactly the deployed function's environment.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import time

import boto3
import orjson
import pytest

import forwarder.handler as handler_module
from forwarder.build import build
from pipeline.model import LogEvent
from tests.infra_support import INFRA, Resolver, load, parameter_defaults

REGION, ACCOUNT, STACK = "eu-west-1", "123456789012", "coldtrace"
APP_GROUP = "/aws/lambda/orders"
APP_STREAM = "2024/05/01/[$LATEST]0225597e48f74a659916f0e482df5b92"


class Context:
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{STACK}-forwarder"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def clients(endpoint: str):
    return {s: boto3.client(s, region_name=REGION, endpoint_url=endpoint)
            for s in ("kinesis", "sqs", "ssm", "logs", "iam", "lambda")}


def records_of(kinesis, name: str) -> list[dict]:
    out = []
    for shard in kinesis.list_shards(StreamName=name)["Shards"]:
        it = kinesis.get_shard_iterator(StreamName=name, ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        out.extend(kinesis.get_records(ShardIterator=it, Limit=1000)["Records"])
    return out


def deploy(endpoint: str, zip_bytes: bytes) -> tuple[dict, dict]:
    """Create the template's resources in moto; returns (resolved function properties, clients)."""
    c = clients(endpoint)
    t = load(INFRA / "template.yaml")
    res = t["Resources"]
    params = parameter_defaults(t, LogGroupNames=[APP_GROUP])
    refs: dict = {**params, "AWS::StackName": STACK, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT,
                  "AWS::Partition": "aws"}
    attrs: dict = {}
    r = Resolver(t, refs, attrs)

    stream = r(res["IngressStream"]["Properties"])
    c["kinesis"].create_stream(StreamName=f"{STACK}-ingress", StreamModeDetails=stream["StreamModeDetails"])
    enc = stream["StreamEncryption"]
    c["kinesis"].start_stream_encryption(StreamName=f"{STACK}-ingress", EncryptionType=enc["EncryptionType"],
                                         KeyId=enc["KeyId"])
    desc = c["kinesis"].describe_stream(StreamName=f"{STACK}-ingress")["StreamDescription"]
    refs["IngressStream"], attrs["IngressStream.Arn"] = desc["StreamName"], desc["StreamARN"]

    for name in ("PoisonQueue", "DeadLetterQueue"):
        props = r(res[name]["Properties"])
        attributes = {k: (json.dumps(v) if isinstance(v, dict) else str(v).lower() if isinstance(v, bool) else str(v))
                      for k, v in props.items()}
        url = c["sqs"].create_queue(QueueName=f"{STACK}-{name}", Attributes=attributes)["QueueUrl"]
        arn = c["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        refs[name], attrs[f"{name}.Arn"], attrs[f"{name}.QueueName"] = url, arn, f"{STACK}-{name}"

    param = r(res["RedactKeyParameter"]["Properties"])
    c["ssm"].put_parameter(Name=param["Name"], Type=param["Type"], Value=param["Value"])
    refs["RedactKeyParameter"] = param["Name"]

    group = r(res["ForwarderLogGroup"]["Properties"])
    c["logs"].create_log_group(logGroupName=group["LogGroupName"])
    c["logs"].put_retention_policy(logGroupName=group["LogGroupName"], retentionInDays=int(group["RetentionInDays"]))
    attrs["ForwarderLogGroup.Arn"] = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group['LogGroupName']}:*"

    role = r(res["ForwarderRole"]["Properties"])
    created = c["iam"].create_role(RoleName=f"{STACK}-forwarder",
                                   AssumeRolePolicyDocument=json.dumps(role["AssumeRolePolicyDocument"]))
    for policy in role["Policies"]:
        c["iam"].put_role_policy(RoleName=f"{STACK}-forwarder", PolicyName=policy["PolicyName"],
                                 PolicyDocument=json.dumps(policy["PolicyDocument"]))
    attrs["ForwarderRole.Arn"] = created["Role"]["Arn"]

    fn = r(res["ForwarderFunction"]["Properties"])
    deployed = c["lambda"].create_function(
        FunctionName=fn["FunctionName"], Runtime=fn["Runtime"], Role=fn["Role"], Handler=fn["Handler"],
        Code={"ZipFile": zip_bytes}, Architectures=fn["Architectures"], MemorySize=int(fn["MemorySize"]),
        Timeout=int(fn["Timeout"]), Environment={"Variables": fn["Environment"]["Variables"]},
        DeadLetterConfig={"TargetArn": fn["DeadLetterQueue"]["TargetArn"]})
    c["lambda"].put_function_concurrency(FunctionName=fn["FunctionName"],
                                         ReservedConcurrentExecutions=int(fn["ReservedConcurrentExecutions"]))
    attrs["ForwarderFunction.Arn"] = deployed["FunctionArn"]

    perm = r(res["LogsInvokePermission"]["Properties"])
    c["lambda"].add_permission(FunctionName=fn["FunctionName"], StatementId="logs", Action=perm["Action"],
                               Principal=perm["Principal"], SourceArn=perm["SourceArn"],
                               SourceAccount=perm["SourceAccount"])
    loop_var, collection, body = t["Resources"]["Fn::ForEach::Subscriptions"]
    (_name, sub), = body.items()
    for log_group in r(collection):
        refs[loop_var] = log_group
        props = r(sub["Properties"])
        c["logs"].create_log_group(logGroupName=props["LogGroupName"])
        c["logs"].put_subscription_filter(logGroupName=props["LogGroupName"], filterName=props["FilterName"],
                                          filterPattern=props["FilterPattern"], destinationArn=props["DestinationArn"])
    return fn, c


@pytest.fixture(scope="module")
def forwarder_zip(tmp_path_factory) -> bytes:
    return build(tmp_path_factory.mktemp("dist") / "forwarder.zip", arch="local", log=lambda *_: None).read_bytes()


def test_deployed_stack_round_trips_a_log_line_into_the_stream(moto_reset, forwarder_zip, monkeypatch):
    fn, c = deploy(moto_reset, forwarder_zip)

    # What was deployed is what the template says.
    conf = c["lambda"].get_function_configuration(FunctionName=fn["FunctionName"])
    assert (conf["Runtime"], conf["Architectures"], conf["MemorySize"], conf["Timeout"]) == (
        "python3.12", ["arm64"], 256, 60)
    assert conf["CodeSize"] == len(forwarder_zip) and conf["Handler"] == "forwarder.handler.handler"
    assert c["lambda"].get_function_concurrency(FunctionName=fn["FunctionName"])["ReservedConcurrentExecutions"] == 20
    dlq = fn["Environment"]["Variables"]["COLDTRACE_DLQ_URL"]
    redrive = json.loads(c["sqs"].get_queue_attributes(QueueUrl=dlq, AttributeNames=["RedrivePolicy"])
                         ["Attributes"]["RedrivePolicy"])
    assert redrive["maxReceiveCount"] == 5 and redrive["deadLetterTargetArn"].endswith("PoisonQueue")
    stream = c["kinesis"].describe_stream(StreamName=f"{STACK}-ingress")["StreamDescription"]
    assert stream["EncryptionType"] == "KMS"
    (sub,) = c["logs"].describe_subscription_filters(logGroupName=APP_GROUP)["subscriptionFilters"]
    assert sub["destinationArn"] == conf["FunctionArn"]

    # moto cannot invoke the function (no Docker): capture CloudWatch Logs' delivery on a stream.
    c["kinesis"].create_stream(StreamName="capture", ShardCount=1)
    capture_arn = c["kinesis"].describe_stream(StreamName="capture")["StreamDescription"]["StreamARN"]
    c["logs"].put_subscription_filter(logGroupName=APP_GROUP, filterName="capture", filterPattern="",
                                      destinationArn=capture_arn)
    c["logs"].create_log_stream(logGroupName=APP_GROUP, logStreamName=APP_STREAM)
    now = int(time.time() * 1000)
    lines = ["START RequestId: 6b2a7c1e-3d4f-4a5b-8c6d-7e8f9a0b1c2d Version: $LATEST\n",
             "[INFO]\t2024-05-01T10:00:00.123Z\t6b2a7c1e-3d4f-4a5b-8c6d-7e8f9a0b1c2d\tmail sent to jane@example.com\n",
             "REPORT RequestId: 6b2a7c1e-3d4f-4a5b-8c6d-7e8f9a0b1c2d\tDuration: 102.25 ms\tBilled Duration: 103 ms\t"
             "Memory Size: 128 MB\tMax Memory Used: 70 MB\tInit Duration: 236.31 ms\t\n"]
    c["logs"].put_log_events(logGroupName=APP_GROUP, logStreamName=APP_STREAM,
                             logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(lines)])
    (delivery,) = records_of(c["kinesis"], "capture")
    event = {"awslogs": {"data": base64.b64encode(delivery["Data"]).decode()}}

    # The forwarder, configured exactly as the deployed function is.
    for key, value in {**conf["Environment"]["Variables"], "AWS_REGION": REGION, "AWS_ENDPOINT_URL": moto_reset,
                       "AWS_LAMBDA_FUNCTION_NAME": conf["FunctionName"],
                       "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{conf['FunctionName']}"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(handler_module, "_FORWARDER", None)
    assert handler_module.handler(event, Context()) == {"shipped": 3, "dead_lettered": 0}

    shipped = [LogEvent.from_record(orjson.loads(line)) for rec in records_of(c["kinesis"], f"{STACK}-ingress")
               for line in gzip.decompress(rec["Data"]).splitlines()]   # the template's default: gzip records
    assert [e.message for e in shipped][::2] == [lines[0], lines[2]]
    key = c["ssm"].get_parameter(Name=f"/coldtrace/{STACK}/redact-key")["Parameter"]["Value"].encode()
    tag = hmac.new(key, b"jane@example.com", hashlib.sha256).hexdigest()[:12]
    assert shipped[1].message == lines[1].replace("jane@example.com", f"[REDACTED:email:{tag}]")
    assert {(e.function_name, e.function_version, e.account, e.region) for e in shipped} == {
        ("orders", "$LATEST", ACCOUNT, REGION)}


def test_auto_subscriber_subscribes_new_function_log_groups_but_never_the_forwarders(
        moto_reset, forwarder_zip, monkeypatch):
    fn, c = deploy(moto_reset, forwarder_zip)
    t = load(INFRA / "autosubscriber.yaml")
    props = t["Resources"]["SubscriberFunction"]["Properties"]
    forwarder_arn = c["lambda"].get_function(FunctionName=fn["FunctionName"])["Configuration"]["FunctionArn"]
    own_group = f"/aws/lambda/{fn['FunctionName']}"
    refs = {**parameter_defaults(t, ForwarderArn=forwarder_arn, ForwarderLogGroupName=own_group)}
    env = Resolver(t, refs, {})(props["Environment"]["Variables"])
    for key, value in {**env, "AWS_ENDPOINT_URL": moto_reset, "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    namespace: dict = {}
    exec(compile(props["Code"]["ZipFile"], "index.py", "exec"), namespace)  # the template's inline code

    def created(group: str) -> dict:
        c["logs"].create_log_group(logGroupName=group)
        return {"source": "aws.logs", "detail-type": "AWS API Call via CloudTrail",
                "detail": {"eventSource": "logs.amazonaws.com", "eventName": "CreateLogGroup",
                           "requestParameters": {"logGroupName": group}}}

    assert namespace["handler"](created("/aws/lambda/new-fn"), None) == {"subscribed": "/aws/lambda/new-fn"}
    (sub,) = c["logs"].describe_subscription_filters(logGroupName="/aws/lambda/new-fn")["subscriptionFilters"]
    assert sub["destinationArn"] == forwarder_arn and sub["filterName"] == "coldtrace"
    assert namespace["handler"](created("/ecs/web"), None)["subscribed"] is None
    assert namespace["handler"]({"detail": {"requestParameters": {"logGroupName": own_group}}}, None)[
        "reason"] == "the forwarder's own log group"
    assert c["logs"].describe_subscription_filters(logGroupName=own_group)["subscriptionFilters"] == []
    rule = t["Resources"]["CreateLogGroupRule"]["Properties"]["EventPattern"]
    assert rule["detail"]["eventName"] == ["CreateLogGroup"]
