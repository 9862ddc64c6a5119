"""Kibana saved objects: read coldtrace's NDJSON files and import them through Kibana's API.

``POST /api/saved_objects/_import?overwrite=true`` with the objects as one multipart file
upload (so references between files resolve in one import) and the ``kbn-xsrf`` header
Kibana requires. stdlib only: no Kibana client is needed for one request.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

KIBANA_DIR = resources.files("dashboards") / "kibana"  # package data: a checkout and a wheel alike


def saved_object_files(base: Path = KIBANA_DIR) -> list[Path]:
    """``*.ndjson`` of ``base`` (a Path or an importlib.resources Traversable), by name."""
    found = base.iterdir() if base.is_dir() else ()
    files = sorted((p for p in found if p.name.endswith(".ndjson")), key=lambda p: p.name)
    if not files:
        raise FileNotFoundError(f"no saved objects (*.ndjson) in {base}")
    return files


def load_saved_objects(files: list[Path]) -> list[dict[str, Any]]:
    """Every object of the files, in order; raises ValueError naming a bad line."""
    out = []
    for path in files:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path.name}:{n}: not JSON: {exc}") from None
    return out


def multipart(filename: str, content: bytes) -> tuple[bytes, str]:
    """(body, content type) of a form upload with one ``file`` field."""
    boundary = f"coldtrace-{uuid.uuid4().hex}"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            "Content-Type: application/ndjson\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@dataclass
class ImportResult:
    success: bool
    count: int
    errors: list[dict[str, Any]] = field(default_factory=list)


def import_saved_objects(kibana_url: str, files: list[Path], *, headers: dict[str, str] | None = None,
                         space: str | None = None, ca_cert: str | None = None, insecure: bool = False,
                         timeout: float = 60.0) -> ImportResult:
    objects = load_saved_objects(files)  # validate before sending
    content = "".join(json.dumps(o, separators=(",", ":")) + "\n" for o in objects).encode()
    body, ctype = multipart("coldtrace.ndjson", content)
    prefix = f"/s/{space}" if space and space != "default" else ""
    url = f"{kibana_url.rstrip('/')}{prefix}/api/saved_objects/_import?overwrite=true"
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"kbn-xsrf": "coldtrace", "Content-Type": ctype, **(headers or {})})
    context = None
    if url.startswith("https://"):
        context = ssl.create_default_context(cafile=ca_cert)
        if insecure:
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
            answer = json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        text = exc.read().decode("utf-8", "replace")
        raise RuntimeError(f"Kibana answered {exc.code}: {text[:500]}") from None
    return ImportResult(bool(answer.get("success")), int(answer.get("successCount", 0)),
                        list(answer.get("errors", [])))
