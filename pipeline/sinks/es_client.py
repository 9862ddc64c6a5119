"""Connecting to Elasticsearch: settings, credentials, TLS and the plain-JSON node.

``EsSettings`` holds only *where* secrets live (an environment variable's name, a secret
store reference), never a secret itself, so the settings can be pickled into a Beam graph,
printed and logged. ``resolve_credentials`` reads the secret where it lives, on the worker
that needs it.

Plain-JSON mode: the official client sends ``application/vnd.elasticsearch+json;
compatible-with=N`` media types. Elasticsearch of another major version than the client, and
ES-API servers that are not Elasticsearch (OpenSearch, test servers such as osmem-server),
answer those with 406. ``plain_json="auto"`` (the default) asks the server what it is first:

- Elasticsearch of the client's major version: the client's own node, nothing changed;
- Elasticsearch of another major (``media``): ``PlainJsonNode``, plain ``application/json``
  (and ``application/x-ndjson``) media types, and nothing else changed: Elasticsearch sends
  ``X-Elastic-Product`` itself and the client's product check stays;
- any other ES-API server (``on``): ``CompatServerNode``, plain media types *and* the product
  header the client insists on when the server does not send it (OpenSearch does not). This
  shim exists only for OpenSearch-compatible servers (OpenSearch; osmem-server in the tests);
  it is never chosen for Elasticsearch.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import warnings
from dataclasses import dataclass, replace
from typing import Any, Mapping

import boto3
import orjson
from elastic_transport import Urllib3HttpNode
from elastic_transport.client_utils import DEFAULT

log = logging.getLogger(__name__)

_COMPAT = re.compile(r"application/vnd\.elasticsearch\+([a-z-]+)\s*;\s*compatible-with=\d+")


def plain_media_type(value: str) -> str:
    """``application/vnd.elasticsearch+x-ndjson; compatible-with=9`` → ``application/x-ndjson``."""
    return _COMPAT.sub(lambda m: f"application/{m.group(1)}", value)


class PlainJsonNode(Urllib3HttpNode):
    """An HTTP node that speaks plain ``application/json`` (Elasticsearch of another major)."""

    def perform_request(self, method, target, body=None, headers=None, request_timeout=DEFAULT):  # type: ignore[override]
        if headers:
            headers = headers.copy()
            for name in ("accept", "content-type"):
                if name in headers:
                    headers[name] = plain_media_type(headers[name])
        return super().perform_request(method, target, body=body, headers=headers, request_timeout=request_timeout)


class CompatServerNode(PlainJsonNode):
    """For OpenSearch-compatible servers only (OpenSearch, osmem-server): plain JSON, and
    responses marked as coming from Elasticsearch when the server does not say so, since the
    client otherwise refuses every answer. Choosing it (``plain_json="on"``) is the user's
    statement that the server speaks the Elasticsearch API; Elasticsearch never needs it.
    """

    def perform_request(self, method, target, body=None, headers=None, request_timeout=DEFAULT):  # type: ignore[override]
        resp = super().perform_request(method, target, body=body, headers=headers, request_timeout=request_timeout)
        if "x-elastic-product" not in resp.meta.headers:
            resp.meta.headers["x-elastic-product"] = "Elasticsearch"
        return resp


@dataclass(frozen=True)
class EsSettings:
    """Where Elasticsearch is and how to reach it (no secret in here).

    ``secret``: ``secretsmanager:NAME`` or ``ssm:NAME`` — a secret holding either an API key
    string or a JSON object with ``api_key`` or ``username``/``password``.
    ``plain_json``: ``auto``, ``on`` or ``off``; ``auto`` resolves to ``on``, ``off`` or
    ``media`` (Elasticsearch of another major), see the module docstring.
    """

    url: str
    api_key_env: str = "ES_API_KEY"
    username_env: str = "ES_USERNAME"
    password_env: str = "ES_PASSWORD"
    secret: str | None = None
    ca_cert: str | None = None
    insecure: bool = False
    plain_json: str = "auto"
    request_timeout: float = 30.0
    http_compress: bool = False

    def __post_init__(self) -> None:
        if self.plain_json not in ("auto", "on", "off", "media"):
            raise ValueError(f"plain_json must be auto, on or off, not {self.plain_json!r}")
        if not re.match(r"^https?://", self.url):
            raise ValueError(f"Elasticsearch URL {self.url!r} must start with http:// or https://")
        if self.secret and not re.match(r"^(secretsmanager|ssm):.+", self.secret):
            raise ValueError(f"secret {self.secret!r} must be secretsmanager:NAME or ssm:NAME")

    def redacted_url(self) -> str:
        """The URL with any user:password@ removed, for logs."""
        return re.sub(r"//[^/@]*@", "//***@", self.url)


@dataclass(frozen=True)
class Credentials:
    api_key: str | tuple[str, str] | None = None
    basic: tuple[str, str] | None = None

    def __repr__(self) -> str:  # never print a secret
        kind = "api_key" if self.api_key else "basic" if self.basic else "none"
        return f"Credentials({kind})"

    def http_header(self) -> dict[str, str]:
        """The Authorization header for plain HTTP clients (Kibana)."""
        if self.api_key:
            key = self.api_key if isinstance(self.api_key, str) else \
                base64.b64encode(":".join(self.api_key).encode()).decode()
            return {"Authorization": f"ApiKey {key}"}
        if self.basic:
            return {"Authorization": "Basic " + base64.b64encode(":".join(self.basic).encode()).decode()}
        return {}


def _from_secret_text(text: str, ref: str) -> Credentials:
    text = text.strip()
    if text.startswith("{"):
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise ValueError(f"secret {ref} is not valid JSON") from None
        if obj.get("api_key"):
            return Credentials(api_key=_api_key(str(obj["api_key"])))
        if obj.get("username") and obj.get("password") is not None:
            return Credentials(basic=(str(obj["username"]), str(obj["password"])))
        raise ValueError(f"secret {ref} has neither api_key nor username/password")
    return Credentials(api_key=_api_key(text))


def _api_key(value: str) -> str | tuple[str, str]:
    """``id:key`` → a tuple, anything else is the encoded key as Elasticsearch prints it."""
    if ":" in value:
        key_id, _, key = value.partition(":")
        return key_id, key
    return value


def read_secret(ref: str) -> str:
    """The text of ``secretsmanager:NAME`` or ``ssm:NAME`` (boto3, default credential chain)."""
    store, _, name = ref.partition(":")
    if store == "secretsmanager":
        return boto3.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"]
    return boto3.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]


def resolve_credentials(settings: EsSettings, environ: Mapping[str, str] | None = None) -> Credentials:
    """Secret store first, then the API key variable, then the username/password variables."""
    env = os.environ if environ is None else environ
    if settings.secret:
        return _from_secret_text(read_secret(settings.secret), settings.secret)
    if env.get(settings.api_key_env):
        return Credentials(api_key=_api_key(env[settings.api_key_env]))
    if env.get(settings.username_env):
        return Credentials(basic=(env[settings.username_env], env.get(settings.password_env, "")))
    return Credentials()


def _serializer() -> dict[str, Any]:
    try:
        from elasticsearch.serializer import OrjsonSerializer  # noqa: PLC0415 -- elasticsearch: +190-430 ms of import, paid only with --es-url (docs/benchmarks.md)
    except ImportError:  # older clients
        return {}
    return {"serializer": OrjsonSerializer()}


def make_client(settings: EsSettings, credentials: Credentials | None = None, *, plain_json: bool | None = None,
                max_retries: int = 0):
    """An ``Elasticsearch`` client. Retries are left to the caller (``max_retries=0``) so the
    bulk writer counts and paces them; ``plain_json=None`` follows ``settings.plain_json``
    (``auto`` probes the server)."""
    from elasticsearch import Elasticsearch  # noqa: PLC0415 -- elasticsearch: +190-430 ms of import, paid only with --es-url (docs/benchmarks.md)

    creds = credentials if credentials is not None else resolve_credentials(settings)
    if plain_json is not None:
        mode = "on" if plain_json else "off"
    else:
        mode = settings.plain_json if settings.plain_json != "auto" else plain_mode(settings, creds)
    kwargs: dict[str, Any] = dict(request_timeout=settings.request_timeout, max_retries=max_retries,
                                  retry_on_timeout=max_retries > 0, http_compress=settings.http_compress,
                                  **_serializer())
    if creds.api_key:
        kwargs["api_key"] = creds.api_key
    elif creds.basic:
        kwargs["basic_auth"] = creds.basic
    if settings.url.startswith("https://"):
        if settings.insecure:
            warnings.warn(f"TLS certificate verification is off for {settings.redacted_url()} (--es-insecure)",
                          stacklevel=2)
            kwargs.update(verify_certs=False, ssl_show_warn=False)
        elif settings.ca_cert:
            kwargs["ca_certs"] = settings.ca_cert
    if mode != "off":
        kwargs["node_class"] = PlainJsonNode if mode == "media" else CompatServerNode
    return Elasticsearch(settings.url, **kwargs)


def server_info(settings: EsSettings, credentials: Credentials | None = None) -> dict[str, Any]:
    """``GET /`` in plain JSON, which every ES-API server accepts."""
    client = make_client(settings, credentials, plain_json=True, max_retries=2)
    try:
        return dict(client.info())
    finally:
        client.close()


def plain_mode(settings: EsSettings, credentials: Credentials | None = None) -> str:
    """``off`` for Elasticsearch of the client's own major version, ``media`` for
    Elasticsearch of another, ``on`` for any other ES-API server (module docstring)."""
    import elasticsearch  # noqa: PLC0415 -- elasticsearch: +190-430 ms of import, paid only with --es-url (docs/benchmarks.md)

    version = server_info(settings, credentials).get("version", {})
    distribution = version.get("distribution", "elasticsearch")
    major = str(version.get("number", "0")).split(".")[0]
    if distribution != "elasticsearch":
        mode = "on"
    else:
        mode = "off" if major == str(elasticsearch.__versionstr__.split(".")[0]) else "media"
    log.info("Elasticsearch API server %s: %s %s; %s", settings.redacted_url(), distribution,
             version.get("number"), {"on": "plain JSON, product header supplied", "media": "plain JSON",
                                     "off": "versioned media types"}[mode])
    return mode


def needs_plain_json(settings: EsSettings, credentials: Credentials | None = None) -> bool:
    """True unless the server is Elasticsearch of the client's own major version."""
    return plain_mode(settings, credentials) != "off"


def resolved(settings: EsSettings, credentials: Credentials | None = None) -> EsSettings:
    """The settings with ``plain_json`` ``auto`` replaced by what the server needs, so
    workers do not each probe the server."""
    if settings.plain_json != "auto":
        return settings
    return replace(settings, plain_json=plain_mode(settings, credentials))
