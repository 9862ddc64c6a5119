"""Support for the Elasticsearch integration tests: index housekeeping, a fault-injecting proxy
and the translation of a Lens panel into the search Kibana would run for it.

The tests delete and recreate ``coldtrace-*``: when ``ES_URL`` points at a real cluster, it must
be a throwaway one.
"""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import json
import os
import re
import ssl
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pipeline.sinks.es_client import EsSettings, resolve_credentials


def auth_headers() -> dict[str, str]:
    """A real cluster's credentials (``ES_URL`` set): ``ES_API_KEY`` or ``ES_USERNAME``/``ES_PASSWORD``,
    as coldtrace reads them; the in-memory test server needs none."""
    if not os.environ.get("ES_URL"):
        return {}

    return resolve_credentials(EsSettings(url=os.environ["ES_URL"])).http_header()


def es(url: str, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json", **auth_headers()})
    with urllib.request.urlopen(req, timeout=30) as resp:
        text = resp.read()
    return json.loads(text) if text else {}


def reset_coldtrace(url: str) -> None:
    """Delete every coldtrace data stream and index (and so every document)."""
    for path in ("/_data_stream/coldtrace-*", "/coldtrace-*"):
        try:
            es(url, "DELETE", path)
        except urllib.error.HTTPError as exc:
            if exc.code not in (400, 404, 405):
                raise


def refresh(url: str) -> None:
    es(url, "POST", "/coldtrace-*/_refresh")


def count(url: str, index: str) -> int:
    return es(url, "GET", f"/{index}/_count")["count"]


def ids(url: str, index: str) -> list[str]:
    body = {"size": 10000, "_source": False, "query": {"match_all": {}}}
    return [h["_id"] for h in es(url, "POST", f"/{index}/_search", body)["hits"]["hits"]]


# -- a proxy that misbehaves on purpose -----------------------------------------------------
class FaultProxy:
    """HTTP proxy on 127.0.0.1 in front of an ES-API server.

    ``plan(n, method, path, body) -> action`` decides for the n-th request (0-based):
    ``None`` forward; ``("status", code)`` answer that status without forwarding;
    ``"drop"`` close the connection without forwarding; ``"forward-then-drop"`` forward (the
    server does the work) then close without answering; ``("rewrite", fn)`` forward and pass
    the answer's JSON through ``fn``.
    """

    def __init__(self, upstream: str, plan: Callable[[int, str, str, bytes], Any],
                 tls: tuple[str, str] | None = None, drop_headers: tuple[str, ...] = ()) -> None:
        self.upstream = urlsplit(upstream)
        self.plan = plan
        drop = {"content-length", "connection", "transfer-encoding", *(h.lower() for h in drop_headers)}
        self.requests: list[tuple[str, str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # quiet
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy._lock:
                    n = len(proxy.requests)
                    action = proxy.plan(n, self.command, self.path, body)
                    proxy.requests.append((self.command, self.path, action))
                    proxy.headers.append({k.lower(): v for k, v in self.headers.items()})
                if action == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if isinstance(action, tuple) and action[0] == "status":
                    payload = json.dumps({"error": {"type": "injected", "reason": f"injected {action[1]}"},
                                          "status": action[1]}).encode()
                    self._reply(action[1], {"Content-Type": "application/json"}, payload)
                    return
                status, headers, payload = proxy._forward(self.command, self.path, self.headers, body)
                if action == "forward-then-drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if isinstance(action, tuple) and action[0] == "rewrite":
                    payload = json.dumps(action[1](json.loads(payload))).encode()
                self._reply(status, headers, payload)

            def _reply(self, status, headers, payload):
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() not in drop:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        scheme = "http"
        if tls:  # (certificate, key): answer HTTPS, as a TLS-terminating load balancer would

            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _forward(self, method, path, headers, body):
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=30)
        try:
            fwd = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection", "content-length")}
            conn.request(method, path, body=body or None, headers=fwd)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def bulk_requests(self) -> list[tuple[str, str, Any]]:
        return [r for r in self.requests if "/_bulk" in r[1]]

    def __enter__(self) -> "FaultProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- what Kibana would ask Elasticsearch for a Lens panel -----------------------------------
def kql_to_query(kql: str) -> dict:
    """The small KQL subset the dashboards use, as a ``query_string`` query."""
    if not kql.strip():
        return {"match_all": {}}
    q = re.sub(r"\s*:\s*", ":", kql)
    q = re.sub(r"\s*(>=|<=)\s*", lambda m: ":" + m.group(1), q)
    q = re.sub(r"\bnot\b", "NOT", re.sub(r"\band\b", "AND", re.sub(r"\bor\b", "OR", q)))
    return {"query_string": {"query": q}}


def _metric_agg(col: dict) -> tuple[dict, str]:
    """(aggregation, path to its value in a bucket) of a Lens metric column."""
    op, field = col["operationType"], col.get("sourceField")
    if op == "count":
        return {}, "doc_count"
    if op == "percentile":
        return {"percentiles": {"field": field, "percents": [col["params"]["percentile"]]}}, "percentile"
    if op == "last_value":
        return {"top_hits": {"size": 1, "sort": [{col["params"]["sortField"]: "desc"}],
                             "_source": {"includes": [field]}}}, "last"
    es_op = {"average": "avg", "unique_count": "cardinality"}.get(op, op)
    if es_op in ("sum", "avg", "max", "min", "cardinality"):
        return {es_op: {"field": field}}, "value"
    raise ValueError(f"no translation for Lens operation {op}")


def lens_search(lens: dict, interval: str = "1m") -> tuple[str, dict, Callable[[dict], list[dict]]]:
    """(data view id, search body, reader of the answer into rows {column id: value})."""
    state = lens["attributes"]["state"]
    layer = next(iter(state["datasourceStates"]["formBased"]["layers"].values()))
    view = next(r["id"] for r in lens["references"] if r["type"] == "index-pattern")
    cols = layer["columns"]
    buckets = [c for c in layer["columnOrder"] if cols[c]["isBucketed"]]
    metrics = [c for c in layer["columnOrder"] if not cols[c]["isBucketed"]]

    def metric_aggs() -> dict:
        aggs = {}
        for cid in metrics:
            agg, _ = _metric_agg(cols[cid])
            flt = cols[cid].get("filter", {}).get("query")
            if flt:
                aggs[f"f_{cid}"] = {"filter": kql_to_query(flt), **({"aggs": {cid: agg}} if agg else {})}
            elif agg:
                aggs[cid] = agg
        return aggs

    def bucket_agg(cid: str, inner: dict) -> dict:
        col = cols[cid]
        if col["operationType"] == "date_histogram":
            agg = {"date_histogram": {"field": col["sourceField"], "fixed_interval": interval}}
        else:
            agg = {"terms": {"field": col["sourceField"], "size": col["params"]["size"]}}
            order = col["params"].get("orderBy", {})
            target = cols.get(order.get("columnId", ""), {})
            if order.get("type") == "column" and not target.get("filter"):
                name = order["columnId"]
                if target["operationType"] not in ("count", "last_value") and name not in inner:
                    # the metric sits under an inner bucket (a date histogram): Lens orders the
                    # terms by a copy of it placed directly under them, as here
                    name = f"order_{name}"
                    inner = {**inner, name: _metric_agg(target)[0]}
                key = {"count": "_count", "percentile": f"{name}.{target.get('params', {}).get('percentile')}",
                       "last_value": "_count"}.get(target["operationType"], name)
                agg["terms"]["order"] = {key: col["params"].get("orderDirection", "desc")}
        return {**agg, "aggs": inner} if inner else agg

    aggs = metric_aggs()
    for cid in reversed(buckets):
        aggs = {cid: bucket_agg(cid, aggs)}
    body = {"size": 0, "track_total_hits": True, "query": kql_to_query(state["query"]["query"]), "aggs": aggs}

    def read_metrics(bucket: dict) -> dict:
        row = {}
        for cid in metrics:
            node = bucket[f"f_{cid}"] if cols[cid].get("filter", {}).get("query") else bucket
            _, path = _metric_agg(cols[cid])
            if path == "doc_count":
                row[cid] = node["doc_count"]
            elif path == "percentile":
                row[cid] = next(iter(node[cid]["values"].values()))
            elif path == "last":
                hits = node[cid]["hits"]["hits"]
                row[cid] = hits[0]["_source"].get(cols[cid]["sourceField"]) if hits else None
            else:
                row[cid] = node[cid]["value"]
        return row

    def read(answer: dict) -> list[dict]:
        rows: list[dict] = []

        def walk(node: dict, depth: int, keys: dict) -> None:
            if depth == len(buckets):
                rows.append({**keys, **read_metrics(node)})
                return
            cid = buckets[depth]
            for b in node[cid]["buckets"]:
                key = b.get("key_as_string", b["key"]) if cols[cid]["dataType"] != "number" else b["key"]
                walk(b, depth + 1, {**keys, cid: key})

        # a panel of unfiltered counts only asks for no aggregation: Elasticsearch then sends none
        top = {"doc_count": answer["hits"]["total"]["value"], **answer.get("aggregations", {})}
        walk(top, 0, {})
        return rows

    return view, body, read


def self_signed_cert(directory) -> tuple[str, str]:
    """(certificate, key) PEM files for 127.0.0.1, the certificate being its own CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "coldtrace test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    d = Path(directory)
    (d / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    return str(d / "cert.pem"), str(d / "key.pem")


def nth_bulk(pred):
    """A plan acting on bulk requests whose 0-based bulk number satisfies ``pred``."""
    seen = {"bulk": 0}

    def plan(n, method, path, body):
        if "/_bulk" not in path:
            return None
        k = seen["bulk"]
        seen["bulk"] += 1
        return pred(k)
    return plan
