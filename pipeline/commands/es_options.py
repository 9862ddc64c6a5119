"""Elasticsearch connection options shared by ``run``, ``es-setup``, ``es-load`` and
``kibana-import``. Secrets are never options: the options name where they live."""

from __future__ import annotations

import argparse
import logging
import os

from elastic_transport import TransportError

from pipeline.errors import UsageError
from pipeline.sinks.es_client import EsSettings, resolved


def add_es_arguments(p: argparse.ArgumentParser, *, url_required: bool) -> None:
    g = p.add_argument_group("Elasticsearch")
    g.add_argument("--es-url", default=os.environ.get("ES_URL") if url_required else None,
                   metavar="URL",
                   help="Elasticsearch URL, e.g. https://es.example:9200"
                        + (" (or ES_URL in the environment)" if url_required else "; adds the Elasticsearch sink"))
    g.add_argument("--es-api-key-env", default="ES_API_KEY", metavar="VAR",
                   help="environment variable holding an API key (encoded, or id:key)")
    g.add_argument("--es-username-env", default="ES_USERNAME", metavar="VAR",
                   help="environment variable holding the basic-auth user (password in --es-password-env)")
    g.add_argument("--es-password-env", default="ES_PASSWORD", metavar="VAR",
                   help="environment variable holding the basic-auth password")
    g.add_argument("--es-secret", default=None, metavar="secretsmanager:NAME|ssm:NAME",
                   help="read credentials from AWS Secrets Manager or an SSM SecureString instead: an API key, "
                        'or JSON {"api_key": …} or {"username": …, "password": …}')
    g.add_argument("--es-ca-cert", default=None, metavar="PEM", help="CA certificate that signed the server's")
    g.add_argument("--es-insecure", action="store_true",
                   help="do not verify the server's TLS certificate (tests only; prints a warning)")
    g.add_argument("--es-plain-json", choices=("auto", "on", "off"), default="auto",
                   help="send plain application/json instead of the client's versioned media types: needed for "
                        "OpenSearch, ES-API test servers and Elasticsearch of another major version than the "
                        "client; auto asks the server what it is")
    g.add_argument("--es-timeout", type=float, default=30.0, metavar="SECONDS", help="request timeout")


def settings_from_args(args: argparse.Namespace):
    """EsSettings from the options, or None when no --es-url was given."""
    if not args.es_url:
        return None
    try:
        return EsSettings(url=args.es_url, api_key_env=args.es_api_key_env, username_env=args.es_username_env,
                          password_env=args.es_password_env, secret=args.es_secret, ca_cert=args.es_ca_cert,
                          insecure=args.es_insecure, plain_json=args.es_plain_json, request_timeout=args.es_timeout)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def require_settings(args: argparse.Namespace):
    settings = settings_from_args(args)
    if settings is None:
        raise UsageError("needs --es-url URL (or ES_URL in the environment)")
    if settings.ca_cert and not os.path.isfile(settings.ca_cert):
        raise UsageError(f"--es-ca-cert {settings.ca_cert!r}: no such file")
    return settings


def quiet_client_logs() -> None:
    """The client logs every request at INFO; a command's own lines are enough."""
    for name in ("elastic_transport", "elasticsearch"):  # never louder than pipeline/cli.py set
        logger = logging.getLogger(name)
        logger.setLevel(max(logger.level, logging.WARNING))


def connect_or_fail(settings):
    """Settings with plain-JSON resolved, turning connection problems into one-line errors."""
    quiet_client_logs()
    from elasticsearch import ApiError  # noqa: PLC0415 -- elasticsearch: +190-430 ms of import, paid only with --es-url (docs/benchmarks.md)

    try:
        return resolved(settings)
    except (TransportError, ApiError) as exc:
        raise UsageError(f"cannot reach Elasticsearch at {settings.redacted_url()}: {exc}") from None
