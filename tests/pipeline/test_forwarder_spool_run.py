"""The forwarder's spool is pipeline input: forward a simulated fleet to a spool directory,
then ``coldtrace run --input <spool dir>`` builds every invocation of the ground truth.
Also: the deployment zip runs on its own (no site-packages, no Beam, no boto3)."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
import zipfile

import orjson

from forwarder.build import build
from forwarder.handler import Forwarder
from forwarder.settings import Settings
from pipeline.cli import main as coldtrace
from tests.conftest import ROOT
from tests.pipeline.helpers import INDEX_INVOCATIONS, INDEX_LOGS, actions, docs


def test_spooled_fleet_runs_through_the_pipeline(sim_fleet, tmp_path):
    fleet_dir, truth = sim_fleet
    spool = tmp_path / "spool"
    fwd = Forwarder(Settings.from_env({"COLDTRACE_SHIPPER": "spool", "COLDTRACE_SPOOL_DIR": str(spool),
                                       "AWS_REGION": truth["config"]["region"]}), out=io.BytesIO())
    shipped = 0
    for path in sorted(fleet_dir.glob("payloads-*.ndjson")):
        for line in path.read_bytes().splitlines():
            fwd.handle(orjson.loads(line), None)
            assert fwd.last_stats.balanced and fwd.last_stats.events_failed == 0
            shipped += fwd.last_stats.events_shipped
    assert shipped >= truth["events"]          # re-delivered payloads are shipped again
    out = tmp_path / "out"
    argv = ["run", "--input", str(spool), "--out", str(out), "--quiet"]
    for fn, f in truth["functions"].items():
        argv += ["--architecture", f"{fn}={f['architecture']}"]
    assert coldtrace(argv) == 0
    ids = [a["create"]["_id"] for a in actions(out, INDEX_LOGS)]
    assert len(ids) == len(set(ids)) == truth["events"]   # duplicates collapse on deterministic ids
    got = {(d["faas.name"], d["faas.execution"]): d for d in docs(out, INDEX_INVOCATIONS)}
    assert len(got) == len(truth["invocations"])
    for inv in truth["invocations"]:
        doc = got[(inv["function"], inv["request_id"])]
        assert doc["aws.lambda.outcome"] == inv["outcome"]
        assert doc["cloud.region"] == truth["config"]["region"]


def test_deployment_zip_is_self_sufficient(tmp_path):
    zpath = build(tmp_path / "forwarder.zip", arch="local", log=lambda *_: None)
    names = zipfile.ZipFile(zpath).namelist()
    modules = {p.name for p in (ROOT / "forwarder").glob("*.py")} - {"build.py"}
    assert {f"forwarder/{m}" for m in modules} <= set(names)   # lazily imported ones too (deadletter, secrets)
    assert "pipeline/parse/awslogs.py" in names and "forwarder/build.py" not in names
    assert any(n.startswith("orjson/") for n in names) and any(n.startswith("zlib_ng/") for n in names)
    assert not any(n.startswith(("apache_beam", "boto3", "pipeline/run", "pipeline/transforms", "tests/"))
                   for n in names)
    root = tmp_path / "task"
    zipfile.ZipFile(zpath).extractall(root)
    spool = tmp_path / "zip-spool"
    code = f"""
import base64, gzip, json, sys
sys.path.insert(0, {str(root)!r})
from forwarder.handler import handler
obj = {{"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/aws/lambda/orders",
       "logStream": "2024/05/01/[$LATEST]0225597e48f74a659916f0e482df5b92",
       "logEvents": [{{"id": "1", "timestamp": 1714557600000, "message": "hello from the zip"}}]}}
print(json.dumps(handler({{"awslogs": {{"data": base64.b64encode(gzip.compress(json.dumps(obj).encode())).decode()}}}}, None)))
print(sorted(m for m in sys.modules if m.split('.')[0] in ('apache_beam', 'boto3')))
import forwarder.deadletter, forwarder.secrets  # the rare paths' modules are in the zip too
"""
    env = {"COLDTRACE_SHIPPER": "spool", "COLDTRACE_SPOOL_DIR": str(spool), "COLDTRACE_METRICS": "false",
           "PATH": "/usr/bin:/bin"}
    # -S -I: no site-packages and no project on the path — only the stdlib and the zip's contents
    out = subprocess.run([sys.executable, "-S", "-I", "-c", code], capture_output=True, text=True, env=env,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    result, modules = out.stdout.strip().splitlines()
    assert orjson.loads(result) == {"shipped": 1, "dead_lettered": 0} and modules == "[]"
    (spooled,) = spool.glob("spool-*.ndjson.gz")   # records are gzip by default
    assert orjson.loads(gzip.decompress(spooled.read_bytes()))["function_name"] == "orders"
