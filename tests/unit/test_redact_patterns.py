"""The redaction patterns on lines shaped like what Lambda functions really log: each pattern
with lines it must redact and look-alikes it must leave alone.

Shapes follow public sources: botocore's debug logging of a credentials dict, the AWS CLI's
``~/.aws/credentials`` format, node-postgres / pymongo / redis-py connection errors, Microsoft's
JDBC and ODBC connection-string syntax, GitHub's, Slack's and Stripe's documented token formats
(the example values are the vendors' documentation examples or made up to that format).
"""

from __future__ import annotations

import pytest

from pipeline.model import LogEvent
from pipeline.parse.redact import BUILTIN_NAMES, CLASSIC_NAMES, Redactor, redactor_for

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"     # AWS's documentation example
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
GHP = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
PAT = "github_pat_11ABCDEFG0" + "a" * 12 + "_" + "B" * 59
SLACK = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"
STRIPE = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"

REDACTED = [  # (line, what must be gone, pattern name)
    (f"aws_secret_access_key = {AWS_SECRET}", AWS_SECRET, "aws_secret_key"),
    (f"DEBUG credentials {{'AccessKeyId': 'ASIAEXAMPLE', 'SecretAccessKey': '{AWS_SECRET}', 'Token': 'x'}}",
     AWS_SECRET, "aws_secret_key"),
    (f'{{"level":"info","env":{{"AWS_SECRET_ACCESS_KEY":"{AWS_SECRET}","AWS_REGION":"eu-west-1"}}}}', AWS_SECRET,
     "aws_secret_key"),
    (f"config secret_key => \"{AWS_SECRET}\"", AWS_SECRET, "aws_secret_key"),
    ("loaded -----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n-----END RSA PRIVATE KEY----- from ssm",
     "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo", "private_key"),
    ('{"key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n-----END PRIVATE KEY-----\\n"}',
     "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "private_key"),
    ("-----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAA", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAA",
     "private_key"),                                    # a runtime split the block: the rest of the line goes
    (f"session cookie={JWT}; Path=/", JWT, "jwt"),
    (f'{{"id_token":"{JWT}"}}', JWT, "jwt"),
    (f"git clone https://x-access-token:{GHP}@github.com/o/r fetch", GHP, "github_token"),  # tagged once
    (f"GITHUB_TOKEN={GHP}", GHP, "github_token"),
    (f"using token {PAT} for the API", PAT, "github_token"),
    (f"slack post failed token={SLACK} channel=C1", SLACK, "slack_token"),
    (f"stripe.api_key = '{STRIPE}'", STRIPE, "stripe_key"),
    ("rk_live_51H8sPqLyjWDarjtT1zdp7dcAbCd restricted", "rk_live_51H8sPqLyjWDarjtT1zdp7dcAbCd", "stripe_key"),
    ("error: connect ECONNREFUSED postgres://app:S3cr3t-Pa55@db.internal:5432/orders", "S3cr3t-Pa55", "url_password"),
    ("pymongo: mongodb+srv://svc:hunter2mongo@cluster0.ab1cd.mongodb.net/test?retryWrites=true", "hunter2mongo",
     "url_password"),
    ("redis.exceptions.ConnectionError: redis://:r3disPass@cache.internal:6379/0", "r3disPass", "url_password"),
    ("jdbc:sqlserver://db.internal:1433;databaseName=app;user=sa;password=Pa55w0rd!;encrypt=true", "Pa55w0rd!",
     "connection_password"),
    ("jdbc:mysql://db.internal:3306/app?user=app&password=myS3cret&useSSL=true", "myS3cret", "connection_password"),
    ("Driver={ODBC Driver 18};Server=tcp:db,1433;Uid=app;PWD=OdbcSecret9;", "OdbcSecret9", "connection_password"),
]

LEFT_ALONE = [
    "deploying commit 3f786850e387550fdab836ed7e6dc881de23001b to prod",         # a 40-char git sha
    "etag wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY in the cache",                # 40 chars, no key name
    f"secret_key_id: {AWS_SECRET}",                                              # not a secret-key name
    "SecretAccessKey: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLE",                    # 36 chars: not a key
    "secret_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYX",                    # 41 chars: not a key
    "-----BEGIN PUBLIC KEY----- MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A -----END PUBLIC KEY-----",
    "-----BEGIN CERTIFICATE----- MIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBa",
    "payload eyJhbGciOiJIUzI1NiJ9 only a base64 JSON header",                     # one part: not a token
    "version eyJ.eyJ.x too short",
    "branch ghp_fix-login merged",                                              # too short
    "highlight through ghp_",
    "xoxo-hugs from the team; xoxb-short",
    "sk_test_ without a key, disk_live_metrics_enabled_for_all=true, task_live_1234567890abcdefgh",
    "PWD=/var/task",                                                           # the shell's working directory
    "password= (empty) and forgot_password=true and password_reset=1",
    "GET https://example.com:8443/path?q=1 and http://[::1]:8080/health",
    "bucket s3://my-bucket/key:with:colons/file",
]


@pytest.mark.parametrize("line, secret, name", REDACTED, ids=[f"{n}-{i}" for i, (_, _, n) in enumerate(REDACTED)])
def test_each_pattern_redacts_what_it_names(line, secret, name):
    counts: dict[str, int] = {}
    out = redactor_for().redact_text(line, counts)
    assert secret not in out
    assert f"[REDACTED:{name}]" in out and counts == {name: 1}


@pytest.mark.parametrize("line", LEFT_ALONE)
def test_look_alikes_are_left_alone(line):
    counts: dict[str, int] = {}
    assert redactor_for().redact_text(line, counts) == line and counts == {}


def test_only_the_secret_goes_the_rest_of_the_line_stays():
    r = redactor_for()
    assert r.redact_text("jdbc:mysql://h/app?user=app&password=myS3cret&useSSL=true") == \
        "jdbc:mysql://h/app?user=app&password=[REDACTED:connection_password]&useSSL=true"
    assert r.redact_text(f'{{"SecretAccessKey": "{AWS_SECRET}", "Expiration": "2024"}}') == \
        '{"SecretAccessKey": "[REDACTED:aws_secret_key]", "Expiration": "2024"}'
    assert r.redact_text("a -----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY----- b") == \
        "a [REDACTED:private_key] b"
    assert r.redact_text(f"Authorization: Bearer {JWT}") == "Authorization: Bearer [REDACTED:bearer_token]"


def test_batch_redaction_with_the_new_patterns_equals_line_by_line():
    """The hint fast path (one substring search of the joined batch, then per line) finds what
    the line-by-line path finds."""
    r = redactor_for(key=b"k")
    texts = [line for line, _, _ in REDACTED] + LEFT_ALONE + ["plain line"] * 5
    events = [LogEvent(id=str(i), timestamp=i, message=t, log_group="/aws/lambda/f", log_stream="s")
              for i, t in enumerate(texts)]
    counts = r.redact_events(events)
    assert [e.message for e in events] == [r.redact_text(t) for t in texts]
    assert sum(counts.values()) == len(REDACTED)


def test_every_pattern_can_be_chosen_alone_and_the_classic_set_is_a_subset():
    assert set(CLASSIC_NAMES) < set(BUILTIN_NAMES)
    for line, secret, name in REDACTED:
        assert secret not in Redactor([name]).redact_text(line)
