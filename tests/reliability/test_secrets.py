"""Nothing let in: secrets and personal data never reach a sink, credentials never reach a log.

``coldtrace run`` (a real process) reads payloads whose lines carry an AWS access key and secret
key, a bearer token, a JWT, a private-key block, GitHub, Slack and Stripe tokens, passwords in a URL
and in a JDBC connection string, a card number, an e-mail address and a user-defined session token,
with Elasticsearch, a webhook and stdout as sinks; then every output is searched: every file under
the output directory, every document in Elasticsearch, every webhook body, stdout and stderr.
A run with ``--no-redact`` shows the search would have found them.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest

from pipeline.local_index import index_path, read_index
from pipeline.model import INDEX_DEADLETTER, INDEX_INVOCATIONS, INDEX_LOGS
from pipeline.sinks.alarms import AlarmSettings
from pipeline.sinks.es_client import EsSettings, make_client
from pipeline.transforms.metrics_and_alarms import AlarmConfig
from tests.integration.es_support import FaultProxy, es, refresh, reset_coldtrace, self_signed_cert
from tests.reliability.support import run_pipeline
from tests.reliability.test_alarm_faults import incident_fleet  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]
RID = "0f1e2d3c-4b5a-4697-8877-665544332211"
SECRETS = {
    "aws_access_key": "AKIAIOSFODNN7EXAMPLE",
    "bearer_token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl",
    "url_password": "hunter2Secret",
    "card_number": "4111 1111 1111 1111",
    "card_number_plain": "4111111111111111",
    "email": "jane.doe@example.com",
    "session": "sess_ABCDEFGHIJKLMNOP",
    "aws_secret_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "private_key": "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
    "jwt": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjaGVja291dCJ9.bm90LWEtcmVhbC1zaWduYXR1cmU",
    "github_token": "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
    "slack_token": "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
    "stripe_key": "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "connection_password": "JdbcPa55w0rd!",
    "redis_password": "r3disPassw0rd",
}
CREDENTIALS = {"ES_API_KEY": "TopSecretApiKey123", "ES_PASSWORD": "EsPassw0rdSecret",
               "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY", "HOOK_URL_TOKEN": "xoxbHookTok3n"}


def secret_payload() -> dict:
    ts = 1714557600000
    lines = [
        f"START RequestId: {RID} Version: $LATEST\n",
        f"[INFO]\t2024-05-01T10:00:00.010Z\t{RID}\tuser {SECRETS['email']} paid with {SECRETS['card_number']}\n",
        f"[WARN]\t2024-05-01T10:00:00.020Z\t{RID}\tleaked key {SECRETS['aws_access_key']} in config, "
        f"card {SECRETS['card_number_plain']}\n",
        json.dumps({"level": "INFO", "message": f"calling with Authorization: Bearer {SECRETS['bearer_token']}",
                    "requestId": RID, "correlation_id": SECRETS["session"]}),
        f"[ERROR] ConnectionError: cannot reach postgres://admin:{SECRETS['url_password']}@db.internal:5432/app "
        f"for {SECRETS['email']}\nTraceback (most recent call last):\n  File \"/var/task/app.py\", line 3\n",
        f"[DEBUG]\t2024-05-01T10:00:00.030Z\t{RID}\tcredentials {{'AccessKeyId': 'ASIAXXXXXXXXXXXXXXXX', "
        f"'SecretAccessKey': '{SECRETS['aws_secret_key']}'}} id_token={SECRETS['jwt']}\n",
        json.dumps({"level": "WARN", "requestId": RID, "message": "config loaded",
                    "signing_key": f"-----BEGIN RSA PRIVATE KEY-----\n{SECRETS['private_key']}\n"
                                   "-----END RSA PRIVATE KEY-----\n",
                    "env": f"GITHUB_TOKEN={SECRETS['github_token']} SLACK={SECRETS['slack_token']} "
                           f"STRIPE={SECRETS['stripe_key']}"}),
        f"[INFO]\t2024-05-01T10:00:00.040Z\t{RID}\tjdbc:sqlserver://db:1433;user=sa;"
        f"password={SECRETS['connection_password']};encrypt=true cache redis://:{SECRETS['redis_password']}@cache:6379\n",
        f"END RequestId: {RID}\n",
        f"REPORT RequestId: {RID}\tDuration: 12.00 ms\tBilled Duration: 12 ms\tMemory Size: 128 MB\t"
        f"Max Memory Used: 60 MB\t\n",
    ]
    return {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/aws/lambda/checkout",
            "logStream": "2024/05/01/[$LATEST]00112233445566778899aabbccddeeff", "subscriptionFilters": ["f"],
            "logEvents": [{"id": f"9{i:05d}", "timestamp": ts + i, "message": m} for i, m in enumerate(lines)]}


def write_secret_inputs(directory: Path) -> list[str]:
    data = base64.b64encode(gzip.compress(orjson.dumps(secret_payload()))).decode()
    (directory / "secrets.ndjson").write_text(json.dumps({"awslogs": {"data": data}}) + "\n")
    (directory / "garbage.ndjson").write_text(  # undecodable: a dead letter that keeps its (redacted) input
        f"not a payload {SECRETS['aws_access_key']} {SECRETS['email']} https://u:{SECRETS['url_password']}@h/\n")
    return [str(directory / "secrets.ndjson"), str(directory / "garbage.ndjson")]


class Recorder:
    """A webhook receiver on 127.0.0.1 that keeps every body; ``status`` is what it answers."""

    def __init__(self, status: int = 200) -> None:
        self.bodies: list[bytes] = []
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                rec.bodies.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/{CREDENTIALS['HOOK_URL_TOKEN']}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def coldtrace(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env}, timeout=600)


def every_output(out: Path, proc: subprocess.CompletedProcess, extra: list[bytes]) -> dict[str, bytes]:
    """Everything a run left behind, by where it was found."""
    found = {"stdout": proc.stdout.encode(), "stderr": proc.stderr.encode()}
    for path in out.rglob("*"):
        if path.is_file():
            found[str(path.relative_to(out))] = path.read_bytes()
    for i, body in enumerate(extra):
        found[f"extra[{i}]"] = body
    return found


def leaks(outputs: dict[str, bytes], secrets: dict[str, str]) -> list[str]:
    """``where: name`` for every secret found anywhere, raw or JSON-escaped."""
    out = []
    for where, data in outputs.items():
        for name, value in secrets.items():
            if value.encode() in data or json.dumps(value)[1:-1].encode() in data:
                out.append(f"{where}: {name}")
    return out


def es_dump(url: str) -> bytes:
    refresh(url)
    return json.dumps(es(url, "POST", "/coldtrace-*/_search", {"size": 10000, "query": {"match_all": {}}})).encode()


def test_no_secret_reaches_any_sink(incident_fleet, es_url, tmp_path):  # noqa: F811
    reset_coldtrace(es_url)
    inputs = write_secret_inputs(tmp_path)
    hook = Recorder()
    out = tmp_path / "out"
    try:
        proc = coldtrace(["run", "--input", str(incident_fleet / "payloads-*.ndjson"), *sum((["--input", i] for i in inputs), []),
                          "--out", str(out), "--es-url", es_url, "--es-plain-json", "on", "--alarms-stdout",
                          "--webhook-url-env", "HOOK", "--redact-pattern", r"session=sess_[A-Za-z0-9]{16}"],
                         {"HOOK": hook.url})
    finally:
        hook.close()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert hook.bodies and "ALARM" in proc.stdout  # the webhook and stdout sinks did run
    outputs = every_output(out, proc, [es_dump(es_url), *hook.bodies])
    assert leaks(outputs, SECRETS) == []
    logs = index_path(str(out), INDEX_LOGS)
    texts = " ".join(d["message"] for _, d in read_index(logs) if d["log.group"] == "/aws/lambda/checkout")
    for name in ("aws_access_key", "bearer_token", "url_password", "card_number", "email", "session",
                 "aws_secret_key", "private_key", "jwt", "github_token", "slack_token", "stripe_key",
                 "connection_password"):
        assert f"[REDACTED:{name}]" in texts, name  # the lines were there, redacted
    (inv,) = [d for _, d in read_index(index_path(str(out), INDEX_INVOCATIONS)) if d["faas.execution"] == RID]
    assert "[REDACTED:url_password]" in inv["error.message"]
    (dead,) = [d for _, d in read_index(index_path(str(out), INDEX_DEADLETTER)) if "garbage" in d["coldtrace.source"]]
    assert "[REDACTED:aws_access_key]" in dead["event.original"]


def test_with_no_redact_the_search_finds_them(tmp_path):
    inputs = write_secret_inputs(tmp_path)
    out = tmp_path / "out"
    proc = coldtrace(["run", *sum((["--input", i] for i in inputs), []), "--out", str(out), "--no-redact", "-q",
                      "--no-report"], {})
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = {leak.split(": ")[1] for leak in leaks(every_output(out, proc, []), SECRETS) if "coldtrace-logs" in leak}
    assert found == set(SECRETS)  # every secret, as written


def test_credentials_never_reach_logs_or_error_messages(incident_fleet, tmp_path):  # noqa: F811
    """ES refusing the credentials (401), and a webhook whose URL holds a token failing every
    delivery: the failures are reported, the credentials are not."""
    secrets = dict(CREDENTIALS)
    hook = Recorder(status=500)
    outputs: dict[str, bytes] = {}
    try:
        with FaultProxy("http://127.0.0.1:9", lambda *a: ("status", 401)) as refusing:
            es_url = refusing.url.replace("http://", f"http://elastic:{secrets['ES_PASSWORD']}@")
            env = {k: v for k, v in secrets.items() if k != "HOOK_URL_TOKEN"}
            refused = coldtrace(["run", "--input", str(incident_fleet / "payloads-*.ndjson"), "--out",
                                 str(tmp_path / "refused"), "--es-url", es_url, "--es-plain-json", "on", "-q"], env)
            assert refusing.headers and any("authorization" in h for h in refusing.headers)  # credentials were sent
        assert refused.returncode == 1 and "AuthenticationException" in refused.stderr
        assert "Traceback" not in refused.stderr
        outputs.update({f"refused/{k}": v for k, v in every_output(tmp_path / "refused", refused, []).items()})
        failing = coldtrace(["run", "--input", str(incident_fleet / "payloads-*.ndjson"), "--out",
                             str(tmp_path / "hook"), "--webhook-url-env", "HOOK", "--webhook-retries", "1",
                             "--no-report"], {**env, "HOOK": hook.url})
    finally:
        hook.close()
    assert failing.returncode == 0 and len(hook.bodies) >= 2          # tried, and failed
    dead = [d for _, d in read_index(index_path(str(tmp_path / "hook"), INDEX_DEADLETTER))
            if d["coldtrace.stage"] == "notify"]
    assert dead and all("HTTP 500" in d["error.message"] for d in dead)
    outputs.update({f"hook/{k}": v for k, v in every_output(tmp_path / "hook", failing, []).items()})
    assert leaks(outputs, secrets) == []


def test_webhook_tls_is_verified_unless_turned_off_explicitly(incident_fleet, tmp_path):  # noqa: F811
    cert, key = self_signed_cert(tmp_path)
    hook = Recorder()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    hook.server.socket = ctx.wrap_socket(hook.server.socket, server_side=True)
    url = hook.url.replace("http://", "https://")
    try:
        strict = run_pipeline([str(incident_fleet / "payloads-*.ndjson")], tmp_path / "strict", alarms=AlarmConfig(
            notify=AlarmSettings(webhook_url=url, webhook_retries=0, webhook_timeout_s=5)))
        dead = [d for _, d in read_index(index_path(str(tmp_path / "strict"), INDEX_DEADLETTER))
                if d["coldtrace.stage"] == "notify"]
        assert dead and not hook.bodies and all("CERTIFICATE_VERIFY_FAILED" in d["error.message"] for d in dead)
        assert strict.ledger.balanced
        run_pipeline([str(incident_fleet / "payloads-*.ndjson")], tmp_path / "insecure", alarms=AlarmConfig(
            notify=AlarmSettings(webhook_url=url, webhook_retries=0, webhook_insecure=True)))
        assert len(hook.bodies) == len(dead)  # delivered once verification was explicitly turned off
    finally:
        hook.close()


def test_es_tls_verification_is_on_by_default():
    """The Elasticsearch client verifies certificates unless --es-insecure (which warns); the
    handshake itself is tested in tests/integration/test_es_connection.py."""
    client = make_client(EsSettings(url="https://127.0.0.1:9"), plain_json=True)
    node = next(iter(client.transport.node_pool.all()))
    assert node.config.verify_certs is True
    with pytest.warns(UserWarning, match="TLS certificate verification is off"):
        insecure = make_client(EsSettings(url="https://127.0.0.1:9", insecure=True), plain_json=True)
    assert next(iter(insecure.transport.node_pool.all())).config.verify_certs is False
