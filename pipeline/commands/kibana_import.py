"""Import coldtrace's Kibana data views, dashboards and the logs search (Kibana 8.x).

Objects are overwritten by id, so importing again updates them. Credentials are read like
Elasticsearch's (an API key or a user in the environment, or a secret store reference).
"""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path

from pipeline.errors import UsageError
from pipeline.kibana import KIBANA_DIR, import_saved_objects, saved_object_files
from pipeline.sinks.es_client import EsSettings, resolve_credentials


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kibana-url", default=os.environ.get("KIBANA_URL"), metavar="URL",
                   help="Kibana URL, e.g. https://kibana.example:5601 (default: $KIBANA_URL)")
    p.add_argument("--space", default=None, help="Kibana space id (default: the default space)")
    p.add_argument("--api-key-env", default="ES_API_KEY", metavar="VAR", help="environment variable with an API key")
    p.add_argument("--username-env", default="ES_USERNAME", metavar="VAR", help="environment variable with a user")
    p.add_argument("--password-env", default="ES_PASSWORD", metavar="VAR", help="environment variable with its password")
    p.add_argument("--secret", default=None, metavar="secretsmanager:NAME|ssm:NAME",
                   help="read credentials from AWS Secrets Manager or an SSM SecureString instead")
    p.add_argument("--ca-cert", default=None, metavar="PEM", help="CA certificate that signed Kibana's")
    p.add_argument("--insecure", action="store_true", help="do not verify Kibana's TLS certificate")
    p.add_argument("--dir", default=None, help="directory of *.ndjson saved objects (default: the shipped ones)")


def main(args: argparse.Namespace) -> int:
    if not args.kibana_url:
        raise UsageError("needs --kibana-url URL (or KIBANA_URL in the environment)")
    try:
        settings = EsSettings(url=args.kibana_url, api_key_env=args.api_key_env, username_env=args.username_env,
                              password_env=args.password_env, secret=args.secret)
        files = saved_object_files(Path(args.dir) if args.dir else KIBANA_DIR)
    except (ValueError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from None
    if args.insecure:
        warnings.warn(f"TLS certificate verification is off for {settings.redacted_url()} (--insecure)", stacklevel=1)
    try:
        result = import_saved_objects(args.kibana_url, files, headers=resolve_credentials(settings).http_header(),
                                      space=args.space, ca_cert=args.ca_cert, insecure=args.insecure)
    except (OSError, RuntimeError, ValueError) as exc:
        raise UsageError(f"import into {settings.redacted_url()} failed: {exc}") from None
    print(f"imported {result.count} saved objects from {len(files)} file(s) into {settings.redacted_url()}")
    for err in result.errors:
        print(f"  {err.get('type')} {err.get('id')}: {_reason(err.get('error') or {})}")
    return 0 if result.success else 1


def _reason(error: dict) -> str:
    """Kibana's error of one object: ``missing_references`` lists them, others carry a message."""
    refs = ", ".join(f"{r.get('type')} {r.get('id')}" for r in error.get("references") or [])
    detail = refs or error.get("message") or error.get("reason") or ""
    return f"{error.get('type')} {detail}".rstrip()
