"""What the live benches share: moto's server on 127.0.0.1, the real forwarder shipping into it,
and the Lambda context the forwarder is called with (bench/streaming.py, bench/time_to_alert.py).

The bench scripts put bench/ at the end of ``sys.path`` before importing it, so this module is
found and a bench file's name never shadows a module of the package (bench/forwarder.py and
the ``forwarder`` package).
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

from forwarder.handler import Forwarder
from forwarder.settings import Settings
from pipeline.sources.simulate import encode_payload

REGION = "eu-west-1"
ACCOUNT = "123456789012"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGION}


class LambdaContext:
    """The forwarder's Lambda context: its ARN (the account) and the time left (never short)."""

    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:coldtrace-forwarder"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def use_bench_credentials() -> None:
    """Fake AWS credentials for moto (the caller's own are kept if set)."""
    for key, value in CREDENTIALS.items():
        os.environ.setdefault(key, value)


def start_moto() -> tuple[subprocess.Popen, str]:
    """moto's server on an ephemeral port of 127.0.0.1; returns (process, endpoint URL)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = shutil.which("moto_server") or os.path.join(os.path.dirname(sys.executable), "moto_server")
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1).read()
            return proc, url
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("moto server did not start")


def live_forwarder(url: str, stream: str, **env: str) -> Forwarder:
    """The real forwarder, putting into ``stream`` on moto at ``url`` (its own metrics off)."""
    settings = {"COLDTRACE_STREAM": stream, "AWS_REGION": REGION, "AWS_ENDPOINT_URL": url,
                "COLDTRACE_METRICS": "false", **env}
    return Forwarder(Settings.from_env(settings), out=io.BytesIO())


def ship_payload(fwd: Forwarder, payload: dict) -> None:
    """One CloudWatch Logs subscription delivery (a DATA_MESSAGE dict) through the forwarder."""
    fwd.handle({"awslogs": {"data": encode_payload(payload)}}, LambdaContext())
